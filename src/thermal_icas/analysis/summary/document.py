"""A sweep summary as a list of blocks, written out twice: as summary.md and as summary.html,
so the page and the markdown say the same thing (texts carry markdown's `code` and **bold**)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from thermal_icas.analysis import page


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Bullets:
    items: Sequence[str]


@dataclass(frozen=True)
class Table:
    header: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class Figure:
    """An image shown on the page only (the markdown's reader has the file beside it)."""

    path: Path
    caption: str


Block = str | Heading | Bullets | Table | Figure


def markdown(blocks: Sequence[Block]) -> str:
    """The blocks a blank line apart; a plain string is a paragraph."""
    shown = [_markdown(block) for block in blocks if not isinstance(block, Figure)]
    return "\n\n".join(shown) + "\n"


def _markdown(block: Block) -> str:
    if isinstance(block, Heading):
        return "#" * block.level + " " + block.text
    if isinstance(block, Bullets):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Table):
        lines = ["| " + " | ".join(block.header) + " |", "|" + "---|" * len(block.header)]
        lines += [
            "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in block.rows
        ]
        return "\n".join(lines)
    assert isinstance(block, str)
    return block


def html(title: str, blocks: Sequence[Block]) -> str:
    """One self-contained page: the figures embedded, nothing fetched."""
    return page.page(title, [_html(block) for block in blocks])


def _html(block: Block) -> str:
    if isinstance(block, Heading):
        return page.heading(block.level, block.text)
    if isinstance(block, Bullets):
        return page.bullets(block.items)
    if isinstance(block, Table):
        return page.table(block.header, block.rows)
    if isinstance(block, Figure):
        return page.image(block.path, block.caption)
    return page.paragraph(block)
