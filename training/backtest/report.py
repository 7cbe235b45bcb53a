"""What a backtest result says, as formatted tables (shared by the CLI's Rich tables and the HTML page) and
one self-contained HTML report per run (`ivcrush.reports`: template backtest.html.j2, figures embedded)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ivcrush import progress
from ivcrush.reports import render, write_page
from ivcrush.training.backtest import figures
from ivcrush.training.backtest.metrics import CI_FIGURES, EXIT_BOOKED

BOOTSTRAP_NOTE = "percentile bootstrap over campaigns (2,000 draws, in time order, fixed seed)"
LABELS = {
    "count": "campaigns",
    "win_rate": "win rate",
    "profit_factor": "profit factor",
    "net_pnl": "net P&L",
    "max_drawdown": "max drawdown",
}


@dataclass
class TextTable:
    """A table of display strings: what both the terminal and the page show."""

    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""
    text_columns: tuple[int, ...] = field(default=(0,))


def money(value: object) -> str:
    """Dollars as "$157,998" / "-$6,432"; "n/a" where missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)) or pd.isna(value):
        return "n/a"
    amount = float(value)  # type: ignore[arg-type]
    return f"-${-amount:,.0f}" if amount < 0 else f"${amount:,.0f}"


def figure(name: str, value: object, unit: str = "$") -> str:
    """One metric in its unit: rates in %, factors with 2 decimals ("inf" = no loss), money or % of spot."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    number = float(value)  # type: ignore[arg-type]
    if name == "profit_factor":
        return "inf (no loss)" if math.isinf(number) else f"{number:.2f}"
    if name in {"count", "wins", "losses", "zeros", "trades"}:
        return f"{number:+.0f}" if unit == "signed" else f"{number:.0f}"
    if name == "win_rate":
        return f"{number:.1%}"
    if unit == "%":
        return f"{number:,.2f}%"
    return money(number)


def _with_ci(table: pd.DataFrame, name: str, label: str) -> str:
    value = figure(name, table.at[name, label])
    if name not in CI_FIGURES:
        return value
    lo, hi = table.at[name, f"{label}_lo"], table.at[name, f"{label}_hi"]
    if math.isnan(lo) or math.isnan(hi):
        return value
    if name == "win_rate" and label == "difference":
        return f"{table.at[name, label] * 100:+.1f} pts [{lo * 100:+.1f}, {hi * 100:+.1f}]"
    return f"{value} [{figure(name, lo)}, {figure(name, hi)}]"


def comparison_tables(result: dict) -> list[TextTable]:
    """Per scope (earnings campaigns, all campaigns): take all, filtered and their difference, each figure with
    its 95% bootstrap interval, on the same campaigns."""
    out = []
    for scope, table in result["comparison"].items():
        rows = [
            [LABELS[name], *(_with_ci(table, name, label) for label in ("take_all", "filtered", "difference"))]
            for name in ("count", *CI_FIGURES)
        ]
        out.append(
            TextTable(
                f"{scope[0].upper()}{scope[1:]}: take all vs the walk-forward filter [95% bootstrap CI]",
                ["figure", "take all", "filtered", "filtered - take all"],
                rows,
                "the same campaigns: those entered in the months the policy was live; non-earnings campaigns are "
                "always taken",
            )
        )
    return out


def journal_ci_table(result: dict) -> TextTable:
    """The whole journal (take all) by earnings, each figure with its 95% bootstrap interval."""
    scopes = result["journal_ci"]
    rows = [
        [LABELS[name], *(_with_ci(table, name, "take_all") for table in scopes.values())]
        for name in ("count", *CI_FIGURES)
    ]
    note = f"{BOOTSTRAP_NOTE}; profit factor intervals over the draws with a loss (else the factor is infinite)"
    return TextTable("Whole journal, take all, by campaign [95% bootstrap CI]", ["figure", *scopes], rows, note)


def metrics_table(title: str, table: pd.DataFrame, unit: str = "$") -> TextTable:
    columns = ["count", "win_rate", "profit_factor", "net_pnl", "avg_win", "avg_loss", "largest_loss", "max_drawdown"]
    labels = LABELS | ({"count": "trades"} if unit == "%" else {})
    header = ["", *(labels.get(c, c.replace("_", " ")) for c in columns)]
    if "premiums" in table:
        header.append("premiums from")
    rows = []
    for label, row in table.iterrows():
        cells = [str(label), *(figure(c, row[c], unit) for c in columns)]
        rows.append(cells + ([str(row["premiums"])] if "premiums" in table else []))
    return TextTable(title, header, rows, text_columns=(0, len(header) - 1) if "premiums" in table else (0,))


def returns_table(result: dict) -> TextTable:
    rows = []
    for scope, r in result["returns"].items():
        annual = [
            f"{r['ann_return_pct']:.1f}%" if r["ann_return_pct"] is not None else "n/a",
            f"{r['sharpe']:.2f}" if r["sharpe"] is not None else "n/a",
        ]
        total = f"{r['total_return_pct']:.1f}%" if math.isfinite(r["total_return_pct"]) else "n/a"
        rows.append([scope, total, str(r["days"]), *annual, r["annualised"]])
    capital = result["capital"]
    note = (
        f"on the account equity {money(capital['equity'])} from settings, {EXIT_BOOKED}; capital at risk in use "
        f"peaked at {money(capital['peak_in_use'])}; mean return on each campaign's own capital at risk "
        f"{capital['mean_return_on_capital_pct']:.1f}%"
    )
    header = ["campaigns", "return on equity", "trading days", "annualised return", "Sharpe", "annualised?"]
    return TextTable("Account returns", header, rows, note, text_columns=(0, 5))


def policy_table(result: dict) -> TextTable:
    rows = [
        [m["month"], f"{m['threshold']:g}", "live" if m["live"] else "warm-up", str(m["history"]), m["why"]]
        for m in result["policy"].to_dict(orient="records")
    ]
    header = ["month", "P(loss) threshold", "state", "closed campaigns known", "why"]
    return TextTable("Filter policy, re-chosen each month", header, rows, text_columns=(0, 4))


def campaigns_table(result: dict, rolled_only: bool) -> TextTable:
    frame = result["campaigns"]
    frame = frame[frame["positions"] > 1] if rolled_only else frame[frame["crosses_earnings"].astype(bool)]
    rows = []
    for c in frame.to_dict(orient="records"):
        rows.append(
            [
                c["campaign_id"],
                c["description"],
                f"{pd.Timestamp(c['entry_date']):%Y-%m-%d} .. {pd.Timestamp(c['exit_date']):%Y-%m-%d}",
                money(c["pnl"]),
                money(c["capital"]),
                "n/a" if pd.isna(c.get("p_loss")) else f"{c['p_loss']:.1%}",
                money(c.get("ev")),
                "taken" if c["taken"] else "SKIPPED",
                str(c["position_ids"]) if rolled_only else str(c["forecast_note"]),
            ]
        )
    header = ["campaign", "what", "held", "P&L", "capital at risk", "P(loss)", "EV", "policy"]
    header.append("positions" if rolled_only else "forecast")
    title = "Roll chains (one campaign each)" if rolled_only else "Earnings campaigns and their forecasts"
    return TextTable(title, header, rows, text_columns=(0, 1, 8))


def break_even_table(result: dict) -> TextTable:
    rows = [
        [
            r["rule"],
            "none" if r["break_even_k"] is None or pd.isna(r["break_even_k"]) else f"{r['break_even_k']:.2f}",
            "n/a"
            if r["trades_at_break_even"] is None or pd.isna(r["trades_at_break_even"])
            else f"{int(r['trades_at_break_even'])}",
            str(r["events"]),
            r["note"],
        ]
        for r in result["break_even"].to_dict(orient="records")
    ]
    note = (
        "k = implied move / 2.0's historical mean at which selling the straddle breaks even after costs "
        "(trusted labels): a market that prices events above k x 2.0's mean would have paid the seller"
    )
    header = ["rule", "break-even k", "trades there", "events", ""]
    return TextTable("Break-even premium ratio per rule (no P&L assumed)", header, rows, note, text_columns=(0, 4))


def text_tables(result: dict) -> list[TextTable]:
    """Every table of the result, formatted, in reading order."""
    if result["kind"] == "journal":
        out = [*comparison_tables(result), journal_ci_table(result), returns_table(result), policy_table(result)]
        for name in ("earnings vs non-earnings", "by structure", "by timing"):
            out.append(metrics_table(f"Whole journal, take all: {name}", result["journal_metrics"][name]))
        return [*out, campaigns_table(result, rolled_only=True), campaigns_table(result, rolled_only=False)]
    out = [break_even_table(result)]
    for key, title in (("trusted", "trusted labels"), ("untrusted", "untrusted labels (NOT evidence)")):
        for structure, table in result["tables"].get(key, {}).items():
            out.append(metrics_table(f"Short {structure}, {title}, P&L in % of spot per trade", table, "%"))
    return out


def headline(result: dict) -> list[str]:
    """The sentences above the tables: where the forecasts and the premiums came from."""
    info = result.get("forecasts", {})
    lines = [
        f"forecasts: out-of-sample, walk-forward evaluation {info.get('evaluation', '?')} ({info.get('folds', '?')} "
        f"folds, decisions {str(info.get('first_decision', '?'))[:10]} .. {str(info.get('last_decision', '?'))[:10]}); "
        f"distribution: {info.get('basis', '?')}; {info.get('direction', '?')}"
    ]
    if result["kind"] == "simulate":
        lines.append(f"premiums: {result['premiums']}")
    return lines


def write_report(result: dict, path: Path) -> Path:
    """The run's one self-contained HTML page at `path`."""
    progress.step("writing the backtest report")
    kind = result["kind"]
    page = render(
        "backtest.html.j2",
        title="Journal backtest" if kind == "journal" else "Simulated backtest",
        subtitle=" · ".join(headline(result)),
        notes=result["notes"],
        tables=text_tables(result),
        figures=figures.journal(result) if kind == "journal" else figures.simulate(result),
    )
    return write_page(Path(path), page)
