"""The blocks a page is made of (a run's report.html, a sweep's summary.html and summary.md),
rendered by the jinja2 templates in `templates/`.

A page is one self-contained file that opens anywhere, mailed or archived: images are embedded
as data URIs, the style is inline and nothing is fetched or run. Callers pass plain values read
from files; the templates escape every one of them (texts may carry markdown's `code` and
**bold**, shown as such). A plain string is a paragraph.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    kind: ClassVar[str] = "heading"


@dataclass(frozen=True)
class Note:
    """The line a section gets instead of its content when a file is missing."""

    text: str
    kind: ClassVar[str] = "note"


@dataclass(frozen=True)
class Box:
    """A framed paragraph: `alarm` (red) or `ok` (green)."""

    css: str
    text: str
    kind: ClassVar[str] = "box"


@dataclass(frozen=True)
class Bullets:
    items: Sequence[str]
    kind: ClassVar[str] = "bullets"


@dataclass(frozen=True)
class Table:
    """`classes` gives a row's CSS class (e.g. to mark wrong predictions), by position."""

    header: Sequence[str]
    rows: Sequence[Sequence[object]]
    classes: Sequence[str] = ()
    kind: ClassVar[str] = "table"

    @property
    def row_classes(self) -> list[str]:
        return [self.classes[k] if k < len(self.classes) else "" for k in range(len(self.rows))]


@dataclass(frozen=True)
class Figure:
    """A PNG embedded in the page (a note naming it when it is missing); the markdown leaves it
    out, its reader has the file beside it."""

    path: Path
    caption: str = ""
    width: int | None = None
    kind: ClassVar[str] = "figure"

    @property
    def data(self) -> str | None:
        if not self.path.is_file():
            return None
        return base64.b64encode(self.path.read_bytes()).decode("ascii")


@dataclass(frozen=True)
class Details:
    """Content folded away until clicked (no script: the browser's own element)."""

    summary: str
    content: Block
    kind: ClassVar[str] = "details"


@dataclass(frozen=True)
class Row:
    """Cells side by side, wrapping where the window is narrow; each cell a list of blocks."""

    cells: Sequence[Sequence[Block]]
    kind: ClassVar[str] = "row"


Block = str | Heading | Note | Box | Bullets | Table | Figure | Details | Row

# a cell holding a number, maybe with its interval or spread, is right-aligned
_NUMBER = re.compile(r"^([+-]?\d[\d.]*(e[+-]?\d+)?|n/a)( ±.*| \[.*| \(.*)?$")
# the markdown a text may carry: `code` and **bold**
_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*")


def inline(value: object) -> Markup:
    """Escaped text with markdown's `code` and **bold** as HTML."""
    value, parts, start = str(value), [], 0
    for match in _INLINE.finditer(value):
        parts.append(escape(value[start : match.start()]))
        code, bold = match.groups()
        tag = "code" if code else "strong"
        parts.append(Markup(f"<{tag}>{{}}</{tag}>").format(code or bold))
        start = match.end()
    return Markup("").join([*parts, escape(value[start:])])


def cell_class(value: str) -> str:
    """Numbers right-aligned, intervals kept on one line."""
    return "num" if _NUMBER.match(value) else "ci" if value[:1] == "[" else ""


def _environment(autoescape: bool) -> Environment:
    environment = Environment(
        loader=PackageLoader("thermal_icas.analysis", "templates"),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(inline=inline, cell_class=cell_class)
    return environment


_HTML = _environment(autoescape=True)
_MARKDOWN = _environment(autoescape=False)


def html(title: str, blocks: Sequence[Block]) -> str:
    """One self-contained page."""
    return _HTML.get_template("page.html.j2").render(title=title, blocks=blocks)


def markdown(blocks: Sequence[Block]) -> str:
    """The same blocks as markdown, a blank line apart; figures left out."""
    for block in blocks:
        if isinstance(block, Details | Row):
            raise ValueError(f"a {type(block).__name__} has no markdown form")
    return _MARKDOWN.get_template("page.md.j2").render(blocks=blocks)
