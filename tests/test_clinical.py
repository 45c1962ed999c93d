"""Clinical covariates: the table and its checks, features fitted on training patients only,
the embedded table's signal, the clinical-only arm and the fused classifier."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from tests.conftest import ComposeFn, run_metrics
from thermal_icas.core.errors import ConfigError, DatasetError, PretrainedWeightsError
from thermal_icas.core.explain.maps import explain_batch
from thermal_icas.core.models.encoder import ThermalEncoder
from thermal_icas.core.models.heads import ThermalClassifier
from thermal_icas.train.clinical import Clinical, ClinicalFeatures, read_table
from thermal_icas.train.clinical.synthetic import clinical_rows
from thermal_icas.train.config import check_settings
from thermal_icas.train.pipeline import run

HEADER = "patient,age,sex,smoking,site\n"


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def table_file(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "clinical.csv",
        HEADER + "A,60,M,never,1\nB,,F,current,2\nC,70,F,NA,1\nD,80,M,former,2\n",
    )


def test_columns_are_typed_and_missing_cells_read_as_missing(tmp_path: Path) -> None:
    table = read_table(table_file(tmp_path), categorical=["site"])
    assert list(table.numeric) == ["age"]
    assert list(table.categorical) == ["sex", "smoking", "site"]
    assert np.isnan(table.numeric["age"]["B"]) and table.numeric["age"]["D"] == 80.0
    assert table.categorical["smoking"]["C"] is None
    assert table.categorical["site"]["A"] == "1"
    assert read_table(table_file(tmp_path), columns=["age"]).columns == ["age"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,age\nA,1\nB,2\n", "no 'patient' column"),
        (HEADER + "A,60,M,never,1\nA,61,F,never,2\n", "patient 'A' has a second row"),
        (
            HEADER + "A,60,M,never,1\nB,sixty,F,never,2\nC,70,F,never,1\n",
            r"line 3 \(patient B\): 'sixty' in column 'age' is not a number",
        ),
        (HEADER + "A,60,M,never,1\nB,61,M,current,2\n", "column 'sex' has the single value 'M'"),
        ("patient,age\nA,\nB,NA\n", "column 'age' has no values"),
    ],
)
def test_a_bad_table_is_refused_naming_the_cell(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        read_table(write_csv(tmp_path / "bad.csv", text))


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252"])
def test_a_spreadsheets_export_reads_separator_mark_and_decimal_commas(
    tmp_path: Path, encoding: str, caplog: pytest.LogCaptureFixture
) -> None:
    """`;`-separated, a byte-order mark (or Windows-1252) and decimal commas: as a spreadsheet
    in a comma-decimal locale saves it."""
    text = "patient;age;bmi;site\nA;60;23,5;Zürich\nB;71;NA;Genève\nC;65;31;Zürich\n"
    path = tmp_path / "export.csv"
    path.write_bytes(text.encode(encoding))
    caplog.set_level(logging.INFO)
    table = read_table(path)
    assert table.numeric["bmi"]["A"] == 23.5 and table.numeric["bmi"]["C"] == 31.0
    assert table.numeric["age"]["B"] == 71.0 and np.isnan(table.numeric["bmi"]["B"])
    assert table.categorical["site"]["B"] == "Genève"
    said = "byte-order mark" if encoding == "utf-8-sig" else "read as Windows-1252"
    assert "separator ';'" in caplog.text and said in caplog.text
    assert "decimal commas in bmi" in caplog.text and "decimal commas in age" not in caplog.text


def test_decimal_points_and_commas_mixed_in_a_column_are_refused(tmp_path: Path) -> None:
    text = "patient;bmi\nA;23,5\nB;24.1\nC;25,0\nD;26,2\n"
    mixed = r"'bmi' mixes decimal commas \('23,5', line 2\) and points \('24\.1', line 3\)"
    with pytest.raises(DatasetError, match=mixed):
        read_table(write_csv(tmp_path / "mixed.csv", text))


def test_unknown_columns_and_a_missing_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"clinical\.columns/categorical name bmi"):
        read_table(table_file(tmp_path), columns=["age", "bmi"])
    with pytest.raises(DatasetError, match="is not a file"):
        read_table(tmp_path / "none.csv")


def test_a_patient_without_a_row_is_named(tmp_path: Path) -> None:
    table = read_table(table_file(tmp_path))
    with pytest.raises(DatasetError, match=r"no row for 1 of 3 patients with images \(Z\)"):
        table.require(["A", "B", "Z"])


def test_features_use_training_statistics_only(tmp_path: Path) -> None:
    table = read_table(table_file(tmp_path))
    features = ClinicalFeatures(table).fit(["A", "B", "C"])
    assert features.names[0] == "age" and "smoking_current" in features.names
    train = features.transform(["A", "B", "C"])
    # B's missing age is the training median (65), and training ages standardise to mean 0
    assert train[:, 0].mean() == pytest.approx(0.0, abs=1e-6)
    assert train[1, 0] == pytest.approx(0.0, abs=1e-6)
    # D (not in training) is scaled by the training ages' statistics, not its own
    ages = np.array([60.0, 65.0, 70.0])
    (d,) = features.transform(["D"])
    assert d[0] == pytest.approx((80 - ages.mean()) / ages.std(), rel=1e-5)
    # D's smoking status (former) was never seen in training: all its one-hot columns are 0
    smoking = [k for k, name in enumerate(features.names) if name.startswith("smoking_")]
    assert "smoking_former" not in features.names and d[smoking].sum() == 0


@pytest.mark.parametrize(("signal", "low", "high"), [(0.0, 0.45, 0.55), (2.0, 0.8, 1.0)])
def test_the_embedded_tables_association_follows_its_signal(
    signal: float, low: float, high: float
) -> None:
    rng = np.random.default_rng(0)
    labels = {f"P{k:04d}": int(rng.random() < 1 / 3) for k in range(3000)}
    rows = clinical_rows(labels, signal, seed=0)
    assert rows == clinical_rows(labels, signal, seed=0)
    y = np.array([labels[row["patient"]] for row in rows])
    age = np.array([float(row["age"] or 62) for row in rows])
    hypertension = np.array([int(row["hypertension"]) for row in rows])
    risk = age / 9 + 0.9 * hypertension
    assert low <= roc_auc_score(y, risk) <= high
    assert {row["smoking"] for row in rows} == {"never", "former", "current", ""}
    assert 0.4 < np.mean([row["sex"] == "M" for row in rows]) < 0.7


def test_settings_are_checked_before_any_work(compose_cfg: ComposeFn) -> None:
    cfg = compose_cfg(["clinical=only", "clinical.model=forest"])
    with pytest.raises(ConfigError, match=r"clinical\.model='forest'"):
        check_settings(cfg)
    cfg = compose_cfg(["+clinical.model=boosting"])
    with pytest.raises(ConfigError, match="set while clinical is off: add clinical=only"):
        check_settings(cfg)
    with pytest.raises(ConfigError, match=r"clinical\.use='both'"):
        Clinical(use="both")


def test_real_data_without_a_table_is_refused_before_training(
    compose_cfg: ComposeFn, tmp_path: Path
) -> None:
    from tests.conftest import make_toy_dataset

    data_dir = make_toy_dataset(tmp_path / "toy")
    cfg = compose_cfg(["experiment=smoke", "clinical=fused", f"data.data_dir={data_dir}"])
    with pytest.raises(ConfigError, match=r"clinical=fused needs data\.clinical_csv"):
        run(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_fused_classifier_needs_and_uses_its_clinical_features() -> None:
    torch.manual_seed(0)
    encoder = ThermalEncoder(backbone="resnet18", pretrained="none")
    classifier = ThermalClassifier(encoder, 2, dropout=0.0, clinical_dim=3).eval()
    images = torch.randn(2, 3, 64, 64)
    with pytest.raises(ValueError, match="joins 3 clinical features"):
        classifier(images)
    with torch.no_grad():
        base = classifier(images, torch.zeros(2, 3))
        moved = classifier(images, torch.full((2, 3), 5.0))
    assert not torch.allclose(base, moved)
    maps = explain_batch(classifier, images, "layer3", "hirescam", torch.zeros(2, 3))
    assert torch.allclose(maps.logits, base, atol=1e-5) and maps.cam.shape[0] == 2


@pytest.mark.slow
@pytest.mark.parametrize("signal", [0.0, 2.0])
def test_clinical_only_beats_chance_at_a_strong_signal_and_not_at_zero(
    compose_cfg: ComposeFn, tmp_path: Path, signal: float
) -> None:
    out = tmp_path / f"signal{signal}"
    cfg = compose_cfg(
        ["clinical=only", f"clinical.synthetic_signal={signal}", "threads=1"], output_dir=out
    )
    run(cfg)
    metrics = run_metrics(out)
    low, high = metrics["test/patient/auroc_ci_low"], metrics["test/patient/auroc_ci_high"]
    assert metrics["test/patient/n"] == 36 and metrics["clinical/features"] == 8
    if signal == 0.0:
        assert low < 0.5 < high
    else:
        assert low > 0.5
    assert (out / "test_patients.csv").is_file() and (out / "test_predictions.csv").is_file()
    assert not (out / "checkpoints").exists(), "clinical=only trains no network"


@pytest.mark.slow
def test_fused_trains_with_the_clinical_features_joined(compose_cfg: ComposeFn) -> None:
    cfg = compose_cfg(["experiment=smoke", "clinical=fused", "debug=fast"])
    run(cfg)
    out = Path(cfg.paths.output_dir)
    metrics = run_metrics(out)
    assert 0.0 <= metrics["test/patient/auroc"] <= 1.0
    (best,) = (out / "checkpoints" / "classifier").glob("best-*.ckpt")
    weights = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
    # 512 image features from resnet18 and 8 clinical ones (age, hypertension, diabetes, sex x 2,
    # smoking x 3)
    assert weights["model.head.1.weight"].shape == (2, 512 + 8)
    assert (out / "explain" / "index.csv").is_file()


def test_predict_refuses_a_clinical_run(tmp_path: Path) -> None:
    from thermal_icas.analysis.trained_run import load_run

    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text("clinical:\n  use: fused\n")
    with pytest.raises(PretrainedWeightsError, match="is a clinical=fused run"):
        load_run(run_dir)


def test_the_clinical_preset_sweeps_three_arms_over_five_folds() -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from tests.conftest import CONF_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=clinical"], return_hydra_config=True)
        arm = compose("train", overrides=["experiment=clinical", "clinical=fused"])
    GlobalHydra.instance().clear()
    params = cfg.hydra.sweeper.params
    assert params.clinical == "off,only,fused" and params["data.fold"] == "0,1,2,3,4"
    assert cfg.data.num_folds == 5 and cfg.threads == 1
    assert arm.clinical.use == "fused" and arm.clinical.synthetic_signal == 1.0
