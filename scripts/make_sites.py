"""Split a benchmark's people over two sites, the second captured differently.

    python scripts/make_sites.py BENCH OUT [--skew 0.5] [--palette gray] [--size 320 240]

BENCH is a folder `make_benchmark.py` wrote (its train/<class>/ folders; build it with
`--test-fraction 0` to have every person there). OUT gets site_a/<class>/ (the images as they
are) and site_b/<class>/ (re-rendered: the benchmark's inferno turned back into temperature and
shown through `--palette`, fitted into `--size` pixels, as another camera or export would).
`--skew` is the share of the ICAS people at site_b and, mirrored, of the others at site_a: 0.5
puts half of each class at each site; 0.9 puts most ICAS people at site_b, so the site, and how
its images were captured, tells the label. Read OUT with `data.site_from=folder`.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from thermal_icas.core.data.imageio import load_rgb
from thermal_icas.core.data.palette import PaletteInverter

SITES = ("site_a", "site_b")
JPEG_QUALITY = 92


def site_b_patients(manifest: dict, skew: float, seed: int) -> set[str]:
    """The people at the second site: `skew` of the ICAS ones, 1 - `skew` of the others."""
    labels = {image["patient"]: image["label"] for image in manifest["images"]}
    rng = np.random.default_rng(seed)
    chosen: set[str] = set()
    for label, share in ((1, skew), (0, 1.0 - skew)):
        people = sorted(p for p, found in labels.items() if found == label)
        chosen |= set(rng.permutation(people)[: round(share * len(people))].tolist())
    return chosen


def rerender(
    path: Path, inverter: PaletteInverter, palette: str, size: tuple[int, int]
) -> np.ndarray:
    """The image's temperatures through another palette, letterboxed into `size` (w, h)."""
    rgb = load_rgb(path)
    positions, _ = inverter(rgb)
    face = rgb.max(axis=2) > 10 / 255  # the benchmark's background is black
    grey = np.where(face, np.rint(positions * 255), 0).astype(np.uint8)
    colour = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    if palette != "gray":
        colour = np.where(face[..., None], cv2.applyColorMap(grey, cv2.COLORMAP_JET), 0)
    width, height = size
    side = min(width, height)
    small = cv2.resize(colour, (side, side), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - side) // 2, (width - side) // 2
    canvas[top : top + side, left : left + side] = small
    return canvas


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--skew", type=float, default=0.5, help="share of ICAS people at site_b")
    parser.add_argument("--palette", choices=("gray", "jet"), default="gray")
    parser.add_argument("--size", type=int, nargs=2, default=(320, 240), metavar=("W", "H"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 0 <= args.skew <= 1:
        parser.error("--skew must lie in [0, 1]")
    manifest = json.loads((args.bench / "manifest.json").read_text())
    at_b = site_b_patients(manifest, args.skew, args.seed)
    inverter = PaletteInverter(manifest["spec"]["palette"])
    shutil.rmtree(args.out, ignore_errors=True)
    counts = {site: {0: set(), 1: set()} for site in SITES}
    for image in manifest["images"]:
        if image["split"] != "train":
            continue
        site = SITES[image["patient"] in at_b]
        source = args.bench / image["file"]
        target = args.out / site / Path(image["file"]).relative_to("train")
        target.parent.mkdir(parents=True, exist_ok=True)
        if site == SITES[0]:
            shutil.copyfile(source, target)
        else:
            picture = rerender(source, inverter, args.palette, tuple(args.size))
            cv2.imwrite(str(target), picture, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        counts[site][image["label"]].add(image["patient"])
    for site in SITES:
        print(f"{site}: {len(counts[site][1])} ICAS, {len(counts[site][0])} other people")
    spec = vars(args) | {"bench": str(args.bench), "out": str(args.out), "site_b": sorted(at_b)}
    (args.out / "sites.json").write_text(json.dumps(spec, indent=1))


if __name__ == "__main__":
    main()
