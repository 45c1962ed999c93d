"""The HTML pages the reports write, read back with the standard library's parser."""

from __future__ import annotations

import base64
from html.parser import HTMLParser

DATA_URI = "data:image/png;base64,"
HEADINGS = ("h1", "h2", "h3")


class Page(HTMLParser):
    """A parsed page: every start tag with its attributes, the text, the tables by the heading
    above them."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.starts: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.tables: list[tuple[str, list[list[str]]]] = []
        self._heading: list[str] | None = None
        self._last_heading = ""
        self._cell: list[str] | None = None
        self.feed(source)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.starts.append((tag, dict(attrs)))
        if tag in HEADINGS:
            self._heading = []
        elif tag == "table":
            self.tables.append((self._last_heading, []))
        elif tag == "tr":
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in HEADINGS and self._heading is not None:
            self._last_heading, self._heading = "".join(self._heading), None
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[-1][1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.texts.append(data)
        for part in (self._heading, self._cell):
            if part is not None:
                part.append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.starts if tag == name]

    def table(self, heading: str) -> list[list[str]]:
        """The first table under `heading`, header row first."""
        return next(rows for above, rows in self.tables if above == heading)

    def images(self) -> list[bytes]:
        """Every <img>'s embedded PNG; fails on any other source."""
        sources = [attrs.get("src") or "" for attrs in self.tags("img")]
        assert all(src.startswith(DATA_URI) for src in sources), "an image is not embedded"
        return [base64.b64decode(src[len(DATA_URI) :]) for src in sources]

    def links_out(self) -> list[str]:
        """Every src or href that is not an embedded image, and every script or stylesheet."""
        found = [tag for tag, _ in self.starts if tag in ("script", "link", "iframe")]
        for _, attrs in self.starts:
            found += [
                value or ""
                for name, value in attrs.items()
                if name in ("src", "href") and not (value or "").startswith(DATA_URI)
            ]
        return found
