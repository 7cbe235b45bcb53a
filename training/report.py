"""report.html of an evaluation, on the report family (`ivcrush.reports`, template evaluation.html.j2): a
plain-words summary, the skill gate per target, the calibration and tail tables (per fold, pooled, by prior
trusted history and by timing), the move size next to every baseline, then figures with the baseline next to
the model (PIT histogram and reliability plot of the move distribution among them). The page is
self-contained (figures embedded); each figure is also written beside it as a PNG, for slides."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_LEVELS, QUANTILE_NAMES
from ivcrush.reports import figure_png, png_data_uri, render, write_page
from ivcrush.training.baselines import EMPIRICAL_NAMES
from ivcrush.training.report_tables import (
    calibration_tables,
    fold_tables,
    gate_section,
    headline,
    move_size_table,
    setup_pairs,
    targets_table,
)
from ivcrush.training.train import MOVE_LABEL

REPORT_FILE = "report.html"
BASELINE_COLOR, MODEL_COLOR = "#9aa5b1", "#2f6fdf"


def _legend_below(ax: plt.Axes) -> None:
    """The legend under the axes, where it hides no bar."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=8, frameon=False)


def _predicted_vs_actual(rows: pd.DataFrame, metrics: Mapping[str, Any]) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharex=True, sharey=True)
    limit = float(np.nanpercentile(rows[MOVE_LABEL], 99)) if len(rows) else 1.0
    panels = (
        (axes[0], "base_2_0_mean", "2.0 mean (baseline)", BASELINE_COLOR),
        (axes[1], "point", "model (q50)", MODEL_COLOR),
    )
    for ax, column, title, color in panels:
        ax.scatter(rows[column], rows[MOVE_LABEL], s=6, alpha=0.35, color=color)
        ax.plot([0, limit], [0, limit], color="black", lw=1)
        ax.set(xlim=(0, limit), ylim=(0, limit), xlabel="predicted |move| %", ylabel="actual |move| %", title=title)
    return fig


def _calibration(rows: pd.DataFrame, metrics: Mapping[str, Any]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    y = rows[MOVE_LABEL].to_numpy()
    model = [np.mean(y < rows[name]) for name in QUANTILE_NAMES]
    base = [np.mean(y < rows[name]) for name in EMPIRICAL_NAMES]
    ax.plot([0, 1], [0, 1], color="black", lw=1, label="perfect")
    ax.plot(QUANTILE_LEVELS, base, "s--", color=BASELINE_COLOR, label="empirical quantiles (baseline)")
    ax.plot(QUANTILE_LEVELS, model, "o-", color=MODEL_COLOR, label="model")
    ax.set(xlabel="nominal quantile", ylabel="observed share below", title="Quantile calibration")
    ax.legend(loc="upper left")
    return fig


def _coverage_by_fold(rows: pd.DataFrame, metrics: Mapping[str, Any]) -> plt.Figure:
    by_fold = pd.DataFrame(metrics["trusted"].get("by_fold", []))
    fig, ax = plt.subplots(figsize=(6, 4))
    if len(by_fold):
        x = np.arange(len(by_fold))
        ax.bar(
            x - 0.2, by_fold["coverage_80_empirical"], 0.4, color=BASELINE_COLOR, label="empirical q10-q90 (baseline)"
        )
        ax.bar(x + 0.2, by_fold["coverage_80_model"], 0.4, color=MODEL_COLOR, label="model q10-q90")
        ax.set_xticks(x, [f"fold {f}" for f in by_fold["fold"]])
    ax.axhline(0.8, color="black", lw=1, label="nominal 80%")
    ax.set(ylim=(0, 1), ylabel="coverage", title="80% interval coverage by fold")
    _legend_below(ax)
    return fig


def _error_by_timing(rows: pd.DataFrame, metrics: Mapping[str, Any]) -> plt.Figure:
    timing = {k: v for k, v in metrics["trusted"].get("by_timing", {}).items() if v.get("n")}
    fig, ax = plt.subplots(figsize=(6, 4))
    names = list(timing)
    x = np.arange(len(names))
    baseline = [timing[t]["move_size"]["base_2_0_mean"]["mae"] for t in names]
    ax.bar(x - 0.2, baseline, 0.4, color=BASELINE_COLOR, label="2.0 mean (baseline)")
    ax.bar(x + 0.2, [timing[t]["move_size"]["model"]["mae"] for t in names], 0.4, color=MODEL_COLOR, label="model")
    ax.set_xticks(x, [f"{t} (n={timing[t]['n']})" for t in names])
    ax.set(ylabel="MAE, % points", title="Error by timing (trusted labels)")
    _legend_below(ax)
    return fig


def importance_figure(importance: pd.Series, shown: int = 15) -> plt.Figure:
    """The top features by gain, with the rank of 2.0's own statistic among them all."""
    top = importance.head(shown)[::-1]
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.barh(top.index, top.to_numpy(), color=MODEL_COLOR)
    ax.set_xlabel("mean gain of the median (q50) booster over the folds")
    base = "hm_close_mean_12q_all_rows"
    title = f"Feature importance: top {len(top)} of {len(importance)} features"
    if base in importance.index:
        rank = list(importance.index).index(base) + 1
        title += f"\n2.0's statistic {base} ranks #{rank}"
    # over the whole figure, left-aligned: a title centred on the axes is cut off where the labels are long
    fig.suptitle(title, x=0.01, ha="left", fontsize=11)
    fig.tight_layout()
    return fig


def _pit(rows: pd.DataFrame, metrics: Mapping[str, Any]) -> plt.Figure:
    counts = np.asarray(metrics["trusted"].get("forecast", {}).get("pit_histogram", []), dtype="float64")
    fig, ax = plt.subplots(figsize=(6, 4))
    if counts.sum():
        edges = np.linspace(0, 1, len(counts) + 1)
        shares = counts / counts.sum()
        ax.bar(edges[:-1], shares, width=np.diff(edges), align="edge", edgecolor="white", color=MODEL_COLOR)
        ax.axhline(1 / len(counts), color="black", lw=1, label="calibrated (uniform)")
        ax.set_ylim(0, max(shares.max(), 1 / len(counts)) * 1.25)
        ax.legend(loc="upper right")
    ax.set(xlabel="forecast CDF at the realised |move| (PIT)", ylabel="share of events", title="PIT histogram")
    return fig


def _reliability(rows: pd.DataFrame, metrics: Mapping[str, Any]) -> plt.Figure:
    points = pd.DataFrame(metrics["trusted"].get("forecast", {}).get("reliability", []))
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.plot([0, 1], [0, 1], color="black", lw=1, label="perfect")
    if len(points):
        for threshold, group in points.groupby("threshold"):
            ax.plot(group["predicted"], group["observed"], "o-", ms=3, label=f"P(|move| > {threshold:g}%)")
    ax.set(xlabel="predicted probability", ylabel="observed frequency", title="Reliability of P(|move| > x)")
    ax.legend(fontsize=8, loc="upper left")
    return fig


FigureMaker = Callable[[pd.DataFrame, Mapping[str, Any]], plt.Figure]
# caption -> (PNG file written beside the page, maker)
FIGURES: dict[str, tuple[str, FigureMaker]] = {
    "Predicted vs actual: the 2.0 mean (baseline) next to the model": ("predicted_vs_actual.png", _predicted_vs_actual),
    "Quantile calibration: the empirical quantiles (baseline) next to the model": (
        "quantile_calibration.png",
        _calibration,
    ),
    "80% interval coverage by fold, baseline next to the model": ("coverage_by_fold.png", _coverage_by_fold),
    "Error by timing, baseline next to the model": ("error_by_timing.png", _error_by_timing),
    "PIT histogram of the move distribution (uniform when calibrated)": ("pit_histogram.png", _pit),
    "Reliability of the exceedance probabilities (on the diagonal when calibrated)": ("reliability.png", _reliability),
}
HEADLINE_FIGURES = ("coverage_by_fold.png", "pit_histogram.png")


def _figure_uri(fig: plt.Figure, path: Path | None) -> str:
    png = figure_png(fig)
    plt.close(fig)
    if path is not None:
        path.write_bytes(png)
    return png_data_uri(png)


def headline_figures(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The figures an overview shows (from the metrics alone), as (caption, data URI)."""
    empty = pd.DataFrame()
    return [
        (caption, _figure_uri(make(empty, metrics), None))
        for caption, (name, make) in FIGURES.items()
        if name in HEADLINE_FIGURES
    ]


def evaluation_title(metrics: Mapping[str, Any]) -> str:
    return f"Evaluation: {metrics.get('setup', {}).get('mode', 'walk-forward')}"


def write_report(out_dir: Path, rows: pd.DataFrame, metrics: Mapping[str, Any], importance: pd.Series) -> Path:
    """Write report.html (self-contained) and its figures as PNGs into out_dir (trusted labels only in the
    figures); return the page's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    trusted = rows[rows["label_trusted"].astype(bool)]
    figures = [
        (caption, _figure_uri(make(trusted, metrics), out_dir / name)) for caption, (name, make) in FIGURES.items()
    ]
    figures.append(
        (
            "Feature importance of the model",
            _figure_uri(importance_figure(importance), out_dir / "feature_importance.png"),
        )
    )
    dataset = metrics.get("dataset", {})
    page = render(
        "evaluation.html.j2",
        title=evaluation_title(metrics),
        subtitle=f"build {dataset.get('build_id', '-')} · {dataset.get('rows', '-')} events in the training set · "
        f"written {str(metrics.get('created_at', ''))[:19].replace('T', ' ')} UTC",
        toc=[
            ("Summary", "summary"),
            ("Skill gate", "gate"),
            ("Calibration and tail", "calibration"),
            ("Move size", "move-size"),
            ("Figures", "figures"),
            ("Set-up", "setup"),
        ],
        footer=f"ivcrush evaluation · {out_dir}",
        headline=headline(metrics),
        flags=list(metrics.get("flags", [])),
        untrusted_note=metrics["untrusted"]["note"],
        gate=gate_section(metrics),
        summary=list(metrics.get("summary", [])),
        targets=targets_table(metrics),
        **calibration_tables(metrics),
        **fold_tables(metrics),
        move_size=move_size_table(metrics),
        figures=figures,
        setup=setup_pairs(metrics),
    )
    return write_page(out_dir / REPORT_FILE, page)
