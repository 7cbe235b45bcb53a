"""Sample 2.0 data, part 2: iv_log, 2.0's pre-earnings scans (implied move, 12-quarter history, VRP)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ivcrush.source.sample_market import date_texts, next_friday, stamp_texts

_TIERS = ((7.0, "excellent"), (4.0, "good"), (1.5, "marginal"))  # real iv_log rows; below 1.5 -> "skip"


def iv_log(
    rng: np.random.Generator, tk: pd.DataFrame, ev: pd.DataFrame, moves: pd.DataFrame, today: np.datetime64
) -> pd.DataFrame:
    """Pre-earnings scans: one scan `today` of the next events, and scans days before recent past events."""
    past = ev[~ev["future"]]
    t_past = past["t"].to_numpy()
    lo = np.searchsorted(t_past, np.arange(len(tk)))  # block of each ticker in the (ticker, date)-sorted past
    hi = np.searchsorted(t_past, np.arange(len(tk)), side="right")
    fut = ev[ev["future"].to_numpy() & (ev["date"].to_numpy() <= today + 10)]
    fut = fut[(hi - lo)[fut["t"].to_numpy()] >= 4]
    fut = fut.iloc[np.sort(rng.permutation(len(fut))[:40])]
    pos = np.arange(len(past))
    recent = (past["date"].to_numpy() >= today - 365) & (pos - lo[t_past] >= 4)
    cand = np.flatnonzero(recent)
    n_old = min(cand.size, 2000, max(20, round(0.02 * cand.size)))
    old = np.sort(rng.choice(cand, n_old, replace=False))
    t = np.concatenate([fut["t"].to_numpy(), t_past[old]])
    end = np.concatenate([hi[fut["t"].to_numpy()], old])  # history strictly before the scanned event
    idx = end[:, None] - 12 + np.arange(12)[None, :]
    window = np.where(idx >= lo[t][:, None], moves["close_move_pct"].to_numpy()[np.maximum(idx, 0)], np.nan)
    n = t.size
    earn = np.concatenate([fut["date"].to_numpy(), past["date"].to_numpy()[old]]).astype("datetime64[D]")
    scan = np.concatenate([np.full(len(fut), today), earn[len(fut) :] - rng.integers(1, 5, n_old)])
    last_close = moves["earnings_close"].to_numpy()
    spot = np.concatenate(
        [
            last_close[hi[fut["t"].to_numpy()] - 1] * rng.lognormal(0, 0.05, len(fut)),
            moves["prev_close"].to_numpy()[old] * rng.lognormal(0, 0.02, n_old),
        ]
    )
    spot = np.round(np.maximum(spot, 1.0), 2)
    inc = np.select([spot < 25, spot < 100, spot < 500, spot < 1000, spot < 2000], [0.5, 1, 2.5, 5, 10], 50)
    implied_true = tk["scale"].to_numpy()[t] * 1.1 * rng.lognormal(np.log(1.15), 0.25, n) / 100
    call_share = rng.uniform(0.45, 0.55, n)
    call = np.maximum(np.round(spot * implied_true * call_share / 0.025) * 0.025, 0.025).round(3)
    put = np.maximum(np.round(spot * implied_true * (1 - call_share) / 0.025) * 0.025, 0.025).round(3)
    straddle = call + put
    implied = straddle / spot * 100
    mean = np.nanmean(window, axis=1)
    vrp = implied / mean
    expiration = next_friday(earn + 1) + np.where(rng.random(n) < 0.1, 7, 0).astype("timedelta64[D]")
    created = scan.astype("datetime64[s]") + np.timedelta64(18 * 3600 + 25 * 60, "s") + np.arange(n) % 600
    return pd.DataFrame(
        {
            "ticker": tk["symbol"].to_numpy()[t],
            "earnings_date": date_texts(earn),
            "expiration": date_texts(expiration),
            "scan_date": date_texts(scan),
            "stock_price": spot,
            "atm_strike": np.round(spot / inc) * inc,
            "call_mid": call,
            "put_mid": put,
            "straddle_cost": straddle,
            "implied_move_pct": implied,
            "historical_mean_pct": mean,
            "historical_median_pct": np.nanmedian(window, axis=1),
            "historical_std_pct": np.nanstd(window, axis=1, ddof=1),
            "vrp_ratio": vrp,
            "edge_score": vrp * rng.lognormal(np.log(0.55), 0.2, n),  # approximation: real ≈ 0.4-0.8 x VRP
            "recommendation": np.select([vrp >= lim for lim, _ in _TIERS], [w for _, w in _TIERS], "skip"),
            "quarters_of_data": np.sum(~np.isnan(window), axis=1),
            "ml_predicted_move_pct": None,
            "ml_confidence": None,
            "created_at": stamp_texts(created),
        }
    )
