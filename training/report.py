"""report.html of an evaluation: plain-words summary, the skill gate per target, the calibration and tail
tables (per fold, pooled, by prior trusted history and by timing), then figures with the baseline next to the
model (PIT histogram and reliability plot of the move distribution among them)."""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_LEVELS, QUANTILE_NAMES
from ivcrush.training.baselines import EMPIRICAL_NAMES
from ivcrush.training.train import MOVE_LABEL


def _save(fig: plt.Figure, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def _predicted_vs_actual(rows: pd.DataFrame, folder: Path) -> str:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharex=True, sharey=True)
    limit = float(np.nanpercentile(rows[MOVE_LABEL], 99)) if len(rows) else 1.0
    for ax, column, title in ((axes[0], "point", "model (q50)"), (axes[1], "base_2_0_mean", "2.0 mean (baseline)")):
        ax.scatter(rows[column], rows[MOVE_LABEL], s=6, alpha=0.35)
        ax.plot([0, limit], [0, limit], color="black", lw=1)
        ax.set(xlim=(0, limit), ylim=(0, limit), xlabel="predicted |move| %", ylabel="actual |move| %", title=title)
    return _save(fig, folder / "predicted_vs_actual.png")


def _calibration(rows: pd.DataFrame, folder: Path) -> str:
    fig, ax = plt.subplots(figsize=(5, 4.5))
    y = rows[MOVE_LABEL].to_numpy()
    model = [np.mean(y < rows[name]) for name in QUANTILE_NAMES]
    base = [np.mean(y < rows[name]) for name in EMPIRICAL_NAMES]
    ax.plot([0, 1], [0, 1], color="black", lw=1, label="perfect")
    ax.plot(QUANTILE_LEVELS, model, "o-", label="model")
    ax.plot(QUANTILE_LEVELS, base, "s--", label="empirical quantiles (baseline)")
    ax.set(xlabel="nominal quantile", ylabel="observed share below", title="Quantile calibration")
    ax.legend()
    return _save(fig, folder / "quantile_calibration.png")


def _coverage_by_fold(metrics: dict[str, object], folder: Path) -> str:
    by_fold = pd.DataFrame(metrics["trusted"]["by_fold"])
    fig, ax = plt.subplots(figsize=(6, 4))
    if len(by_fold):
        x = np.arange(len(by_fold))
        ax.bar(x - 0.2, by_fold["coverage_80_model"], 0.4, label="model q10-q90")
        ax.bar(x + 0.2, by_fold["coverage_80_empirical"], 0.4, label="empirical q10-q90 (baseline)")
        ax.set_xticks(x, [f"fold {f}" for f in by_fold["fold"]])
    ax.axhline(0.8, color="black", lw=1, label="nominal 80%")
    ax.set(ylim=(0, 1), ylabel="coverage", title="80% interval coverage by fold")
    ax.legend(loc="lower right")
    return _save(fig, folder / "coverage_by_fold.png")


def _error_by_timing(metrics: dict[str, object], folder: Path) -> str:
    timing = {k: v for k, v in metrics["trusted"]["by_timing"].items() if v.get("n")}
    fig, ax = plt.subplots(figsize=(6, 4))
    names = list(timing)
    x = np.arange(len(names))
    ax.bar(x - 0.2, [timing[t]["move_size"]["model"]["mae"] for t in names], 0.4, label="model")
    ax.bar(x + 0.2, [timing[t]["move_size"]["base_2_0_mean"]["mae"] for t in names], 0.4, label="2.0 mean (baseline)")
    ax.set_xticks(x, [f"{t} (n={timing[t]['n']})" for t in names])
    ax.set(ylabel="MAE, % points", title="Error by timing (trusted labels)")
    ax.legend()
    return _save(fig, folder / "error_by_timing.png")


def _importance(importance: pd.Series, folder: Path) -> str:
    top = importance.head(15)[::-1]
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.barh(top.index, top.to_numpy())
    base = "hm_close_mean_12q_all_rows"
    if base in importance.index:
        rank = list(importance.index).index(base) + 1
        ax.set_title(f"Feature importance (gain, q50)\n2.0's statistic {base} ranks #{rank}")
    else:
        ax.set_title("Feature importance (gain, q50)")
    return _save(fig, folder / "feature_importance.png")


def _pit(metrics: dict[str, object], folder: Path) -> str:
    counts = np.asarray(metrics["trusted"]["forecast"]["pit_histogram"], dtype="float64")
    fig, ax = plt.subplots(figsize=(6, 4))
    if counts.sum():
        edges = np.linspace(0, 1, len(counts) + 1)
        ax.bar(edges[:-1], counts / counts.sum(), width=np.diff(edges), align="edge", edgecolor="white")
        ax.axhline(1 / len(counts), color="black", lw=1, label="calibrated (uniform)")
        ax.legend(loc="lower right")
    ax.set(xlabel="forecast CDF at the realised |move| (PIT)", ylabel="share of events", title="PIT histogram")
    return _save(fig, folder / "pit_histogram.png")


def _reliability(metrics: dict[str, object], folder: Path) -> str:
    points = pd.DataFrame(metrics["trusted"]["forecast"]["reliability"])
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.plot([0, 1], [0, 1], color="black", lw=1, label="perfect")
    if len(points):
        for threshold, group in points.groupby("threshold"):
            ax.plot(group["predicted"], group["observed"], "o-", ms=3, label=f"P(|move| > {threshold:g}%)")
    ax.set(xlabel="predicted probability", ylabel="observed frequency", title="Reliability of P(|move| > x)")
    ax.legend(fontsize=8)
    return _save(fig, folder / "reliability.png")


def _html_table(header: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table border=1 cellpadding=4><tr>{head}</tr>{body}</table>"


def _gate_table(metrics: dict[str, object]) -> str:
    targets = metrics["trusted"].get("gate", {}).get("targets", {})
    rows = [
        [
            name,
            v["baseline"],
            f"{v['loss']:.4f}",
            f"{v['baseline_loss']:.4f}",
            f"{v['gain']:+.4f}",
            f"{v['gain_ci95'][0]:+.4f}..{v['gain_ci95'][1]:+.4f}",
            ", ".join(f"{fold}: {gain:+.4f}" for fold, gain in v["fold_gains"].items()),
            "yes" if v["skill"] else "no",
        ]
        for name, v in targets.items()
    ]
    header = ["target", "best baseline", "model loss", "baseline loss", "gain", "95% CI", "gain per fold", "skill"]
    return _html_table(header, rows)


def _forecast_tables(metrics: dict[str, object]) -> str:
    tables = metrics["trusted"]["forecast"]
    groups = {"pooled": tables["pooled"]}
    groups |= {f"fold {k}": v for k, v in tables["by_fold"].items()}
    groups |= {f"prior trusted {k}": v for k, v in tables["by_history"].items()}
    groups |= {f"timing {k}": v for k, v in tables["by_timing"].items()}
    groups = {k: v for k, v in groups.items() if v.get("n")}
    if not groups:
        return ""
    tails = list(next(iter(groups.values()))["tail"])
    header = ["events", "n", "coverage 80%", *(f"below {q}" for q in QUANTILE_NAMES), "pinball", "/ empirical", "MAE"]
    header += [f"{t} pred / obs" for t in tails]
    rows = [
        [
            name,
            t["n"],
            t["coverage_80"],
            *(t["share_below"][q] for q in QUANTILE_NAMES),
            t["mean_pinball"],
            t["pinball_ratio_empirical"],
            t["mae"],
            *(f"{t['tail'][label]['predicted']} / {t['tail'][label]['observed']}" for label in tails),
        ]
        for name, t in groups.items()
    ]
    return _html_table(header, rows)


def _table(metrics: dict[str, object]) -> str:
    size = metrics["trusted"].get("move_size", {})
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{m['mae']}</td><td>{m['rmse']}</td><td>{m['r2']}</td></tr>"
        for name, m in size.items()
    )
    return f"<table border=1 cellpadding=4><tr><th></th><th>MAE</th><th>RMSE</th><th>R^2</th></tr>{rows}</table>"


def write_report(out_dir: Path, rows: pd.DataFrame, metrics: dict[str, object], importance: pd.Series) -> Path:
    """Write report.html and its PNG figures into out_dir (trusted labels only in the figures)."""
    out_dir = Path(out_dir)
    trusted = rows[rows["label_trusted"].astype(bool)]
    figures = {
        "Predicted vs actual (trusted labels), model next to the 2.0 mean": _predicted_vs_actual(trusted, out_dir),
        "Quantile calibration, model next to the empirical quantiles": _calibration(trusted, out_dir),
        "80% interval coverage by fold": _coverage_by_fold(metrics, out_dir),
        "Error by timing": _error_by_timing(metrics, out_dir),
        "PIT histogram of the move distribution (uniform when calibrated)": _pit(metrics, out_dir),
        "Reliability of the exceedance probabilities": _reliability(metrics, out_dir),
        "Feature importance": _importance(importance, out_dir),
    }
    summary = "".join(f"<li>{html.escape(s)}</li>" for s in metrics["summary"])
    body = "".join(f"<h3>{html.escape(t)}</h3><img src='{f}'>" for t, f in figures.items())
    setup = html.escape(str(metrics["setup"]["mode"]))
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>ivcrush evaluation</title></head><body>"
        f"<h1>Walk-forward evaluation ({setup})</h1><h2>Summary</h2><ul>{summary}</ul>"
        f"<p>{html.escape(metrics['untrusted']['note'])}.</p>"
        f"<p>Hyperparameters: {html.escape(str(metrics['setup'].get('hyperparameters', '')))}.</p>"
        f"<h2>Skill gate of the move size (block bootstrap by decision week)</h2>{_gate_table(metrics)}"
        f"<h2>Calibration and tail of the move distribution (trusted labels)</h2>{_forecast_tables(metrics)}"
        f"<h2>Move size on trusted labels</h2>{_table(metrics)}{body}</body></html>"
    )
    path = out_dir / "report.html"
    path.write_text(page)
    return path
