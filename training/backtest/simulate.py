"""Simulated backtest: sell a straddle (and a strangle) at every past event of the walk-forward evaluation's test
folds, settle at the reaction-day close move; 2.0's VRP rule vs the ML rule on the same events.

Forecasts are the evaluation's out-of-sample ones (`forecasts`); nothing is trained here. Premiums come only
from the market: the `--implied-moves` CSV, else 2.0's own scan of the event before its decision (iv_log,
`opt_implied_move_pct`); every trade says which. Without any market implied move there is no P&L: instead,
per rule, the break-even ratio k = implied / 2.0 mean at which selling the straddle would have broken even
(the rules evaluated at each k, so the 2.0 rule trades wherever k reaches its tier). Costs (commission,
slippage on a modelled bid-ask) from settings are subtracted from every trade. P&L is in % of spot per trade.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ivcrush import progress
from ivcrush.constants import DEFAULT_PRESET, TIER_PRESETS
from ivcrush.settings import Costs, Settings
from ivcrush.training.backtest.events import decision_day, event_frame, in_date_range
from ivcrush.training.backtest.forecasts import BacktestError, attach_forecasts, evaluation_dir, load_forecasts
from ivcrush.training.backtest.metrics import SMALL_SAMPLE, metrics_frame
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.economics import SHARES_PER_CONTRACT, fill_cost, modelled_bid_asks
from ivcrush.workspace import Generation

VRP_MARGINAL = TIER_PRESETS[DEFAULT_PRESET]["marginal"]  # 2.0's "marginal" tier: implied / mean >= 1.2
ML_THRESHOLD = 0.35
TOLERANCE = 1e-9  # a ratio of exactly 1.2 (k x mean / mean) is on the tier, whatever the float rounding
K_GRID = np.round(np.arange(0.50, 3.0001, 0.05), 2)
CSV_SOURCE = "--implied-moves CSV"
SCAN_SOURCE = "2.0 scan (iv_log)"
QUOTE_SOURCE = "option quotes (market store)"
STRANGLE_CREDIT = "strangle credit modelled from the market implied move (normal with E|move| = implied)"


def check_dates(date_from: date | None, date_to: date | None) -> None:
    """Refuse, before any work, a date range that ends before it starts."""
    if date_from is not None and date_to is not None and date_from > date_to:
        raise BacktestError(f"--from {date_from} is after --to {date_to}")


def read_implied_moves(path: Path) -> pd.DataFrame:
    """ticker, earnings_date, implied_move_pct from a CSV; BacktestError naming what is wrong."""
    columns = ["ticker", "earnings_date", "implied_move_pct"]
    try:
        frame = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise BacktestError(f"{path}: cannot be read as CSV ({exc})") from exc
    if not set(columns) <= set(frame.columns):
        raise BacktestError(f"{path}: needs the columns {', '.join(columns)}; has {list(frame.columns)}")
    dates = pd.to_datetime(frame["earnings_date"], format="%Y-%m-%d", errors="coerce")
    implied = pd.to_numeric(frame["implied_move_pct"], errors="coerce")
    bad = dates.isna() | ~np.isfinite(implied) | ~implied.gt(0) | frame["ticker"].isna()
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise BacktestError(
            f"{path}, line {line}: needs a ticker, a YYYY-MM-DD earnings_date and an implied_move_pct > 0"
        )
    return pd.DataFrame({"ticker": frame["ticker"].astype(str), "earnings_date": dates, "implied_move_pct": implied})


def _market_excess(implied: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """E[(|X| - d)+] for X normal with E|X| = implied (sigma = implied x sqrt(pi/2)): the strangle's price."""
    sigma = implied * math.sqrt(math.pi / 2)
    z = distance / sigma
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    upper_tail = 0.5 * np.vectorize(math.erfc, otypes=[float])(z / math.sqrt(2))
    return 2 * (sigma * pdf - distance * upper_tail)


def cost_pct(costs: Costs, spot: pd.Series | np.ndarray, premium_pct: pd.Series | np.ndarray) -> np.ndarray:
    """A two-leg round trip's costs in % of spot (as `round_trip_cost`: two legs, each filled at the open and
    at the close): each leg worth half the premium, its bid-ask modelled (`modelled_bid_ask`)."""
    spot = np.asarray(spot, dtype="float64")
    leg_value = np.asarray(premium_pct, dtype="float64") / 2 / 100 * spot
    bid_ask = modelled_bid_asks(costs, leg_value)
    fills = 4 * np.asarray(fill_cost(costs, bid_ask), dtype="float64")
    return fills / SHARES_PER_CONTRACT / spot * 100


def _rules(
    frame: pd.DataFrame, implied: pd.Series, ml_threshold: float, distribution: MoveDistribution | None = None
) -> dict[str, pd.Series]:
    """Which events each rule sells at the implied moves `implied` (`distribution`: the frame's forecasts)."""
    distribution = distribution if distribution is not None else MoveDistribution.from_frame(frame)
    p_exceeds = pd.Series(distribution.sf(implied.to_numpy(dtype="float64")), index=frame.index)
    return {
        "take all": pd.Series(True, index=frame.index),
        f"2.0 rule (VRP >= {VRP_MARGINAL:g})": implied / frame["hm_close_mean_12q_all_rows"]
        >= VRP_MARGINAL - TOLERANCE,
        f"ML rule (P(>implied) < {ml_threshold:g} or VRP_ml >= {VRP_MARGINAL:g})": (p_exceeds < ml_threshold)
        | (implied / frame["forecast_mean_pct"] >= VRP_MARGINAL - TOLERANCE),
    }


def break_even(frame: pd.DataFrame, costs: Costs, ml_threshold: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per rule: the break-even k and its trades; the curve: trades and net % of spot per trade at every k of
    `K_GRID`). The straddle is sold at k x 2.0's mean, each rule deciding at that k; break-even = the smallest k
    (to 0.01, refined between the grid's steps) from which the rule's trades net >= 0 after costs at every
    larger k."""
    move = frame["abs_close_move_pct"].astype(float)
    mean = frame["hm_close_mean_12q_all_rows"].astype(float)
    distribution = MoveDistribution.from_frame(frame)

    def at(k: float) -> list[dict[str, object]]:
        implied = k * mean
        pnl = implied - move - cost_pct(costs, frame["decision_spot"], implied)
        out = []
        for rule, sold in _rules(frame, implied, ml_threshold, distribution).items():
            chosen = pnl[sold]
            out.append({"k": round(k, 2), "rule": rule, "trades": len(chosen), "net_pct": float(chosen.sum())})
        return out

    table = pd.DataFrame([row for k in K_GRID for row in at(float(k))], columns=["k", "rule", "trades", "net_pct"])
    table["mean_pct_per_trade"] = table["net_pct"] / table["trades"].where(table["trades"] > 0)
    rows = []
    for rule, group in table.groupby("rule", sort=False):
        losing = np.flatnonzero(((group["trades"] > 0) & (group["net_pct"] < 0)).to_numpy())
        start = 0 if not len(losing) else losing[-1] + 1
        even = group.iloc[start:]
        even = even[even["trades"] > 0]
        first = even.iloc[0].to_dict() if len(even) else None
        if first is not None and start > 0:  # refine between the last losing step and the first even one
            steps = np.arange(float(group.iloc[start - 1]["k"]) + 0.01, float(first["k"]) - 1e-9, 0.01)
            inside = [next(r for r in at(float(k)) if r["rule"] == rule) for k in steps] + [first]
            for row in reversed(inside):  # the first of the final run of even steps
                if not row["trades"] or row["net_pct"] < 0:  # type: ignore[operator]
                    break
                first = row
        rows.append(
            {
                "rule": rule,
                "break_even_k": None if first is None else float(first["k"]),
                "trades_at_break_even": None if first is None else int(first["trades"]),
                "events": len(frame),
                "note": _break_even_note(group, first),
            }
        )
    return pd.DataFrame(rows), table


def _break_even_note(curve: pd.DataFrame, first: dict[str, object] | None) -> str:
    """What qualifies a rule's break-even: none found, found at the grid's first k, or no trade below some k."""
    if first is None:
        return f"no k up to {K_GRID[-1]:g} breaks even"
    trading = curve.loc[curve["trades"] > 0, "k"]
    if len(trading) and float(trading.iloc[0]) > K_GRID[0]:
        return f"no trade below k = {float(trading.iloc[0]):g}"
    return f"even from the grid's lowest k ({K_GRID[0]:g})" if float(first["k"]) <= K_GRID[0] else ""  # type: ignore[arg-type]


def simulate_backtest(
    events: pd.DataFrame,
    *,
    costs: Costs,
    implied_moves: pd.DataFrame | None = None,
    date_from: object = None,
    date_to: object = None,
    ml_threshold: float = ML_THRESHOLD,
) -> dict:
    """The simulation over `events` (`event_frame` with the evaluation's forecasts attached); see the module."""
    notes: list[str] = []
    frame = events[in_date_range(events["earnings_date"], date_from, date_to) & events["q50"].notna()].copy()
    without_mean = ~(frame["hm_close_mean_12q_all_rows"].astype(float) > 0)
    if without_mean.any():
        notes.append(f"{int(without_mean.sum())} events without a 2.0 historical mean are left out")
    frame = frame[~without_mean].reset_index(drop=True)
    frame["forecast_mean_pct"] = MoveDistribution.from_frame(frame).mean() if len(frame) else []
    frame["implied_move_pct"] = frame["opt_implied_move_pct"].astype(float)
    frame["premium_source"] = np.where(frame["implied_move_pct"].notna(), SCAN_SOURCE, "none")
    quotes = frame.get("opt_quote_implied_move_pct", pd.Series(np.nan, index=frame.index)).astype(float)
    quoted = frame["implied_move_pct"].isna() & quotes.notna()
    frame.loc[quoted, "implied_move_pct"] = quotes[quoted]
    frame.loc[quoted, "premium_source"] = QUOTE_SOURCE
    if implied_moves is not None and len(implied_moves):
        given = implied_moves.drop_duplicates(["ticker", "earnings_date"], keep="last")
        merged = frame[["ticker", "earnings_date"]].merge(given, on=["ticker", "earnings_date"], how="left")
        from_csv = merged["implied_move_pct"].notna().to_numpy()
        frame.loc[from_csv, "implied_move_pct"] = merged.loc[from_csv, "implied_move_pct"].to_numpy()
        frame.loc[from_csv, "premium_source"] = CSV_SOURCE
    frame["entry_date"] = decision_day(frame["event_timestamp"])
    frame["exit_date"] = pd.to_datetime(frame["reaction_date"])
    trusted = frame[frame["label_trusted"].astype(bool)]
    summary, curve = break_even(trusted, costs, ml_threshold)
    market = frame[frame["premium_source"] != "none"].copy()
    tables: dict[str, dict[str, pd.DataFrame]] = {}
    if len(market):
        implied = market["implied_move_pct"]
        move = market["abs_close_move_pct"].astype(float)
        market["cost_straddle_pct"] = cost_pct(costs, market["decision_spot"], implied)
        market["pnl_straddle_pct"] = implied - move - market["cost_straddle_pct"]
        distance = np.maximum(market["q90"].astype(float), implied)
        market["strangle_distance_pct"] = distance
        market["strangle_credit_pct"] = _market_excess(implied.to_numpy(), distance.to_numpy())
        market["cost_strangle_pct"] = cost_pct(costs, market["decision_spot"], market["strangle_credit_pct"])
        market["pnl_strangle_pct"] = (
            market["strangle_credit_pct"] - np.maximum(move - distance, 0.0) - market["cost_strangle_pct"]
        )
        rules = _rules(market, implied, ml_threshold)
        for rule, sold in rules.items():
            market[f"sold: {rule}"] = sold
        for key, part in (("trusted", market[market["label_trusted"].astype(bool)]), ("untrusted", market)):
            part = part if key == "trusted" else part[~part["label_trusted"].astype(bool)]
            tables[key] = {}
            for structure in ("straddle", "strangle"):
                rows = []
                for rule in rules:
                    chosen = part[part[f"sold: {rule}"]]
                    row = metrics_frame(chosen, pnl=f"pnl_{structure}_pct", label=rule)
                    row["premiums"] = _sources(chosen)
                    rows.append(row)
                tables[key][structure] = pd.concat(rows)
        if len(market[market["label_trusted"].astype(bool)]) < SMALL_SAMPLE:
            notes.append(f"only {int(market['label_trusted'].sum())} trusted events with a market premium: too few")
    else:
        notes.append(
            "NO P&L: no event has a market implied move (neither --implied-moves nor a 2.0 scan before the decision); "
            "the break-even ratios k say what premium selling would have needed"
        )
    notes += [
        "forecasts: the walk-forward evaluation's out-of-sample distributions (no training here)",
        f"costs subtracted from every trade: ${costs.commission_per_contract:g}/contract commission and "
        f"{costs.slippage_share:.0%} of a modelled bid-ask per leg and fill, opening and closing",
        "untrusted labels (AMC moves stored on the announcement day, UNKNOWN timing) are left out of the "
        "break-even and shown apart: their moves are too small, so short-premium P&L on them is falsely rosy",
    ]
    if len(market):
        notes += [STRANGLE_CREDIT, SOURCES_NOTE]
    return {
        "kind": "simulate",
        "ml_threshold": ml_threshold,
        "premiums": _sources(market) if len(market) else "none",
        "break_even": summary,
        "break_even_curve": curve,
        "tables": tables,
        "trades": market,
        "events": len(frame),
        "trusted_events": len(trusted),
        "notes": notes,
    }


def _sources(frame: pd.DataFrame) -> str:
    counts = frame["premium_source"].value_counts()
    return ", ".join(f"{n} from {source}" for source, n in counts.items()) or "no trades"


SOURCES_NOTE = (
    f"premium sources: {CSV_SOURCE} = the user's market implied moves; {SCAN_SOURCE} = 2.0's latest scan of the "
    f"event written before its decision (options_features); {QUOTE_SOURCE} = the front at-the-money straddle "
    "quoted before the decision, where 2.0 never scanned the event"
)


def run_simulation(
    settings: Settings,
    generation: Generation,
    implied_moves: Path | None,
    date_from: date | None,
    date_to: date | None,
    *,
    evaluation: Path | None = None,
) -> dict:
    """The simulation of a published generation's events with the out-of-sample forecasts of the newest
    evaluation of its build (or `evaluation`); market implied moves from the CSV and 2.0's scans."""
    check_dates(date_from, date_to)
    implied = read_implied_moves(implied_moves) if implied_moves else None
    progress.step("reading the evaluation's out-of-sample forecasts")
    forecasts, info = load_forecasts(evaluation_dir(settings, generation, evaluation))
    events = attach_forecasts(event_frame(Path(generation.build_dir)), forecasts)
    progress.step("simulating every event: break-even ratios, P&L at market premiums")
    result = simulate_backtest(
        events, costs=settings.costs, implied_moves=implied, date_from=date_from, date_to=date_to
    )
    result["forecasts"] = info
    return result
