"""Trading metrics per campaign (or per simulated trade), their bootstrap intervals and the account's returns.

Definitions (P&L in the caller's unit, dollars for the journal):

- win rate = P&L > 0 over all; P&L == 0 counts as neither win nor loss (`zeros`) but stays in the denominator.
- profit factor = sum of wins / |sum of losses|; inf with no loss, NaN with neither.
- max drawdown = the largest fall of cumulative P&L from its running peak (starting at 0), ordered by exit
  date (then entry date), as a positive amount.
- 95% intervals: percentile bootstrap over the campaigns (resampled with replacement, kept in time order),
  `RESAMPLES` draws, a fixed seed; take-all and filtered are resampled together (same draws), so their
  difference has an interval too. A draw without a loss has an infinite profit factor: the factor's interval
  is taken over the draws with a loss.
- Account returns: P&L booked on exit dates (the journal has no daily marks: "exit-booked"), 0 on other
  business days from the first entry to the last exit, over the account equity from settings (not compounded).
  Sharpe and annualised return / volatility only from `MIN_ANNUAL_DAYS` trading days of history.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

TRADING_DAYS = 252
MIN_ANNUAL_DAYS = 60
SMALL_SAMPLE = 30  # fewer trades than this on either side of a comparison are too few for conclusions
RESAMPLES = 2000
SEED = 20240601
CI_FIGURES = ("win_rate", "profit_factor", "net_pnl", "max_drawdown")
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
]
EXIT_BOOKED = "exit-booked (P&L on exit dates; no daily marks)"


def profit_factor(pnl: pd.Series) -> float:
    wins = pnl[pnl > 0].sum()
    losses = -pnl[pnl < 0].sum()
    if losses > 0:
        return float(wins / losses)
    return math.inf if wins > 0 else math.nan


def _ordered(pnl: pd.Series, exit_dates: pd.Series, entry_dates: pd.Series | None = None) -> np.ndarray:
    order = pd.DataFrame({"pnl": np.asarray(pnl, dtype="float64"), "exit": pd.to_datetime(exit_dates).to_numpy()})
    order["entry"] = pd.to_datetime(entry_dates).to_numpy() if entry_dates is not None else order["exit"]
    return order.sort_values(["exit", "entry"], kind="stable")["pnl"].to_numpy()


def max_drawdown(pnl: pd.Series, exit_dates: pd.Series, entry_dates: pd.Series | None = None) -> float:
    """Largest fall of cumulative P&L (ordered by exit, then entry date) from its running peak (starting at 0)."""
    if len(pnl) == 0:
        return 0.0
    return float(_drawdowns(_ordered(pnl, exit_dates, entry_dates)[None, :])[0])


def _drawdowns(pnl: np.ndarray) -> np.ndarray:
    cumulative = np.cumsum(pnl, axis=1)
    peak = np.maximum.accumulate(np.concatenate([np.zeros((len(pnl), 1)), cumulative], axis=1), axis=1)[:, 1:]
    return np.maximum((peak - cumulative).max(axis=1, initial=0.0), 0.0)


def metrics(pnl: pd.Series, exit_dates: pd.Series, entry_dates: pd.Series) -> dict[str, float]:
    """Every metric of the module docstring for one set of campaigns."""
    pnl = pd.Series(np.asarray(pnl, dtype="float64"))
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    return {
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
    }


def metrics_frame(frame: pd.DataFrame, by: str | None = None, *, pnl: str = "pnl", label: str = "all") -> pd.DataFrame:
    """Metrics as a table: one row for all, or one per value of column `by` (plus "all")."""
    rows = {label: metrics(frame[pnl], frame["exit_date"], frame["entry_date"])}
    if by is not None:
        for key, group in frame.groupby(by, sort=True, dropna=False):
            rows[str(key)] = metrics(group[pnl], group["exit_date"], group["entry_date"])
    return pd.DataFrame.from_dict(rows, orient="index")[METRIC_COLUMNS]


def _figures(pnl: np.ndarray, taken: np.ndarray) -> dict[str, np.ndarray]:
    """Win rate, profit factor, net and max drawdown of each row's taken trades ((draws, n) arrays)."""
    kept = np.where(taken, pnl, 0.0)
    count = taken.sum(axis=1)
    gains = np.where(kept > 0, kept, 0.0).sum(axis=1)
    losses = -np.where(kept < 0, kept, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        win_rate = np.where(count > 0, (kept > 0).sum(axis=1) / np.maximum(count, 1), np.nan)
        factor = np.where(losses > 0, gains / losses, np.where(gains > 0, np.inf, np.nan))
    return {
        "win_rate": win_rate,
        "profit_factor": factor,
        "net_pnl": kept.sum(axis=1),
        "max_drawdown": _drawdowns(kept),
    }


def bootstrap_comparison(
    frame: pd.DataFrame, taken: pd.Series, resamples: int = RESAMPLES, seed: int = SEED
) -> pd.DataFrame:
    """Take all vs the policy's choice on the same campaigns, each figure with its 95% interval, and the
    difference (filtered - take all) with its interval from the same draws. Rows: figure; columns: take_all,
    take_all_lo, take_all_hi, filtered, ..., difference, ..."""
    order = np.argsort(
        pd.to_datetime(frame["exit_date"]).to_numpy().astype("datetime64[ns]").astype("int64"), kind="stable"
    )
    pnl = frame["pnl"].to_numpy(dtype="float64")[order]
    kept = taken.to_numpy(dtype=bool)[order]
    n = len(pnl)
    rng = np.random.default_rng(seed)
    draws = np.sort(rng.integers(0, n, size=(resamples, n)), axis=1) if n else np.zeros((resamples, 0), int)
    point_all = _figures(pnl[None, :], np.ones((1, n), bool))
    point_kept = _figures(pnl[None, :], kept[None, :])
    boot_all = _figures(pnl[draws], np.ones_like(draws, bool))
    boot_kept = _figures(pnl[draws], kept[draws])
    rows = {}
    with np.errstate(invalid="ignore"):  # inf - inf (no loss on either side): NaN, left out of the interval
        differences = {name: boot_kept[name] - boot_all[name] for name in CI_FIGURES}
    for name in CI_FIGURES:
        row: dict[str, float] = {}
        for label, point, boot in (
            ("take_all", point_all[name][0], boot_all[name]),
            ("filtered", point_kept[name][0], boot_kept[name]),
            ("difference", float(point_kept[name][0]) - float(point_all[name][0]), differences[name]),
        ):
            finite = boot[np.isfinite(boot)]
            lo, hi = np.percentile(finite, [2.5, 97.5]) if finite.size else (math.nan, math.nan)
            row |= {label: float(point), f"{label}_lo": float(lo), f"{label}_hi": float(hi)}
        rows[name] = row
    counts = {"take_all": n, "filtered": int(kept.sum()), "difference": int(kept.sum()) - n}
    rows["count"] = {key: float(v) for label, v in counts.items() for key in (label, f"{label}_lo", f"{label}_hi")}
    for label in counts:  # a count has no interval
        rows["count"][f"{label}_lo"] = rows["count"][f"{label}_hi"] = math.nan
    return pd.DataFrame.from_dict(rows, orient="index")


def account_returns(frame: pd.DataFrame, equity: float, pnl: str = "pnl") -> dict[str, object]:
    """Return on the account equity, exit-booked: total return, and (from MIN_ANNUAL_DAYS trading days)
    Sharpe and annualised return / volatility; else None with the reason."""
    out: dict[str, object] = {"equity": equity, "basis": EXIT_BOOKED, "total_return_pct": math.nan, "days": 0}
    out |= {"sharpe": None, "ann_return_pct": None, "ann_vol_pct": None, "annualised": "no campaigns"}
    if frame.empty:
        return out
    exits = pd.to_datetime(frame["exit_date"]).dt.normalize()
    booked = pd.Series(frame[pnl].to_numpy(dtype="float64"), index=exits.to_numpy()).groupby(level=0).sum()
    days = pd.bdate_range(min(pd.to_datetime(frame["entry_date"]).min(), exits.min()), exits.max())
    daily = booked.reindex(days.union(booked.index), fill_value=0.0) / equity
    out["total_return_pct"] = float(daily.sum() * 100)
    out["days"] = len(daily)
    if len(daily) < MIN_ANNUAL_DAYS:
        out["annualised"] = f"not annualised: {len(daily)} trading days of history (< {MIN_ANNUAL_DAYS})"
        return out
    mean, std = float(daily.mean()), float(daily.std(ddof=1))
    out["sharpe"] = mean / std * math.sqrt(TRADING_DAYS) if std > 0 else None
    out["ann_return_pct"] = mean * TRADING_DAYS * 100
    out["ann_vol_pct"] = std * math.sqrt(TRADING_DAYS) * 100
    out["annualised"] = f"from {len(daily)} trading days, mean/std x sqrt(252), no risk-free rate"
    return out


def capital_in_use(frame: pd.DataFrame) -> float:
    """The largest total capital at risk of campaigns open on the same day."""
    if frame.empty:
        return 0.0
    starts = pd.Series(frame["capital"].to_numpy(), index=pd.to_datetime(frame["entry_date"]).to_numpy())
    ends = pd.Series(-frame["capital"].to_numpy(), index=pd.to_datetime(frame["exit_date"]).to_numpy())
    changes = pd.concat([starts, ends]).groupby(level=0).sum().sort_index()
    # a campaign closed on a day frees its capital after that day's openings are counted
    opened = starts.groupby(level=0).sum().reindex(changes.index, fill_value=0.0)
    return float(max((changes.cumsum() - changes + opened).max(), 0.0))
