"""The page blocks through their jinja2 templates: escaping, markdown's inline marks, number
cells, missing figures, and the same text in summary.md and summary.html."""

from __future__ import annotations

from pathlib import Path

import pytest

from thermal_icas.analysis.page import (
    Box,
    Bullets,
    Details,
    Figure,
    Heading,
    Note,
    Row,
    Table,
    html,
    markdown,
)


def test_every_text_is_escaped_and_keeps_its_inline_marks() -> None:
    hostile = '<script>alert("x")</script>'
    page = html(hostile, [Heading(2, f"`{hostile}` and **bold**"), hostile, Box("alarm", "a & b")])
    assert "<script>" not in page
    assert "<title>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</title>" in page
    assert "<h2><code>&lt;script&gt;" in page and "<strong>bold</strong></h2>" in page
    assert '<p class="alarm">a &amp; b</p>' in page
    assert page.startswith("<!DOCTYPE html>\n") and page.endswith("</body>\n</html>\n")


def test_table_cells_are_classed_by_what_they_hold() -> None:
    table = Table(("metric", "value", "95% CI"), [("AUROC", 0.8, "[0.7, 0.9]"), ("n", "n/a", "")])
    page = html("t", [Details("folded", Table(("a",), [("x",), ("y",)], classes=("wrong",)))])
    assert '<tr class="wrong"><td>x</td></tr>\n<tr><td>y</td></tr>\n</table>' in page
    assert "<details><summary>folded</summary>\n<table>\n<tr><th>a</th></tr>\n" in page
    cells = html("t", [table])
    assert '<td class="num">0.8</td><td class="ci">[0.7, 0.9]</td>' in cells
    assert '<td class="num">n/a</td><td></td>' in cells


def test_a_missing_figure_is_named_and_a_present_one_embedded(tmp_path: Path) -> None:
    present = tmp_path / "roc.png"
    present.write_bytes(b"\x89PNG")
    page = html("t", [Row([[Figure(present, "ROC", width=320)], [Figure(tmp_path / "gone.png")]])])
    embedded = '<div class="row"><div><figure><img src="data:image/png;base64,iVBORw=="'
    assert embedded + ' alt="ROC"' in page
    assert ' width="320"><figcaption>ROC</figcaption></figure></div>' in page
    assert '<div><p class="note">gone.png is missing: not shown.</p></div></div>' in page


def test_markdown_says_what_the_page_says_without_its_figures(tmp_path: Path) -> None:
    blocks = [
        Heading(1, "Sweep"),
        "A paragraph with `code`.",
        Figure(tmp_path / "plot.png", "left out"),
        Bullets(["one", "two"]),
        Table(("arm", "AUROC"), [("a|b", "0.8")]),
        Note("said"),
    ]
    text = markdown(blocks)
    assert text == (
        "# Sweep\n\nA paragraph with `code`.\n\n- one\n- two\n\n"
        "| arm | AUROC |\n|---|---|\n| a\\|b | 0.8 |\n\nsaid\n"
    )
    with pytest.raises(ValueError, match="Details has no markdown form"):
        markdown([Details("x", "y")])
