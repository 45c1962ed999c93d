"""`thermal-icas`: one command, a `--help` for each subcommand, and the same run as
`python train.py`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from thermal_icas import cli

ROOT = Path(__file__).resolve().parents[1]
READERS = [name for name, (_, config, _) in cli.COMMANDS.items() if config is None]


def _command(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thermal_icas.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_the_command_lists_its_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["--help"])
    listed = capsys.readouterr().out
    for name in ("train", "predict", "export", "validate", "summarize", "explain-cohort"):
        assert f"  {name} " in listed
    with pytest.raises(SystemExit, match="unknown command 'fit'"):
        cli.main(["fit"])


@pytest.mark.parametrize("name", READERS)
def test_each_folder_reader_explains_itself(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main([name, "--help"])
    assert done.value.code == 0
    assert f"usage: thermal-icas {name}" in capsys.readouterr().out


def test_a_run_command_shows_hydras_help_and_one_line_errors(tmp_path: Path) -> None:
    shown = _command("train", "--help")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "asymmetry: off, on" in shown.stdout
    missing = _command(
        "predict",
        f"ckpt_path={tmp_path / 'nowhere'}",
        f"input={tmp_path}",
        f"hydra.run.dir={tmp_path / 'predict'}",
    )
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1].startswith("error: ")


@pytest.mark.slow
def test_the_command_and_train_py_give_the_same_run(tmp_path: Path) -> None:
    overrides = ["experiment=smoke", "threads=1"]
    by_command = _command("train", *overrides, f"hydra.run.dir={tmp_path / 'a'}")
    assert by_command.returncode == 0, by_command.stderr[-2000:]
    by_script = subprocess.run(
        [sys.executable, "train.py", *overrides, f"hydra.run.dir={tmp_path / 'b'}"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert by_script.returncode == 0, by_script.stderr[-2000:]
    metrics = [(tmp_path / run / "metrics.json").read_bytes() for run in ("a", "b")]
    assert metrics[0] == metrics[1]
    assert (tmp_path / "a" / "train.log").is_file()
