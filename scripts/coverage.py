"""Do the patient-level AUROC intervals hold the truth 95% of the time? A coverage table from
simulated binormal test splits, for the run's two intervals: the BCa patient bootstrap (the
`_ci_` keys; with a one-sided bound when the split is perfectly separated) and DeLong's logit
interval (`auroc_delong_ci_`).

    python scripts/coverage.py --sizes 5v10 12v24 40v80 --aurocs 0.7 0.8 0.9 0.97 --sims 1000

One line per size and AUROC: `positives negatives auroc bca=... delong_logit=...`.
"""

from __future__ import annotations

import argparse

from thermal_icas.core.evaluation.bootstrap import BootstrapSettings
from thermal_icas.core.evaluation.simulate import coverage_grid


def size(text: str) -> tuple[int, int]:
    positives, _, negatives = text.partition("v")
    try:
        return int(positives), int(negatives)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"a size is POSvNEG like 12v24, got '{text}'") from error


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=size, nargs="+", default=[(12, 24)])
    parser.add_argument("--aurocs", type=float, nargs="+", default=[0.9])
    parser.add_argument("--sims", type=int, default=1000, help="simulated test splits per cell")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not all(0.5 <= auroc < 1 for auroc in args.aurocs):
        parser.error("--aurocs must lie in [0.5, 1)")
    settings = BootstrapSettings(args.resamples, 0.95, args.seed)
    for positives, negatives, auroc, hits in coverage_grid(
        args.sizes, args.aurocs, args.sims, settings
    ):
        cells = " ".join(f"{name}={share:.3f}" for name, share in hits.items())
        print(f"{positives} {negatives} {auroc:g} {cells}", flush=True)


if __name__ == "__main__":
    main()
