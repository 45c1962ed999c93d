"""`thermal-icas <command>`: one command for everything a user runs.

Run-shaped commands take Hydra overrides (`key=value`, `group=option`, `-m` to sweep) and write a
run folder; the others read folders and take plain options. `thermal-icas <command> --help`
says more. `python train.py ...` (and predict.py, export.py, validate.py) are the same commands.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from thermal_icas.cli import data_tools, readers, runs

# name -> (what it does, its config for Hydra or None, the function)
COMMANDS: dict[str, tuple[str, str | None, Callable[..., Any]]] = {
    "train": ("train and test a classifier (a sweep with -m)", "train", runs.train),
    "predict": ("score new images with a trained run", "predict", runs.predict),
    "export": ("a trained run's classifier as ONNX, with preprocess.json", "export", runs.export),
    "validate": ("a trained run on a new labelled cohort", "validate", runs.validate),
    "summarize": ("a sweep's arms, paired by patient", None, readers.summarize),
    "report": ("rebuild a run folder's report.html", None, readers.report),
    "explain-cohort": ("where a run looks, by class, over a split", None, readers.explain_cohort),
    "audit": ("duplicates and acquisition differences of a dataset", None, data_tools.audit),
    "masks": ("write every image's face mask", "export_masks", data_tools.export_masks),
    "preview": ("a contact sheet of a dataset as the model sees it", None, data_tools.preview),
}
# the run-shaped commands whose run folder is settled before Hydra starts
RUN_FOLDERS = ("train", "predict", "export", "validate")


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {what}" for name, (what, _, _) in COMMANDS.items()]
    return "usage: thermal-icas <command> [arguments]\n\ncommands:\n" + "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> Any:
    """Run `argv` (default: the command line) as one command; returns what the command does
    (the train objective for a sweeper, an audit's exit status)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return None
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        raise SystemExit(f"error: unknown command '{name}'\n{usage()}")
    _, config_name, command = COMMANDS[name]
    prog = f"thermal-icas {name}"
    if config_name is None:
        return command(rest, prog)
    return runs.run_hydra(config_name, command, rest, prog, run_folder=name in RUN_FOLDERS)


def console() -> None:
    """The installed `thermal-icas` script: a command's whole-number result (an audit's status)
    is the process's exit status."""
    result = main()
    if isinstance(result, int) and not isinstance(result, bool):
        sys.exit(result)
