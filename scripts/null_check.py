"""How often would this design's paired verdict call a difference that is not there, and how
often find one that is? Simulated sweeps with a known answer, scored by the summary's own
statistics (one patient draw shared by every seed, percentile interval, Holm).

    python scripts/null_check.py --positives 20 --negatives 40 --seeds 5        # the null
    python scripts/null_check.py --seeds 1 --folds 5                            # 1 seed x 5 folds
    python scripts/null_check.py --difference 0.1                               # power
    python scripts/null_check.py --arms 3 --seeds 1                             # a family of 3

Seeds score the same patients (an ablation on one split, a fixed external test folder, CV
repeats) unless `--own-splits` gives each seed its own patients from a three-times larger
cohort. The last lines are `rejects=` (the share of sweeps whose first arm's verdict excluded 0:
the false-positive rate under the null, the power otherwise), `familywise=` and
`familywise_holm=` (any arm, before and after Holm), `covered=` (the interval held the true
difference).
"""

from __future__ import annotations

import argparse

from thermal_icas.core.evaluation.bootstrap import BootstrapSettings
from thermal_icas.core.evaluation.simulate import Design, null_check


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positives", type=int, default=20, help="positive test patients")
    parser.add_argument("--negatives", type=int, default=40, help="negative test patients")
    parser.add_argument("--seeds", type=int, default=5, help="replicates per arm")
    parser.add_argument("--folds", type=int, default=1, help="folds pooled per replicate")
    parser.add_argument("--arms", type=int, default=1, help="arms besides the baseline")
    parser.add_argument("--auroc", type=float, default=0.8, help="the baseline's AUROC")
    parser.add_argument("--difference", type=float, default=0.0, help="first arm's AUROC gain")
    parser.add_argument("--own-splits", action="store_true", help="each seed its own patients")
    parser.add_argument("--sweeps", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 0.5 <= args.auroc < 1 or not 0.5 <= args.auroc + args.difference < 1:
        parser.error("--auroc and --auroc + --difference must lie in [0.5, 1)")
    if min(args.positives, args.negatives, args.seeds, args.folds, args.arms, args.sweeps) < 1:
        parser.error("counts must be at least 1")
    design = Design(
        positives=args.positives,
        negatives=args.negatives,
        seeds=args.seeds,
        folds=args.folds,
        arms=args.arms,
        auroc=args.auroc,
        difference=args.difference,
        same_patients=not args.own_splits,
    )
    print(f"design: {design}")
    result = null_check(design, args.sweeps, BootstrapSettings(args.resamples, 0.95, args.seed))
    print(f"sweeps={result.sweeps}")
    print(f"rejects={result.first_arm_rejects:.3f}")
    print(f"familywise={result.any_rejects:.3f}")
    print(f"familywise_holm={result.any_rejects_holm:.3f}")
    print(f"covered={result.covered:.3f}")


if __name__ == "__main__":
    main()
