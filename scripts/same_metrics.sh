#!/usr/bin/env bash
# Refactoring check: runs the fixed set of configurations at one thread and prints the md5 of
# each run's metrics.json, so a change that must not alter behaviour can be compared before and
# after on the same machine.
#   scripts/same_metrics.sh OUT_DIR [smoke|full|all]
# "smoke" (default): six seconds-long configurations; "full": the default run and
# attention=on asymmetry=on at full size (tens of minutes each on a CPU).
set -euo pipefail
out=${1:?usage: scripts/same_metrics.sh OUT_DIR [smoke|full|all]}
which=${2:-smoke}
python=${PYTHON:-python}
smoke=(
  ""
  "asymmetry=on"
  "attention=on"
  "asymmetry=on asymmetry.fusion=early"
  "asymmetry=on asymmetry.fusion=difference model.tta_flip=true"
  "clinical=fused"
)
full=("" "attention=on asymmetry=on")

run() {  # name, overrides...
  local dir="$out/$1"; shift
  "$python" train.py threads=1 "hydra.run.dir=$dir" "$@" > "$dir.log" 2>&1 \
    || { echo "failed: $dir (see $dir.log)" >&2; return 1; }
  echo "$(md5sum < "$dir/metrics.json" | cut -c1-32)  $dir $*"
}

mkdir -p "$out"
if [[ $which == smoke || $which == all ]]; then
  for i in "${!smoke[@]}"; do
    # shellcheck disable=SC2086
    run "smoke$i" experiment=smoke ${smoke[$i]}
  done
fi
if [[ $which == full || $which == all ]]; then
  for i in "${!full[@]}"; do
    # shellcheck disable=SC2086
    run "full$i" ${full[$i]}
  done
fi
