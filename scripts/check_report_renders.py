"""Open a report page (report.html, summary.html) in headless Chromium; fail unless it renders.

    python scripts/check_report_renders.py PAGE.html [--png out.png] [--size 1200x1800]

A development check, not part of the test suite (it needs a browser: `apt-get install
chromium`). A copy of the page gets a script that counts, once the page has loaded, the images
the browser decoded; the check fails when Chromium fails, an image did not decode or nothing
was drawn. `--png` also saves a screenshot of the top of the page (palette PNG, for docs).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageStat

BROWSERS = ("chromium", "chromium-browser", "chromium-headless-shell", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars")
# added to the copy only: the report itself carries no script
PROBE = (
    "<script>window.addEventListener('load', () => { const all = [...document.images];"
    " document.body.dataset.decoded = all.filter(i => i.naturalWidth > 0).length + '/' +"
    " all.length; });</script>"
)
DECODED = re.compile(r'data-decoded="(\d+)/(\d+)"')


def browser(name: str | None) -> str:
    found = shutil.which(name) if name else next(filter(None, map(shutil.which, BROWSERS)), None)
    if found is None:
        raise SystemExit(f"error: no browser found ({name or ', '.join(BROWSERS)}); install one")
    return found


def chromium(binary: str, *args: str) -> str:
    result = subprocess.run(
        [binary, *FLAGS, "--virtual-time-budget=10000", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise SystemExit(f"error: {binary} failed: {result.stderr.strip()[-500:]}")
    return result.stdout


def decoded_images(binary: str, page: Path) -> tuple[int, int]:
    """(decoded, total) images of `page`, as the browser counted them after loading it."""
    source = page.read_text(encoding="utf-8")
    if "</body>" not in source:
        raise SystemExit(f"error: {page} has no </body>: not a page")
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / page.name
        probe.write_text(source.replace("</body>", PROBE + "</body>", 1), encoding="utf-8")
        dom = chromium(binary, "--dump-dom", probe.as_uri())
    match = DECODED.search(dom)
    if match is None:
        raise SystemExit(f"error: {page} did not finish loading in the browser")
    return int(match.group(1)), int(match.group(2))


def screenshot(binary: str, page: Path, out: Path, size: tuple[int, int]) -> None:
    """The top `size` of the page, reduced to a 256-colour PNG; fails if it is blank."""
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "shot.png"
        chromium(binary, f"--screenshot={raw}", f"--window-size={size[0]},{size[1]}", page.as_uri())
        shot = Image.open(raw).convert("RGB")
    if all(low == high for low, high in ImageStat.Stat(shot).extrema):
        raise SystemExit(f"error: the screenshot of {page} is blank")
    shot.quantize(256).save(out, optimize=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="report.html or summary.html")
    parser.add_argument("--png", type=Path, help="also save a screenshot here")
    parser.add_argument("--size", default="1200x1800", help="screenshot WIDTHxHEIGHT in px")
    parser.add_argument("--browser", help=f"the browser (default: first of {', '.join(BROWSERS)})")
    args = parser.parse_args(argv)
    page = args.page.resolve()
    if not page.is_file():
        raise SystemExit(f"error: {args.page} does not exist")
    binary = browser(args.browser)
    decoded, total = decoded_images(binary, page)
    if decoded != total:
        raise SystemExit(f"error: {total - decoded} of {total} images in {page} did not decode")
    if args.png:
        width, height = (int(v) for v in args.size.lower().split("x"))
        screenshot(binary, page, args.png, (width, height))
    shot = f", screenshot {args.png}" if args.png else ""
    print(f"{page}: rendered, {total} images decoded{shot}")


if __name__ == "__main__":
    main(sys.argv[1:])
