"""A sweep's arms on another camera (`summarize.py --view shift`): each arm's drop from its
own test on the training camera, paired by patient, beside the usual comparison of arms."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from thermal_icas.analysis.summary.collect import group_arms, load_jobs, split_keys
from thermal_icas.analysis.summary.statistics import Pooled, pooled_patients
from thermal_icas.core.evaluation.bootstrap import BootstrapSettings
from thermal_icas.core.evaluation.compare import PRIMARY_METRIC, Estimate, paired_difference


def drops(
    root: Path, pooled: Mapping[str, Pooled], bootstrap: BootstrapSettings
) -> dict[str, Estimate]:
    """Per arm, in-domain minus out-of-domain patient AUROC: the same patients, each repeat's
    pooled test on the training camera against the same repeat's on the other."""
    jobs = load_jobs(root)
    own = {
        label: pooled_patients(label, arm.jobs)
        for label, arm in group_arms(jobs, split_keys(jobs)[1]).items()
    }
    found = {}
    for label, shifted in pooled.items():
        pairs = [
            (own[label][repeat], shifted[repeat])
            for repeat in shifted
            if repeat in own.get(label, {})
        ]
        if pairs:
            found[label] = paired_difference(pairs, bootstrap).estimates[PRIMARY_METRIC]
    return found
