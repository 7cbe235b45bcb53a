"""Trading metrics per position (or per simulated trade), with their definitions stated next to the numbers.

Definitions (all per position, P&L in the caller's unit, dollars for the journal):

- win rate = positions with P&L > 0 / all positions; P&L == 0 positions are counted separately (`zeros`) and
  are neither wins nor losses, but they stay in the denominator.
- profit factor = sum of wins / |sum of losses|; `inf` when there is no loss (the text says so), NaN with
  neither wins nor losses.
- average win / average loss = mean P&L of the winners / of the losers; largest loss = the most negative P&L.
- max drawdown = the largest fall of cumulative P&L from its running peak (the peak starts at 0), positions
  ordered by exit date (then entry date); reported as a positive amount in the P&L unit.
- Sharpe = mean / standard deviation (ddof=1) of a DAILY series x sqrt(252), no risk-free rate: the P&L of
  each position is booked on its exit date, every other business day from the first entry to the last exit
  is 0, and each day is divided by a fixed account equity (default $50,000, not compounded). Because the
  equity is a constant, the Sharpe ratio does not depend on its level; the annualised return and volatility
  (in % of the equity) do.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ivcrush.settings import Account

DEFAULT_EQUITY = Account().equity
TRADING_DAYS = 252
# Fewer trades than this on either side of a comparison are too few for conclusions.
SMALL_SAMPLE = 30
METRIC_COLUMNS = [
    "count",
    "wins",
    "losses",
    "zeros",
    "win_rate",
    "profit_factor",
    "net_pnl",
    "avg_win",
    "avg_loss",
    "largest_loss",
    "max_drawdown",
    "sharpe",
    "ann_return_pct",
    "ann_vol_pct",
    "days",
]


def profit_factor(pnl: pd.Series) -> float:
    wins = pnl[pnl > 0].sum()
    losses = -pnl[pnl < 0].sum()
    if losses > 0:
        return float(wins / losses)
    return math.inf if wins > 0 else math.nan


def max_drawdown(pnl: pd.Series, exit_dates: pd.Series, entry_dates: pd.Series | None = None) -> float:
    """Largest fall of cumulative P&L (ordered by exit, then entry date) from its running peak (starting at 0)."""
    if pnl.empty:
        return 0.0
    order = pd.DataFrame({"pnl": pnl.to_numpy(), "exit": pd.to_datetime(exit_dates).to_numpy()})
    order["entry"] = pd.to_datetime(entry_dates).to_numpy() if entry_dates is not None else order["exit"]
    cumulative = order.sort_values(["exit", "entry"], kind="stable")["pnl"].cumsum().to_numpy()
    peak = np.maximum.accumulate(np.concatenate([[0.0], cumulative]))[1:]
    return float(max(0.0, (peak - cumulative).max()))


def daily_pnl(pnl: pd.Series, exit_dates: pd.Series, entry_dates: pd.Series) -> pd.Series:
    """P&L booked on exit dates, 0 on every other business day between the first entry and the last exit."""
    exits = pd.to_datetime(exit_dates).dt.normalize()
    booked = pd.Series(pnl.to_numpy(), index=exits.to_numpy()).groupby(level=0).sum()
    start = min(pd.to_datetime(entry_dates).min(), exits.min())
    days = pd.bdate_range(start, exits.max()).union(booked.index)
    return booked.reindex(days, fill_value=0.0).rename("pnl")


def sharpe(daily: pd.Series, equity: float = DEFAULT_EQUITY) -> tuple[float, float, float]:
    """(Sharpe, annualised return %, annualised volatility %) of a daily P&L series over a fixed equity."""
    returns = daily / equity
    if len(returns) < 2:
        return math.nan, math.nan, math.nan
    mean, std = float(returns.mean()), float(returns.std(ddof=1))
    ratio = mean / std * math.sqrt(TRADING_DAYS) if std > 0 else math.nan
    return ratio, mean * TRADING_DAYS * 100, std * math.sqrt(TRADING_DAYS) * 100


def metrics(
    pnl: pd.Series, exit_dates: pd.Series, entry_dates: pd.Series, equity: float = DEFAULT_EQUITY
) -> dict[str, float]:
    """Every metric of the module docstring for one set of positions."""
    pnl = pd.Series(pnl, dtype="float64").reset_index(drop=True)
    exit_dates = pd.Series(pd.to_datetime(exit_dates)).reset_index(drop=True)
    entry_dates = pd.Series(pd.to_datetime(entry_dates)).reset_index(drop=True)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    out: dict[str, float] = {
        "count": len(pnl),
        "wins": len(wins),
        "losses": len(losses),
        "zeros": int((pnl == 0).sum()),
        "win_rate": len(wins) / len(pnl) if len(pnl) else math.nan,
        "profit_factor": profit_factor(pnl),
        "net_pnl": float(pnl.sum()),
        "avg_win": float(wins.mean()) if len(wins) else math.nan,
        "avg_loss": float(losses.mean()) if len(losses) else math.nan,
        "largest_loss": float(losses.min()) if len(losses) else math.nan,
        "max_drawdown": max_drawdown(pnl, exit_dates, entry_dates),
        "sharpe": math.nan,
        "ann_return_pct": math.nan,
        "ann_vol_pct": math.nan,
        "days": 0,
    }
    if len(pnl):
        daily = daily_pnl(pnl, exit_dates, entry_dates)
        out["sharpe"], out["ann_return_pct"], out["ann_vol_pct"] = sharpe(daily, equity)
        out["days"] = len(daily)
    return out


def sharpe_basis(equity: float = DEFAULT_EQUITY, unit: str = "$") -> str:
    scale = f"${equity:,.0f} account equity" if unit == "$" else f"{equity:g} {unit}"
    return (
        f"Sharpe: daily P&L (booked on exit dates, 0 on other business days from first entry to last exit) "
        f"/ {scale}, mean/std x sqrt(252), no risk-free rate; the ratio does not depend on the equity level"
    )


def metrics_frame(
    positions: pd.DataFrame,
    by: str | None = None,
    *,
    equity: float = DEFAULT_EQUITY,
    pnl: str = "pnl",
    entry: str = "entry_date",
    exit: str = "exit_date",
    label: str = "all",
) -> pd.DataFrame:
    """Metrics as a table: one row for all positions, or one per value of column `by` (plus "all")."""
    rows = {label: metrics(positions[pnl], positions[exit], positions[entry], equity)}
    if by is not None:
        for key, group in positions.groupby(by, sort=True, dropna=False):
            rows[str(key)] = metrics(group[pnl], group[exit], group[entry], equity)
    return pd.DataFrame.from_dict(rows, orient="index")[METRIC_COLUMNS]


def breakdowns(positions: pd.DataFrame, equity: float = DEFAULT_EQUITY) -> dict[str, pd.DataFrame]:
    """Metrics overall, by structure, by earnings timing ("none" without earnings) and earnings vs not."""
    frame = positions.copy()
    frame["timing"] = frame.get("earnings_timing", pd.Series("none", index=frame.index)).fillna("none")
    crosses = frame.get("crosses_earnings", pd.Series(False, index=frame.index)).astype(bool)
    frame["earnings"] = np.where(crosses, "earnings", "non-earnings")
    return {
        "all": metrics_frame(frame, equity=equity),
        "by structure": metrics_frame(frame, "structure", equity=equity),
        "by timing": metrics_frame(frame, "timing", equity=equity),
        "earnings vs non-earnings": metrics_frame(frame, "earnings", equity=equity),
    }


def format_value(name: str, value: float, unit: str = "$") -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if name == "profit_factor" and math.isinf(value):
        return "inf (no losses)"
    if name in {"count", "wins", "losses", "zeros", "days"}:
        return f"{int(value)}"
    if name == "win_rate":
        return f"{value:.1%}"
    if name in {"sharpe", "profit_factor"}:
        return f"{value:.2f}"
    if name.endswith("_pct"):
        return f"{value:.1f}%"
    return f"{value:,.0f} $" if unit == "$" else f"{value:,.2f} {unit}"


def format_table(table: pd.DataFrame, unit: str = "$") -> pd.DataFrame:
    """The table with every value written out (inf profit factor says 'no losses')."""
    return pd.DataFrame(
        {column: [format_value(column, v, unit) for v in table[column]] for column in table.columns},
        index=table.index,
    )


def render_text(table: pd.DataFrame, unit: str = "$", equity: float = DEFAULT_EQUITY) -> str:
    """Plain-text table with the definitions that matter for reading it."""
    lines = [format_table(table, unit).to_string()]
    lines.append("win rate: P&L > 0 over all positions; zeros counted separately and not as wins")
    lines.append("profit factor: sum of wins / |sum of losses|; 'inf' = no losing position")
    lines.append(f"max drawdown: of cumulative P&L ordered by exit date, in {unit}")
    lines.append(sharpe_basis(equity, unit))
    return "\n".join(lines)
