"""The words and tables of an evaluation's report (training/report.py), from its metrics dict alone.

Keys that are not always there (a metric added later, an evaluation without trusted events) are read with
defaults: a report is written for every evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ivcrush.constants import QUANTILE_NAMES

MODEL_ROW = "model"
REFERENCE_LABEL = "trusted scaled history: the ticker's trusted moves, scaled and calibrated (median)"
WINDOW_HEADER = (
    "fold",
    "training rows",
    "last training outcome known",
    "first test decision",
    "last test decision",
    "test rows",
    "trusted test rows",
)
GROUPS = (("pooled", None), ("fold", "by_fold"), ("prior trusted", "by_history"), ("timing", "by_timing"))


def table(
    header: Sequence[str], rows: list[list[object]], classes: list[str] | None = None, text_columns: Sequence[int] = ()
) -> dict[str, object]:
    """A table as evaluation.html.j2 (macro `table`) takes it."""
    return {"header": list(header), "rows": rows, "classes": classes, "text_columns": tuple(text_columns)}


def number(value: object, digits: int = 4) -> str:
    """A metric as a cell: rounded, "-" where missing."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) >= 1e4 else f"{round(value, digits):g}"
    return str(value)


def verdict_words(verdict: Mapping[str, Any]) -> tuple[str, str]:
    """("ahead, significant" | "ahead, not significant" | "behind", CSS kind) of one gate target."""
    if verdict.get("skill"):
        return "ahead, significant", "good"
    if verdict.get("gain", 0) > 0:
        return "ahead, not significant", "warn"
    return "behind", "bad"


def _gate_targets(metrics: Mapping[str, Any]) -> dict[str, Any]:
    return metrics.get("trusted", {}).get("gate", {}).get("targets", {})


def headline(metrics: Mapping[str, Any]) -> list[str]:
    """The evaluation in a few plain sentences: what was tested, where the model stands, what serving uses."""
    trusted, setup = metrics.get("trusted", {}), metrics.get("setup", {})
    folds = setup.get("folds", [])
    first = min((str(f.get("test_first_decision", ""))[:10] for f in folds), default="")
    last = max((str(f.get("test_last_decision", ""))[:10] for f in folds), default="")
    window = f", decisions from {first} to {last}" if first and last else ""
    lines = [
        f"Tested out of sample on {trusted.get('n', 0)} events with trusted labels in {len(folds)} fold(s){window}; "
        f"{metrics.get('untrusted', {}).get('n', 0)} events with untrusted labels are kept apart."
    ]
    if setup.get("calibration_refresh"):
        lines.append(f"Calibration: {setup['calibration_refresh']}.")
    targets = _gate_targets(metrics)
    if targets:
        words = "; ".join(f"{name}: {verdict_words(v)[0]}" for name, v in targets.items())
        baselines = sorted({str(v["baseline"]) for v in targets.values()})
        serving = (
            "serving uses the model's calibrated quantiles"
            if metrics.get("verdicts", {}).get("move_size", {}).get("skill")
            else "serving uses the trusted scaled-history distribution instead of the model's quantiles"
        )
        lines.append(f"Move size against its best baseline ({', '.join(baselines)}): {words}. Hence {serving}.")
    checks = metrics.get("targets", [])
    if checks:
        missed = [c["target"] for c in checks if not c.get("met")]
        lines.append(
            f"Calibration targets: {len(checks) - len(missed)} of {len(checks)} met"
            + (f"; not met: {'; '.join(missed)}." if missed else ".")
        )
    verdicts = metrics.get("verdicts", {})
    lines += [str(verdicts[name]["sentence"]) for name in ("direction", "iv_crush") if name in verdicts]
    return lines


def gate_section(metrics: Mapping[str, Any]) -> dict[str, object] | None:
    """The gate's badges ("pinball: ahead, significant") and its table, per target."""
    targets = _gate_targets(metrics)
    if not targets:
        return None
    rows, classes, badges = [], [], []
    for name, v in targets.items():
        words, kind = verdict_words(v)
        low, high = v["gain_ci95"]
        rows.append(
            [
                name,
                words,
                v["baseline"],
                f"{v['loss']:.4f}",
                f"{v['baseline_loss']:.4f}",
                f"{v['gain']:+.4f}",
                f"{low:+.4f} .. {high:+.4f}",
                ", ".join(f"{fold}: {gain:+.4f}" for fold, gain in v.get("fold_gains", {}).items()),
                "yes" if v["skill"] else "no",
            ]
        )
        classes.append(kind)
        badges.append((name, words, kind))
    header = ["target", "verdict", "best baseline", "model loss", "baseline loss", "gain", "95% CI", "gain per fold"]
    return {"badges": badges, "table": table([*header, "skill"], rows, classes, text_columns=(1, 2, 7))}


def targets_table(metrics: Mapping[str, Any]) -> dict[str, object]:
    """The calibration targets, each per fold and pooled, met or not."""
    checks = metrics.get("targets", [])
    folds = sorted({fold for c in checks for fold in c.get("by_fold", {})})
    rows = [
        [
            c["target"],
            *(number(c.get("by_fold", {}).get(f)) for f in folds),
            number(c["pooled"]),
            "met" if c["met"] else "NOT met",
        ]
        for c in checks
    ]
    classes = ["good" if c["met"] else "bad" for c in checks]
    return table(["target", *(f"fold {f}" for f in folds), "pooled", ""], rows, classes, text_columns=(0,))


def _forecast_groups(metrics: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """("pooled" | "fold 0" | "prior trusted 1-2" | "timing BMO", its table), those with events."""
    tables = metrics.get("trusted", {}).get("forecast", {})
    groups: list[tuple[str, Mapping[str, Any]]] = []
    for label, key in GROUPS:
        if key is None:
            groups.append((label, tables.get("pooled", {})))
        else:
            groups += [(f"{label} {name}", t) for name, t in tables.get(key, {}).items()]
    return [(name, t) for name, t in groups if t.get("n")]


def calibration_tables(metrics: Mapping[str, Any]) -> dict[str, dict[str, object]]:
    """`calibration` (coverage, share below each quantile, pinball, MAE) and `tails` (predicted / observed
    exceedance shares), per fold, pooled, by prior trusted history and by timing."""
    groups = _forecast_groups(metrics)
    header = ["events", "n", "coverage 80%", *(f"below {q}" for q in QUANTILE_NAMES), "pinball", "/ empirical", "MAE"]
    calibration = [
        [
            name,
            t["n"],
            number(t.get("coverage_80")),
            *(number(t.get("share_below", {}).get(q)) for q in QUANTILE_NAMES),
            number(t.get("mean_pinball")),
            number(t.get("pinball_ratio_empirical")),
            number(t.get("mae")),
        ]
        for name, t in groups
    ]
    tails = list(groups[0][1].get("tail", {})) if groups else []
    tail_rows = [
        [
            name,
            t["n"],
            *(f"{number(t['tail'][x]['predicted'])} / {number(t['tail'][x]['observed'])}" for x in tails),
        ]
        for name, t in groups
    ]
    return {
        "calibration": table(header, calibration),
        "tails": table(["events", "n", *(f"{x} pred / obs" for x in tails)], tail_rows),
    }


def fold_tables(metrics: Mapping[str, Any]) -> dict[str, dict[str, object]]:
    """`folds`: move size and coverage per fold, model next to baselines; `windows`: each fold's dates."""
    by_fold = metrics.get("trusted", {}).get("by_fold", [])
    folds = table(
        ["fold", "trusted events", "MAE model", "MAE 2.0 mean", "coverage 80% model", "coverage 80% empirical"],
        [
            [
                f"fold {f['fold']}",
                f["n"],
                number(f.get("mae_model")),
                number(f.get("mae_2_0_mean")),
                number(f.get("coverage_80_model")),
                number(f.get("coverage_80_empirical")),
            ]
            for f in by_fold
        ],
    )
    setup_folds = metrics.get("setup", {}).get("folds", [])
    windows = table(
        WINDOW_HEADER,
        [
            [
                f"fold {f.get('fold')}",
                f.get("train_rows", "-"),
                str(f.get("train_last_outcome_known_at", "-"))[:16],
                str(f.get("test_first_decision", "-"))[:16],
                str(f.get("test_last_decision", "-"))[:16],
                f.get("test_rows", "-"),
                f.get("test_trusted_rows", "-"),
            ]
            for f in setup_folds
        ],
    )
    return {"folds": folds, "windows": windows}


def move_size_table(metrics: Mapping[str, Any]) -> dict[str, object]:
    """MAE, RMSE and R^2 of the model's median and of every point baseline on the same trusted events."""
    size = metrics.get("trusted", {}).get("move_size", {})
    labels = {MODEL_ROW: "the model: median of its calibrated move distribution", "ref_q50": REFERENCE_LABEL}
    labels |= metrics.get("baselines", {})
    rows = [
        [name, labels.get(name, ""), number(m.get("mae")), number(m.get("rmse")), number(m.get("r2"))]
        for name, m in size.items()
    ]
    classes = ["good" if name == MODEL_ROW else "" for name in size]
    return table(["forecast", "what it is", "MAE", "RMSE", "R²"], rows, classes, text_columns=(1,))


def _shares(shares: Mapping[str, float] | None) -> str | None:
    return None if shares is None else ", ".join(f"{name} {share:.1%}" for name, share in shares.items())


def setup_pairs(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """How the evaluation was run and on which data, as (name, value) pairs."""
    setup, dataset = metrics.get("setup", {}), metrics.get("dataset", {})
    pairs = [
        ("mode", setup.get("mode")),
        ("train until / test from", f"{setup.get('train_until') or '-'} / {setup.get('test_from') or '-'}"),
        ("trained on trusted labels only", setup.get("trusted_only_training")),
        ("boosting rounds (quantiles)", f"{setup.get('num_boost_round')} ({setup.get('quantile_rounds')})"),
        ("hyperparameters", setup.get("hyperparameters")),
        ("point estimate", setup.get("point_estimate")),
        ("labels shuffled (control run)", setup.get("shuffled_labels")),
        ("build", dataset.get("build_id")),
        ("source fingerprint", dataset.get("source_fingerprint")),
        ("feature service", dataset.get("feature_service")),
        ("training set", f"{dataset.get('rows')} rows, content hash {dataset.get('frame_hash')}"),
        ("share of events where a baseline fell back", _shares(metrics.get("trusted", {}).get("fallback_shares"))),
    ]
    pairs += [(f"note: {name}", note) for name, note in setup.get("notes", {}).items()]
    return [(name, "-" if value is None else str(value)) for name, value in pairs]
