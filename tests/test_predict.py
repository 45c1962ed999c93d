"""predict.py: the run's own preprocessing and threshold, safe loading, clear errors."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.conftest import ComposeFn, make_toy_dataset, write_image
from thermal_icas.analysis.inference import predict
from thermal_icas.analysis.trained_run import MOVED_TARGETS, load_run, run_classes
from thermal_icas.core import run_files
from thermal_icas.core.errors import PretrainedWeightsError
from thermal_icas.train.pipeline import run

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def _trained_run(compose_cfg: ComposeFn, tmp_path: Path, *overrides: str) -> Path:
    data_dir = make_toy_dataset(tmp_path / "toy", size=32)
    cfg = compose_cfg(["experiment=smoke", f"data.data_dir={data_dir}", *overrides])
    run(cfg)
    out = Path(cfg.paths.output_dir)
    (out / run_files.CONFIG).parent.mkdir(exist_ok=True)
    OmegaConf.save(cfg, out / run_files.CONFIG)  # train.py's Hydra writes this file
    return out


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open() as handle:
        return {row["path"]: row for row in csv.DictReader(handle)}


def test_predictions_reproduce_the_runs_test_predictions(
    compose_cfg: ComposeFn, tmp_path: Path
) -> None:
    out = _trained_run(compose_cfg, tmp_path, "asymmetry=on", "attention=on", "data.image_size=64")
    trained = load_run(out)
    target = predict(trained, tmp_path / "toy", tmp_path / "pred", explain=True)
    predicted = _rows(target)
    tested = _rows(out / "test_predictions.csv")
    assert set(tested) <= set(predicted)
    for path, row in tested.items():
        assert float(predicted[path]["prob_positive"]) == pytest.approx(
            float(row["prob_positive"]), abs=1e-5
        )
        assert predicted[path]["predicted"] == row["predicted"]
        assert predicted[path]["patient"] == row["patient"]
    assert len(list((tmp_path / "pred" / "explain").glob("*.png"))) == len(predicted)

    # a run saved before the package took its layers names its targets by the old paths
    config = out / run_files.CONFIG
    old = config.read_text()
    for before, after in MOVED_TARGETS.items():
        old = old.replace(after, before)
    assert "thermal_icas.masks." in old and "thermal_icas.core." not in old
    config.write_text(old)
    again = predict(load_run(out), tmp_path / "toy", tmp_path / "pred_old", explain=False)
    assert [row["prob_positive"] for row in _rows(again).values()] == [
        row["prob_positive"] for row in predicted.values()
    ]


def test_cli_writes_a_new_folder_and_reports_errors_in_one_line(
    compose_cfg: ComposeFn, tmp_path: Path
) -> None:
    out = _trained_run(compose_cfg, tmp_path)
    image = next((tmp_path / "toy" / "icas").glob("*.png"))
    command = [sys.executable, str(ROOT / "predict.py"), f"ckpt_path={out}"]
    result = subprocess.run(
        [*command, f"input={image}", f"hydra.run.dir={tmp_path / 'p'}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(_rows(tmp_path / "p" / "predictions.csv")) == 1

    missing = tmp_path / "no_such_images"
    result = subprocess.run(
        [*command, f"input={missing}", f"hydra.run.dir={tmp_path / 'q'}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert f"error: input '{missing}' does not exist" in result.stderr
    assert "Traceback" not in result.stderr

    # nothing usable: no header-only predictions.csv, a non-zero exit naming each reason
    unusable = tmp_path / "unusable"
    unusable.mkdir()
    (unusable / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is no image")
    write_image(unusable / "black.png", np.zeros((32, 32, 3), np.uint8))
    result = subprocess.run(
        [*command, f"input={unusable}", f"hydra.run.dir={tmp_path / 'r'}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: none of the 2 image(s) of input '{unusable}' can be used")
    assert "black.png: " in line and "broken.jpg: " in line
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "r" / run_files.PREDICTIONS).exists()
    assert len(_rows(tmp_path / "r" / run_files.SKIPPED)) == 2


def test_a_checkpoint_of_another_architecture_is_refused(
    compose_cfg: ComposeFn, tmp_path: Path
) -> None:
    out = _trained_run(compose_cfg, tmp_path)
    cfg = OmegaConf.load(out / run_files.CONFIG)
    cfg.model.backbone = "resnet34"
    OmegaConf.save(cfg, out / run_files.CONFIG)
    with pytest.raises(PretrainedWeightsError, match="does not fit the architecture"):
        load_run(out)
    with pytest.raises(PretrainedWeightsError, match="not a stage-2 classifier"):
        load_run(next((out / "checkpoints" / "contrastive").glob("*.ckpt")))


def test_an_unfinished_run_or_a_loose_checkpoint_gets_a_clear_error(
    compose_cfg: ComposeFn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _trained_run(compose_cfg, tmp_path)
    best = next((out / "checkpoints" / "classifier").glob("best-*.ckpt"))
    loose = tmp_path / "loose"
    loose.mkdir()
    shutil.copy(best, loose / "model.ckpt")
    monkeypatch.chdir(loose)
    with pytest.raises(PretrainedWeightsError, match=r"has no \.hydra/config\.yaml"):
        load_run("model.ckpt")
    # cut short, as by a full disk: one line naming it and the checkpoints that could serve
    best.write_bytes(best.read_bytes()[: best.stat().st_size // 2])
    damaged = rf"'{re.escape(str(best))}' is damaged or is not a checkpoint \(.*last\.ckpt is"
    with pytest.raises(PretrainedWeightsError, match=damaged):
        load_run(out)
    (out / "metrics.json").unlink()
    with pytest.raises(PretrainedWeightsError, match="is not a finished run"):
        load_run(out)


@pytest.mark.parametrize(
    ("columns", "rows", "positive"),
    [
        # the run marks its positive class: predict takes it, whatever the names
        ("path,patient,label,split,positive", ["a,P1,ICAS,test,1", "b,P2,Non_ICAS,test,0"], "ICAS"),
        # a run from before the mark: the rule it was trained with (the last sorted name)
        ("path,patient,label,split", ["a,P1,ICAS,test", "b,P2,Non_ICAS,test"], "Non_ICAS"),
    ],
)
def test_predict_takes_the_positive_class_the_run_was_trained_with(
    tmp_path: Path, columns: str, rows: list[str], positive: str
) -> None:
    (tmp_path / run_files.SPLITS).write_text("\n".join([columns, *rows]) + "\n")
    cfg = OmegaConf.create({"data": {"positive_class": None}})
    classes = run_classes(tmp_path, cfg)
    assert classes.names == ("ICAS", "Non_ICAS") and classes.positive == positive
