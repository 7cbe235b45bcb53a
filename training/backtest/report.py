"""HTML report of a backtest result (`training.backtest`): equity curves and P&L distributions as PNG
(matplotlib, Agg backend), metric tables with their definitions, and every note of the result."""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from ivcrush.training.backtest.metrics import format_table, render_text, sharpe_basis

_STYLE = (
    "body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;font-size:13px;margin:0.5em 0 1.5em}"
    "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}"
    ".note{background:#fff6d5;padding:0.5em 1em;border-left:4px solid #e0b000}"
)


def _curve(frame: pd.DataFrame, pnl: str, exit_col: str = "exit_date") -> pd.Series:
    if frame.empty:
        return pd.Series(dtype=float)
    ordered = frame.sort_values(exit_col, kind="stable")
    return ordered.groupby(pd.to_datetime(ordered[exit_col]))[pnl].sum().cumsum()


def _plot_curves(curves: dict[str, pd.Series], title: str, ylabel: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4))
    for name, curve in curves.items():
        if not curve.empty:
            ax.step(curve.index, curve.to_numpy(), where="post", label=f"{name} ({curve.iloc[-1]:,.1f})")
    ax.axhline(0, color="#999", lw=0.8)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _plot_distribution(values: pd.Series, labels: list[str] | None, title: str, xlabel: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4))
    if labels is not None and len(values) <= 60:  # few positions: one bar each
        colors = ["#2a7" if v > 0 else "#c33" for v in values]
        ax.bar(range(len(values)), values.to_numpy(), color=colors)
        ax.set_xticks(range(len(values)), labels, rotation=90, fontsize=7)
        ax.set_ylabel(xlabel)
    else:
        ax.hist(values.dropna().to_numpy(), bins=60, color="#48a")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("count")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _table(frame: pd.DataFrame, unit: str | None = None) -> str:
    shown = format_table(frame, unit) if unit is not None else frame
    return shown.to_html(border=0, na_rep="", float_format=lambda v: f"{v:,.4g}")


def _notes(notes: list[str]) -> str:
    return "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)


def _journal_sections(result: dict, out_dir: Path) -> list[str]:
    positions = result["positions"]
    later = positions[positions["window"] == "apply (later)"]
    threshold = result["threshold"]
    taken = later[later["taken_by_policy"]]
    _plot_curves(
        {"take all": _curve(later, "pnl"), f"filtered (p_breach <= {threshold:g})": _curve(taken, "pnl")},
        "Earnings positions after the split date: cumulative P&L by exit date",
        "$",
        out_dir / "equity_journal.png",
    )
    every = result["journal_positions"].sort_values("exit_date")
    _plot_distribution(
        every["pnl"],
        [f"{s} {d:%m-%d}" for s, d in zip(every["symbol"], every["entry_date"], strict=True)],
        "P&L per position (whole journal)",
        "$",
        out_dir / "pnl_journal.png",
    )
    split = result["policy_split_date"]
    sections = [
        "<h2>Policy: skip earnings positions with a high breach probability</h2>",
        f"<p>Threshold <b>{threshold:g}</b>: {html.escape(result['threshold_chosen'])}. "
        f"Chosen on {result['early_count']} positions before {split:%Y-%m-%d}, applied to "
        f"{result['later_count']} on or after it.</p>"
        if split is not None
        else "",
        _table(result["side_by_side"], "$"),
        '<img src="equity_journal.png">',
        "<h3>Positions the policy would have skipped</h3>",
        _table(result["skipped"]) if len(result["skipped"]) else "<p>none</p>",
        "<h3>Threshold grid (early window)</h3>",
        _table(result["grid"]),
        "<h2>The whole journal (take all)</h2>",
        '<img src="pnl_journal.png">',
    ]
    for name, table in result["journal_metrics"].items():
        sections += [f"<h3>{html.escape(name)}</h3>", _table(table, "$")]
    wanted = ["position_id", "structure", "description", "exit_date", "pnl", "earnings_timing", "reaction_date"]
    wanted += ["decision_spot", "strike_distance_pct", "q50", "q90", "p_breach", "window", "forecast_note"]
    columns = [c for c in wanted if c in positions]
    sections += ["<h3>Earnings positions with their forecasts</h3>", _table(positions[columns])]
    sections += ["<h3>All positions</h3>", _table(result["journal_positions"].drop(columns=["short_strikes"]))]
    return sections


def _simulate_sections(result: dict, out_dir: Path) -> list[str]:
    events = result["events"]
    trusted = events[events["label_trusted"].astype(bool)]
    rules = {"take all": trusted, "2.0 rule": trusted[trusted["trade_2_0"]], "ML rule": trusted[trusted["trade_ml"]]}
    for structure in ("straddle", "strangle"):
        _plot_curves(
            {name: _curve(frame, f"pnl_{structure}_pct") for name, frame in rules.items()},
            f"Simulated short {structure}, trusted labels: cumulative P&L (% of spot per trade)",
            "sum of % of spot",
            out_dir / f"equity_{structure}.png",
        )
    _plot_distribution(
        trusted["pnl_straddle_pct"],
        None,
        "Short straddle P&L per event (trusted)",
        "% of spot",
        out_dir / "pnl_sim.png",
    )
    sections = [
        f"<p>Implied moves: <b>{html.escape(result['implied_note'])}</b>. ML threshold {result['ml_threshold']:g}.</p>"
    ]
    for key, title in (("trusted", "Trusted labels (settlement)"), ("untrusted", "Untrusted labels (NOT evidence)")):
        sections.append(f"<h2>{title}</h2>")
        for structure, table in result[key].items():
            sections += [f"<h3>short {structure}</h3>", _table(table, "%")]
        if key == "trusted":
            sections += [
                '<img src="equity_straddle.png">',
                '<img src="equity_strangle.png">',
                '<img src="pnl_sim.png">',
            ]
    sections += ["<h3>Walk-forward folds</h3>", _table(result["folds"])]
    return sections


def write_report(result: dict, out_dir: Path) -> Path:
    """Write `report.html` and its PNGs into `out_dir` (created); return the HTML path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    kind = result.get("kind")
    if kind == "journal":
        title = "Journal backtest"
        body = _journal_sections(result, out_dir)
        definitions = render_text(result["side_by_side"].iloc[:0], "$", result["equity"]).splitlines()[1:]
    elif kind == "simulate":
        title = "Simulated backtest"
        body = _simulate_sections(result, out_dir)
        definitions = [sharpe_basis(100.0, "% of spot")]
    else:
        raise ValueError(f"not a backtest result (kind={kind!r})")
    page = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
        _notes(result["notes"]),
        *body,
        "<h2>Definitions</h2><ul>",
        *(f"<li>{html.escape(line)}</li>" for line in definitions),
        "</ul></body></html>",
    ]
    path = out_dir / "report.html"
    path.write_text("\n".join(page), encoding="utf-8")
    return path


def summary_text(result: dict) -> str:
    """Plain-text summary for the terminal: the main tables and every note."""
    lines: list[str] = []
    if result["kind"] == "journal":
        lines += ["Whole journal (take all):", render_text(result["journal_metrics"]["all"], "$", result["equity"])]
        lines += ["", "By structure:", format_table(result["journal_metrics"]["by structure"]).to_string()]
        lines += ["", f"Policy threshold {result['threshold']:g}: {result['threshold_chosen']}"]
        lines += ["Take all vs filtered (positions after the split):", format_table(result["side_by_side"]).to_string()]
        skipped = result["skipped"]
        lines += ["Skipped:", skipped.to_string(index=False) if len(skipped) else "none"]
    else:
        lines.append(f"Implied moves: {result['implied_note']}")
        for key in ("trusted", "untrusted"):
            for structure, table in result[key].items():
                lines += ["", f"{key} labels, short {structure}:", format_table(table, "%").to_string()]
    lines += ["", *(f"NOTE: {n}" for n in result["notes"])]
    return "\n".join(lines)
