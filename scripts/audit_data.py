"""Which images of a dataset are the same picture under two patients or two classes, and
whether the classes can be told apart by how the images were captured.

    python scripts/audit_data.py DATA_DIR [--patient-from auto] [--patient-regex RE]
                                 [--distance 6] [--cache-dir .cache]

DATA_DIR is read as a run reads it (class folders; patient ids by data.patient_from and
data.patient_regex, whose defaults come from conf/data/default.yaml); every image is hashed as
in a run (cached in <cache-dir>/hashes) and each pair of images of different patients within
--distance bits of each other is printed as one tab-separated line:
`distance  path  patient  class  path  patient  class`. Then the acquisition audit (as a run
does it: a patient-level model on size, format, JPEG quality, camera, palette, background and
face share) prints the properties that differ most by class, one line each:
`property  auroc  mean_<first class>  mean_<second class>`. The last line is
`duplicate_pairs=N cross_class_pairs=M acquisition_auroc=A ci_low=L ci_high=H`. Exit status 1
when a pair crosses the classes (one picture with two labels: no run can use both) or the
audit's interval lies above 0.6 (the classes were captured differently), else 0; a bad folder
exits 2 with one line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omegaconf import OmegaConf

from thermal_icas.config import project_root
from thermal_icas.data.classes import resolve_classes
from thermal_icas.data.confound import audit_rows
from thermal_icas.data.duplicates import HashCache, find_duplicates
from thermal_icas.data.records import find_class_dirs, scan_folder
from thermal_icas.errors import USER_ERRORS, DatasetError


def main(argv: list[str]) -> int:
    defaults = OmegaConf.load(project_root() / "conf" / "data" / "default.yaml")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--patient-from", default=defaults.patient_from)
    parser.add_argument("--patient-regex", default=defaults.patient_regex)
    parser.add_argument("--distance", type=int, default=defaults.duplicate_distance)
    parser.add_argument("--cache-dir", type=Path, default=project_root() / ".cache")
    args = parser.parse_args(argv)
    try:
        classes = resolve_classes(find_class_dirs(args.data_dir), None, str(args.data_dir))
        records = scan_folder(args.data_dir, classes, args.patient_regex, args.patient_from)
        hashes = HashCache(args.cache_dir / "hashes")
        usable = []
        for record in records:
            try:
                hashes(record.path)
                usable.append(record)
            except DatasetError as error:
                print(f"skipped: {error}", file=sys.stderr)
        pairs = find_duplicates(usable, hashes, args.distance)
        acquisition = audit_rows([(r, "") for r in usable], args.cache_dir, seed=0)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for pair in pairs:
        sides = [
            f"{r.path}\t{r.patient}\t{classes.names[r.label]}" for r in (pair.first, pair.second)
        ]
        print("\t".join([str(pair.distance), *sides]))
    for d in acquisition.differences:
        print(f"{d.name}\t{d.auroc:.3f}\t{d.negative_mean:.4g}\t{d.positive_mean:.4g}")
    if acquisition.alarm:
        print(acquisition.message(), file=sys.stderr)
    cross = sum(pair.across_classes for pair in pairs)
    low, high = acquisition.interval
    print(
        f"duplicate_pairs={len(pairs)} cross_class_pairs={cross} "
        f"acquisition_auroc={acquisition.auroc:.3f} ci_low={low:.3f} ci_high={high:.3f}"
    )
    return 1 if cross or acquisition.alarm else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
