"""Baselines on exactly the events a model is evaluated on.

- `base_2_0_mean`: 2.0's rule, the mean of the ticker's last 12 stored absolute close moves (all rows,
  `hm_close_mean_12q_all_rows`).
- `base_2_0_intraday`: its intraday variant (`hm_intraday_mean_12q_all_rows`, mean high-low range).
- `base_median_8q`: the 8-quarter median (`hm_close_median_8q_all_rows`).
- `base_q10..base_q90`: the empirical distribution of the ticker's past **trusted** moves: quantiles of its
  last `EMPIRICAL_WINDOW` trusted moves whose outcome was known strictly before the event's decision time
  (point-in-time by construction; computed from the labels of the whole frame, filtered per event).
  Fewer than `EMPIRICAL_MIN_HISTORY` such moves -> fallback.

- `base_global_median`, `base_global_q10..q90`: the training window's unconditional distribution of trusted
  moves (no per-event information at all): what a model that learned nothing converges to. A model must beat
  it too, else its "edge" over 2.0 is only that a constant median beats a per-ticker mean on MAE.
- `base_fair_2_0`: a fair 2.0, its rule on trusted moves only: the mean of the ticker's last 12 trusted moves
  (`hm_close_mean_12q`), as a point and as a half-normal distribution (`training.reference`).
- `ref_q10..ref_q90` with `ref_tail_shape` / `ref_tail_scale` (predicted with the model, `training.predict`):
  the trusted scaled-history distribution, calibrated; what serving uses where the model has no pinball skill.

`baseline_forecasts` gives the skill gate (`training.gate`) every baseline as a `Forecast` on the same rows.

Missing baselines (no history) fall back to the training window's global median (point baselines) or
global quantiles (empirical), from trusted labels known before the test period; the share of rows that fell
back is reported by `fallback_shares`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_LEVELS, QUANTILE_NAMES
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.gate import Forecast
from ivcrush.training.move_size import REFERENCE_NAMES
from ivcrush.training.reference import fair_2_0_mean, half_normal_exceedance, half_normal_quantiles
from ivcrush.training.train import MOVE_LABEL

POINT_BASELINES: dict[str, str] = {
    "base_2_0_mean": "hm_close_mean_12q_all_rows",
    "base_2_0_intraday": "hm_intraday_mean_12q_all_rows",
    "base_median_8q": "hm_close_median_8q_all_rows",
}
BASELINE_LABELS: dict[str, str] = {
    "base_2_0_mean": "2.0 rule: mean of last 12 abs close moves (all rows)",
    "base_2_0_intraday": "2.0 intraday variant: mean of last 12 high-low ranges (all rows)",
    "base_median_8q": "median of last 8 abs close moves (all rows)",
    "base_q50": "empirical median of the ticker's past trusted moves",
    "base_global_median": "training window's median trusted move (constant; no per-event information)",
    "base_fair_2_0": "fair 2.0: mean of the ticker's last 12 trusted moves (training window's mean without)",
}
EMPIRICAL_NAMES = tuple(f"base_{name}" for name in QUANTILE_NAMES)
GLOBAL_NAMES = tuple(f"base_global_{name}" for name in QUANTILE_NAMES)

EMPIRICAL_WINDOW = 12
EMPIRICAL_MIN_HISTORY = 4


def empirical_quantiles(
    events: pd.DataFrame,
    history: pd.DataFrame,
    window: int = EMPIRICAL_WINDOW,
    min_history: int = EMPIRICAL_MIN_HISTORY,
) -> pd.DataFrame:
    """Quantiles of each event's ticker's last `window` trusted moves known before its decision time.

    `history`: rows with ticker, outcome_known_at, label_trusted and the move label (any period; only
    outcomes known strictly before each event's `event_timestamp` are used). NaN where fewer than
    `min_history` such moves exist.
    """
    known = history[history["label_trusted"].astype(bool) & history[MOVE_LABEL].notna()].copy()
    known["outcome_known_at"] = _naive_utc(known["outcome_known_at"])
    known = known.sort_values(["ticker", "outcome_known_at"], kind="mergesort")
    by_ticker = {
        ticker: (group["outcome_known_at"].to_numpy(), group[MOVE_LABEL].to_numpy(dtype="float64"))
        for ticker, group in known.groupby("ticker", sort=False)
    }
    decided_at = _naive_utc(events["event_timestamp"]).to_numpy()
    out = np.full((len(events), len(QUANTILE_LEVELS)), np.nan)
    for i, (ticker, decided) in enumerate(zip(events["ticker"], decided_at, strict=True)):
        if ticker not in by_ticker:
            continue
        times, moves = by_ticker[ticker]
        end = int(np.searchsorted(times, decided, side="left"))  # outcomes known strictly before
        past = moves[max(0, end - window) : end]
        if past.size >= min_history:
            out[i] = np.quantile(past, QUANTILE_LEVELS)
    return pd.DataFrame(out, columns=list(EMPIRICAL_NAMES), index=events.index)


def baseline_frame(events: pd.DataFrame, history: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """Every baseline for `events`, with fallbacks from `train` (the training window's trusted labels).

    Adds boolean `<name>_fallback` columns marking the rows that fell back.
    """
    trusted = train[train["label_trusted"].astype(bool) & train[MOVE_LABEL].notna()][MOVE_LABEL]
    global_median = float(trusted.median()) if len(trusted) else np.nan
    global_quantiles = np.quantile(trusted, QUANTILE_LEVELS) if len(trusted) else np.full(len(QUANTILE_LEVELS), np.nan)
    out = pd.DataFrame(index=events.index)
    for name, column in POINT_BASELINES.items():
        values = pd.to_numeric(events[column], errors="coerce").astype("float64")
        out[f"{name}_fallback"] = values.isna()
        out[name] = values.fillna(global_median)
    empirical = empirical_quantiles(events, history, EMPIRICAL_WINDOW, EMPIRICAL_MIN_HISTORY)
    missing = empirical.isna().any(axis=1)
    for j, name in enumerate(EMPIRICAL_NAMES):
        out[name] = empirical[name].where(~missing, global_quantiles[j])
    out["base_quantiles_fallback"] = missing
    for j, name in enumerate(GLOBAL_NAMES):
        out[name] = global_quantiles[j]
    out["base_global_median"] = global_median
    out["base_fair_2_0"] = fair_2_0_mean(events, float(trusted.mean()) if len(trusted) else np.nan)
    return out


def _quantile_forecast(rows: pd.DataFrame, names: tuple[str, ...], shape: str = "", scale: str = "") -> Forecast:
    """A baseline given by quantile columns (median as its point; a fitted tail where columns name one)."""
    q = rows[list(names)].to_numpy(dtype="float64")
    if shape and scale:
        distribution = MoveDistribution(q, rows[shape].to_numpy(dtype="float64"), rows[scale].to_numpy(dtype="float64"))
    else:
        distribution = MoveDistribution(q)
    return Forecast(point=q[:, QUANTILE_LEVELS.index(0.5)], quantiles=q, exceedance=distribution.sf)


def baseline_forecasts(rows: pd.DataFrame) -> dict[str, Forecast]:
    """Every baseline of the skill gate on `rows` (with the columns of `baseline_frame` and the reference's)."""
    fair = rows["base_fair_2_0"].to_numpy(dtype="float64")
    return {
        "empirical quantiles": _quantile_forecast(rows, EMPIRICAL_NAMES),
        "constant quantiles": _quantile_forecast(rows, GLOBAL_NAMES),
        "trusted scaled history": _quantile_forecast(rows, REFERENCE_NAMES, "ref_tail_shape", "ref_tail_scale"),
        "fair 2.0 (half-normal)": Forecast(fair, half_normal_quantiles(fair), half_normal_exceedance(fair)),
        "2.0 mean (all rows)": Forecast(point=rows["base_2_0_mean"].to_numpy(dtype="float64")),
        "2.0 8q median (all rows)": Forecast(point=rows["base_median_8q"].to_numpy(dtype="float64")),
    }


def _naive_utc(stamps: pd.Series) -> pd.Series:
    return pd.to_datetime(stamps, utc=True).dt.tz_convert(None).astype("datetime64[us]")


def fallback_shares(baselines: pd.DataFrame) -> dict[str, float]:
    """Share of rows where each baseline had no history and used the training window's global value."""
    shares = {name: float(baselines[f"{name}_fallback"].mean()) for name in POINT_BASELINES}
    shares["base_quantiles"] = float(baselines["base_quantiles_fallback"].mean())
    return {name: round(value, 4) for name, value in shares.items()} if len(baselines) else {}
