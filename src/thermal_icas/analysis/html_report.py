"""report.html: a finished run on one page, built from its folder alone (so it can be rebuilt
for any old run with `thermal-icas report`): settings, data counts, the patient-level result with
its intervals, the figures, the shortcut checks and the explanation overlays. A section whose
file is missing is replaced by a one-line note; only unreadable files are errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from thermal_icas.analysis.page import Block, Box, Details, Figure, Heading, Note, Row, Table, html
from thermal_icas.analysis.report_header import header, read, read_csv
from thermal_icas.core import run_files
from thermal_icas.core.evaluation.metrics import METRICS
from thermal_icas.core.explain.shortcut import ALARM_KEY, EFFECT_KEY

# (label, key under test/ or test/patient/), in the order a reader wants them
RESULT_ROWS = (
    *(
        (METRICS[name].label, name)
        for name in ("auroc", "auprc", "sensitivity", "specificity", "balanced_acc", "f1")
    ),
    *(("Brier score", "brier"), ("ECE", "ece"), ("calibration slope", "calibration_slope")),
    ("calibration intercept", "calibration_intercept"),
    *(("Brier, recalibrated", "calibrated/brier"), ("ECE, recalibrated", "calibrated/ece")),
    ("threshold (chosen on val)", "threshold"),
)
# the operating points chosen on val (`eval.operating_points`), by their threshold's key
OPERATING_POINT = re.compile(r"^test/patient/(at_[^/]+)/threshold$")
SENS_SPEC = ("sensitivity", "specificity")
SITE = re.compile(r"^test/site/([^/]+)/patient/n$")
# test/attention/* in the order the README explains them; the alarm is shown on its own
LOOKS = ("in_face", "face_area", "sparsity", "background_effect", "gate_in_face")
LOOKS += ("gate_sparsity", "lr_balance")


def write_report(run_dir: Path) -> Path:
    """Write `report.html` into `run_dir` and return its path."""
    path = run_dir / run_files.REPORT
    path.write_text(render_report(run_dir), encoding="utf-8")
    return path


def render_report(run_dir: Path) -> str:
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist")
    # an external validation shows the settings of the run it validates
    cfg = read(run_dir / run_files.VALIDATED_CONFIG) or read(run_dir / run_files.CONFIG) or {}
    metrics = read(run_dir / run_files.METRICS)
    task = cfg.get("task_name", "run")
    body = [Heading(1, f"{task}: {run_dir.name}"), *header(run_dir, cfg, metrics)]
    body += _results(metrics)
    body += _figures(run_dir)
    body += _shortcuts(metrics, cfg)
    body += _explanations(run_dir / run_files.EXPLAIN_DIR)
    body += _cohort(run_dir)
    body += _test_patients(run_dir / run_files.TEST_PATIENTS)
    body += _all_metrics(metrics)
    return html(f"{task} run {run_dir.name}", body)


def _number(value: object, spec: str = ".3f") -> str:
    """A value as the README writes it, or as it stands when it is no number."""
    try:
        return format(float(value), spec)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)


def _interval(metrics: Mapping[str, float], key: str) -> str:
    low, high = metrics.get(f"{key}_ci_low"), metrics.get(f"{key}_ci_high")
    return "" if low is None or high is None else f"[{low:.3f}, {high:.3f}]"


def _result_table(metrics: Mapping[str, float], prefix: str, count: tuple[str, str]) -> Table:
    rows = []
    for label, key in RESULT_ROWS:
        if f"{prefix}{key}" in metrics:
            interval = _interval(metrics, f"{prefix}{key}")
            if delong := _interval(metrics, f"{prefix}{key}_delong"):
                interval += f"; DeLong {delong}"
            rows.append((label, _number(metrics[f"{prefix}{key}"]), interval))
    rows.append(count)
    return Table(("metric", "value", "95% CI"), rows)


def _results(metrics: Mapping[str, float] | None) -> list[Block]:
    out = [Heading(2, "Test results")]
    if metrics is None:
        return [*out, Note("metrics.json is missing: no results.")]
    out.append(
        "Per patient first (a patient's score is the mean of its images'), then per image. "
        "Sensitivity, specificity, balanced accuracy and F1 are at the threshold chosen on "
        "the validation patients, applied unchanged to test. 95% intervals: bootstrap over "
        "patients (BCa; a perfectly separated split gets a one-sided interval), DeLong's on "
        "the logit scale; with fewer than 12 patients in a class they are approximate. "
        "Recalibrated: `eval.calibrate` (default `prior`, which removes the shift of the "
        "training class weights)."
    )
    levels = []
    if "test/patient/auroc" in metrics:
        n, positive = metrics.get("test/patient/n", 0), metrics.get("test/patient/n_positive", 0)
        count = ("patients", f"{n:.0f} ({positive:.0f} positive)", "")
        levels.append(("Patients", _result_table(metrics, "test/patient/", count)))
    n_images = sum(metrics.get(f"test/{k}", 0) for k in ("tp", "fp", "tn", "fn"))
    levels.append(("Images", _result_table(metrics, "test/", ("images", f"{n_images:.0f}", ""))))
    out += [Row([[Heading(3, title), table] for title, table in levels])]
    points = [m.group(1) for key in metrics if (m := OPERATING_POINT.match(key))]
    if points:
        rows = []
        for point in points:
            base = f"test/patient/{point}/"
            cells = [f"{metrics[base + k]:.3f} {_interval(metrics, base + k)}" for k in SENS_SPEC]
            rows.append((point, _number(metrics[base + "threshold"]), *cells))
        header = ("cut chosen on val", "threshold", "sensitivity [95% CI]", "specificity [95% CI]")
        out += [Heading(3, "Operating points (patients)"), Table(header, rows)]
    return out + _sites(metrics) + _other_camera(metrics)


def _sites(metrics: Mapping[str, float]) -> list[Block]:
    """Each site's test patients on their own (`data.site_from`), at the same threshold."""
    sites = sorted({m.group(1) for key in metrics if (m := SITE.match(key))})
    if not sites:
        return []
    rows = []
    for site in sites:
        base = f"test/site/{site}/patient/"
        count = f"{metrics[base + 'n']:.0f} ({metrics[base + 'n_positive']:.0f} positive)"
        cells = [
            f"{metrics[base + k]:.3f} {_interval(metrics, base + k)}"
            if base + k in metrics
            else "n/a: one class"
            for k in ("auroc", *SENS_SPEC)
        ]
        rows.append((site, count, *cells))
    header = ("site", "patients", "AUROC [95% CI]", "sensitivity", "specificity")
    return [Heading(3, "Per site (patients)"), Table(header, rows)]


def _other_camera(metrics: Mapping[str, float]) -> list[Block]:
    """In-domain beside out-of-domain: the same test patients on another camera
    (`eval.shift_dir`), or val against a site never trained on (`data.site_folds`)."""
    if "test/unseen_site/patient/auroc_drop" in metrics:
        return _unseen_site(metrics)
    if "shift/patient/auroc_drop" not in metrics:
        return []
    rows = [
        (name, f"{metrics[key]:.3f} {_interval(metrics, key)}")
        for name, key in (
            ("val patients, training camera", "val/patient/auroc"),
            ("test patients, training camera", "test/patient/auroc"),
            ("the same test patients, other camera", "shift/patient/auroc"),
            ("drop (training minus other camera, paired)", "shift/patient/auroc_drop"),
        )
        if key in metrics
    ]
    text = (
        f"The run's test patients as eval.shift_dir shows them, every val choice kept; "
        f"{metrics['shift/patient/n_paired']:.0f} patients in the pair. Their own report: "
        "shift/report.html."
    )
    header = ("patients", "patient AUROC [95% CI]")
    return [Heading(3, "Another camera"), text, Table(header, rows)]


def _unseen_site(metrics: Mapping[str, float]) -> list[Block]:
    drop = "test/unseen_site/patient/auroc_drop"
    rows = [
        ("val patients, the training sites", f"{metrics['val/patient/auroc']:.3f}"),
        ("test patients, a site never trained on", _with_ci(metrics, "test/patient/auroc")),
        ("drop (val minus test)", f"{_with_ci(metrics, drop)}, p = {metrics[drop + '_p']:.3g}"),
    ]
    text = (
        "Leave one site out: different people in val and test, so each set is resampled on its "
        "own (percentile interval); the val patients also chose the threshold and the "
        "checkpoint, which flatters them."
    )
    header = ("patients", "patient AUROC [95% CI]")
    return [
        Heading(3, "A site never trained on"),
        text,
        Table(header, rows),
    ]


def _with_ci(metrics: Mapping[str, float], key: str) -> str:
    return f"{metrics[key]:.3f} {_interval(metrics, key)}".strip()


def _figures(run_dir: Path) -> list[Block]:
    names = (
        (run_files.ROC, "Test ROC (per image), with the val-chosen threshold's point"),
        (run_files.RELIABILITY, "Reliability diagram"),
        (run_files.CONFUSION, "Confusion matrix (per image, val-chosen threshold)"),
    )
    figures = [Figure(run_dir / name, caption, width=320) for name, caption in names]
    return [Heading(2, "Figures"), Row([[figure] for figure in figures])]


def _shortcuts(metrics: Mapping[str, float] | None, cfg: Mapping) -> list[Block]:
    out = [Heading(2, "Where the model looks (shortcut checks)")]
    keys = [f"test/attention/{k}" for k in LOOKS if f"test/attention/{k}" in (metrics or {})]
    if metrics is None or (ALARM_KEY not in metrics and not keys):
        return [*out, Note("No attention metrics (explain.focus_metrics=false).")]
    explain = cfg.get("explain") or {}
    rule = (
        f"in_face below `explain.min_in_face_lift` ({explain.get('min_in_face_lift')}) x "
        "face_area, or background_effect above `explain.max_background_effect` "
        f"({explain.get('max_background_effect')})"
    )
    if metrics.get(ALARM_KEY) == 1.0:
        alarm = f"SHORTCUT ALARM: `{ALARM_KEY}` = 1 ({rule}). The score may rest on the "
        out.append(Box("alarm", alarm + "background: try a face mask, see the overlays."))
    elif ALARM_KEY in metrics:
        out.append(Box("ok", f"No shortcut alarm ({rule}: not met)."))
    rows = [(key, _number(metrics[key])) for key in keys]
    rows += [(k, _number(v)) for k, v in metrics.items() if k.startswith("test/asymmetry/")]
    if EFFECT_KEY not in metrics:
        rows.append((EFFECT_KEY, "not measured"))
    return [*out, Table(("metric", "value"), rows)]


def _explanations(folder: Path) -> list[Block]:
    out = [Heading(2, "Explanations: class maps of fixed test images")]
    rows = read_csv(folder / run_files.EXPLAIN_INDEX, ("file", "label", "prob_positive"))
    if rows is None:
        return [*out, Note(f"{run_files.EXPLAIN_INDEX} is missing: no overlays shown.")]
    figures = []
    for row in rows:
        caption = (
            f"{row['label']}, p={_number(row['prob_positive'], '.2f')}: "
            f"{row.get('outcome', '').upper()}, in_face {_number(row.get('in_face'), '.2f')} "
            f"| {Path(row.get('path') or row['file']).name}"
        )
        figures.append(Figure(folder / Path(row["file"]).name, caption, width=360))
    return [*out, Row([[figure] for figure in figures])]


def _cohort(run_dir: Path) -> list[Block]:
    out = [Heading(2, "Cohort explanation")]
    maps, regions = run_dir / run_files.COHORT_MAPS, run_dir / run_files.COHORT_REGIONS
    if not maps.is_file() and not regions.is_file():
        return [*out, Note(f"No cohort explanation ({run_files.COHORT_DIR}/) for this run.")]
    out.append(Figure(maps, "Mean class maps per class"))
    rows = read_csv(regions, ("region",))
    if rows is None:
        return [*out, Note(f"{regions.name} is missing: no region table.")]
    header = list(rows[0]) if rows else ["region"]
    cells = [[_region_cell(k, row[k]) for k in header] for row in rows]
    return [*out, Table(header, cells)]


def _region_cell(column: str, value: str) -> str:
    if column in ("p", "p_holm"):
        return _number(value, ".3g")
    return value if column == "region" or column.startswith("n_") else _number(value)


def _test_patients(path: Path) -> list[Block]:
    rows = read_csv(path, ("patient", "label", "score", "predicted"))
    if rows is None:
        return [Heading(2, "Test patients"), Note(f"{path.name} is missing.")]
    wrong = ["wrong" if row["label"] != row["predicted"] else "" for row in rows]
    table = [
        (r["patient"], r["label"], r.get("n_images", ""), _number(r["score"]), r["predicted"])
        for r in rows
    ]
    header = ("patient", "label", "images", "score", "predicted")
    summary = f"Test patients ({len(rows)}, {wrong.count('wrong')} wrong, marked)"
    return [Details(summary, Table(header, table, wrong))]


def _all_metrics(metrics: Mapping[str, float] | None) -> list[Block]:
    if metrics is None:
        return []
    rows = [(key, _number(value, ".4f")) for key, value in metrics.items()]
    return [Details("All metrics (metrics.json)", Table(("key", "value"), rows))]
