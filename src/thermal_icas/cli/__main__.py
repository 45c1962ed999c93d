"""`python -m thermal_icas.cli <command> ...`, as `thermal-icas <command> ...`."""

from thermal_icas.cli import console

console()
