"""Building blocks of the self-contained HTML pages (a run's report.html, a sweep's
summary.html): one file that opens anywhere, mailed or archived, so images are embedded as data
URIs, the style is inline and nothing is fetched or run. Every text goes through `html.escape`
here, so callers pass plain values read from files."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #222; max-width: 1100px;
       margin: 1.5em auto; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.6em;
     border-bottom: 1px solid #ddd; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
th { background: #f3f3f3; } tr.wrong td { background: #fff0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.ci { white-space: nowrap; }
code { background: #f3f3f3; padding: 0 3px; }
.note { color: #666; font-style: italic; }
.alarm { border: 2px solid #c00; background: #fee; padding: 0.5em 1em; font-weight: bold; }
.ok { border: 1px solid #393; background: #efe; padding: 0.5em 1em; }
.row { display: flex; flex-wrap: wrap; gap: 12px 32px; align-items: flex-start; }
figure { margin: 0; } figcaption { font-size: 0.85em; color: #444; max-width: 520px; }
img { max-width: 100%; }
"""

# a cell holding a number, maybe with its interval or spread, is right-aligned
_NUMBER = re.compile(r"^([+-]?\d[\d.]*(e[+-]?\d+)?|n/a)( ±.*| \[.*| \(.*)?$")
# the markdown a summary's texts carry: `code` and **bold**
_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*")


def text(value: object) -> str:
    return html.escape(str(value))


def inline(value: str) -> str:
    """Escaped text with markdown's `code` and **bold** as HTML."""
    parts, start = [], 0
    for match in _INLINE.finditer(value):
        parts.append(text(value[start : match.start()]))
        code, bold = match.groups()
        parts.append(f"<code>{text(code)}</code>" if code else f"<strong>{text(bold)}</strong>")
        start = match.end()
    return "".join(parts) + text(value[start:])


def page(title: str, body: Iterable[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{text(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def heading(level: int, value: str) -> str:
    return f"<h{level}>{inline(value)}</h{level}>"


def paragraph(value: str) -> str:
    return f"<p>{inline(value)}</p>"


def note(value: str) -> str:
    """The line a section gets instead of its content when a file is missing."""
    return f'<p class="note">{inline(value)}</p>'


def box(css: str, value: str) -> str:
    """A framed paragraph: `alarm` (red) or `ok` (green)."""
    return f'<p class="{css}">{inline(value)}</p>'


def details(summary: str, content: str) -> str:
    """Content folded away until clicked (no script: the browser's own element)."""
    return f"<details><summary>{text(summary)}</summary>\n{content}\n</details>"


def side_by_side(parts: Iterable[str]) -> str:
    """Blocks in a row, wrapping where the window is narrow."""
    return '<div class="row">' + "".join(f"<div>{part}</div>" for part in parts) + "</div>"


def bullets(items: Iterable[str]) -> str:
    return "<ul>" + "".join(f"<li>{inline(item)}</li>" for item in items) + "</ul>"


def table(
    header: Sequence[str], rows: Iterable[Sequence[object]], classes: Sequence[str] = ()
) -> str:
    """`classes` gives a row's CSS class (e.g. to mark wrong predictions), by position."""
    head = "".join(f"<th>{text(cell)}</th>" for cell in header)
    lines = [f"<table>\n<tr>{head}</tr>"]
    for k, row in enumerate(rows):
        cells = "".join(_cell(str(cell)) for cell in row)
        css = f' class="{text(classes[k])}"' if k < len(classes) and classes[k] else ""
        lines.append(f"<tr{css}>{cells}</tr>")
    return "\n".join(lines) + "\n</table>"


def _cell(value: str) -> str:
    css = ' class="num"' if _NUMBER.match(value) else ' class="ci"' if value[:1] == "[" else ""
    return f"<td{css}>{inline(value)}</td>"


def image(path: Path, caption: str = "", width: int | None = None) -> str:
    """The PNG at `path` embedded as a data URI, or a note naming it when it is missing."""
    if not path.is_file():
        return note(f"{path.name} is missing: not shown.")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    size = f' width="{width}"' if width else ""
    img = f'<img src="data:image/png;base64,{data}" alt="{text(caption or path.name)}"{size}>'
    label = f"<figcaption>{text(caption)}</figcaption>" if caption else ""
    return f"<figure>{img}{label}</figure>"
