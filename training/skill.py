"""The skill gate: metrics of the pooled out-of-sample rows next to the baselines, and the verdicts.

Metrics are computed on **trusted** labels; untrusted labels (after-close moves that 2.0 stored on the
announcement day) are reported separately under "untrusted", clearly labelled, for information only.

Skill gate: the move-size model is judged per target (mean pinball, MAE, exceedance Brier) by
`training.gate`: against the best baseline on that target (`training.baselines.baseline_forecasts`: the
ticker's empirical and constant quantiles, the calibrated trusted scaled history, a fair 2.0, 2.0's all-rows
mean and median), a target holds only when the block-bootstrap 95% CI (blocks: weeks of decision dates) of the
gain is above 0 and the gain is positive in every fold. Its verdict's `skill` is the pinball gate: serving uses
the model's quantiles only then, else the trusted scaled-history distribution. The direction model has skill
when the lower end of its bootstrap 95% CI of the AUC is above 0.5; the IV-crush model when it was trained and
beats a constant ratio. A model without skill is recorded with a sentence saying why; serving reads the
verdicts from the registry metadata. The calibration tables (`training.forecast_quality`) and the issue-12
targets they are held against go into the metrics too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ivcrush.constants import QUANTILE_NAMES
from ivcrush.training.baselines import (
    BASELINE_LABELS,
    EMPIRICAL_NAMES,
    GLOBAL_NAMES,
    POINT_BASELINES,
    baseline_forecasts,
    fallback_shares,
)
from ivcrush.training.calibration import STRATA, history_stratum
from ivcrush.training.distribution import MoveDistribution
from ivcrush.training.forecast_quality import check_sentence, distribution_of, forecast_tables, target_checks
from ivcrush.training.gate import Forecast, GateResult, skill_gate
from ivcrush.training.metrics import (
    BOOTSTRAP_RESAMPLES,
    auc,
    bootstrap_auc,
    exceedance_metrics,
    point_metrics,
    quantile_metrics,
    rounded,
)
from ivcrush.training.move_size import REFERENCE_NAMES
from ivcrush.training.train import DIRECTION_LABEL, IMPLIED_COLUMN, MOVE_LABEL

FIXED_THRESHOLDS = (3.0, 5.0, 8.0)
MIN_IV_TEST_ROWS = 20
# Earnings moves are noisy: a model explaining most of their variance has almost surely seen the outcome.
IMPLAUSIBLE_R2 = 0.6
IMPLAUSIBLE_MAE_RATIO = 0.6
UNTRUSTED_NOTE = (
    "UNTRUSTED labels: after-close (AMC) and UNKNOWN-timing rows, whose stored move is the announcement-day "
    "move, not the reaction; shown for information only, never used for verdicts"
)


def _block(rows: pd.DataFrame) -> dict[str, Any]:
    """Move-size, quantile and exceedance metrics of model and baselines on the same rows."""
    y = rows[MOVE_LABEL].to_numpy(dtype="float64")
    block: dict[str, Any] = {"n": len(rows)}
    if not len(rows):
        return block
    point_columns = [*POINT_BASELINES, "base_q50", "base_global_median", "base_fair_2_0", "ref_q50"]
    block["move_size"] = {"model": point_metrics(y, rows["point"].to_numpy())} | {
        name: point_metrics(y, rows[name].to_numpy()) for name in point_columns
    }
    base_q = rows[list(EMPIRICAL_NAMES)].to_numpy()
    block["quantiles"] = {
        "model": quantile_metrics(y, rows[list(QUANTILE_NAMES)].to_numpy()),
        "empirical": quantile_metrics(y, base_q),
        "global": quantile_metrics(y, rows[list(GLOBAL_NAMES)].to_numpy()),
        "scaled_history": quantile_metrics(y, rows[list(REFERENCE_NAMES)].to_numpy()),
    }
    thresholds: dict[str, np.ndarray] = {"x=2.0 mean": rows["base_2_0_mean"].to_numpy()}
    thresholds |= {f"x={x:g}%": np.full(len(rows), x) for x in FIXED_THRESHOLDS}
    model, empirical = distribution_of(rows), MoveDistribution(base_q)
    block["exceedance"] = {
        label: {"model": exceedance_metrics(y, model, x), "empirical": exceedance_metrics(y, empirical, x)}
        for label, x in thresholds.items()
    }
    return block


def move_size_gate(trusted: pd.DataFrame) -> GateResult:
    """The skill gate of the move-size forecast on the trusted evaluated rows (every target, best baseline)."""
    q = trusted[list(QUANTILE_NAMES)].to_numpy(dtype="float64")
    model = Forecast(trusted["point"].to_numpy(dtype="float64"), q, distribution_of(trusted).sf)
    y = trusted[MOVE_LABEL].to_numpy(dtype="float64")
    return skill_gate(y, model, baseline_forecasts(trusted), trusted["fold"].to_numpy(), trusted["event_timestamp"])


def _direction(rows: pd.DataFrame, resamples: int) -> dict[str, object]:
    up = rows[DIRECTION_LABEL].astype(bool).to_numpy()
    p = rows["p_up"].to_numpy(dtype="float64")
    low, high = bootstrap_auc(up, p, resamples)
    base_rate = float(up.mean()) if len(up) else math.nan
    result: dict[str, object] = {
        "n": len(rows),
        "model": {
            "auc": rounded(auc(up, p)),
            "auc_ci95": [rounded(low), rounded(high)],
            "brier": rounded(np.mean((p - up) ** 2)),
        },
        "base_rate": {"p_up": rounded(base_rate), "auc": 0.5, "brier": rounded(np.mean((base_rate - up) ** 2))},
    }
    if "vol_up_rate_8q" in rows.columns:
        past = pd.to_numeric(rows["vol_up_rate_8q"], errors="coerce").fillna(0.5).to_numpy()
        result["past_up_rate_8q"] = {"auc": rounded(auc(up, past))}
    return result


def _iv_metrics(rows: pd.DataFrame) -> dict[str, object]:
    if IMPLIED_COLUMN not in rows.columns:
        return {"n": 0}
    implied = pd.to_numeric(rows[IMPLIED_COLUMN], errors="coerce")
    have = rows[implied.notna() & (implied > 0) & rows["iv_crush_ratio"].notna()]
    if have.empty:
        return {"n": 0}
    ratio = (have[MOVE_LABEL] / pd.to_numeric(have[IMPLIED_COLUMN])).to_numpy()
    return {
        "n": len(have),
        "model": point_metrics(ratio, have["iv_crush_ratio"].to_numpy()),
        "constant_ratio": point_metrics(ratio, have["iv_ratio_baseline"].to_numpy()),
    }


def compute_metrics(
    rows: pd.DataFrame, resamples: int = BOOTSTRAP_RESAMPLES, notes: dict[str, str] | None = None
) -> dict[str, Any]:
    """Metrics of the pooled out-of-sample rows (trusted and, separately, untrusted) and the verdicts."""
    trusted = rows[rows["label_trusted"].astype(bool)]
    untrusted = rows[~rows["label_trusted"].astype(bool)]
    metrics: dict[str, Any] = {"baselines": BASELINE_LABELS}
    main = _block(trusted)
    main["direction"] = _direction(trusted, resamples)
    main["iv_crush"] = _iv_metrics(trusted)
    main["by_timing"] = {str(t): _block(g) for t, g in trusted.groupby("timing")}
    main["by_fold"] = [
        {
            "fold": int(fold),
            "n": len(g),
            "mae_model": rounded(np.mean(np.abs(g["point"] - g[MOVE_LABEL]))),
            "mae_2_0_mean": rounded(np.mean(np.abs(g["base_2_0_mean"] - g[MOVE_LABEL]))),
            "coverage_80_model": rounded(np.mean((g[MOVE_LABEL] >= g["q10"]) & (g[MOVE_LABEL] <= g["q90"]))),
            "coverage_80_empirical": rounded(
                np.mean((g[MOVE_LABEL] >= g["base_q10"]) & (g[MOVE_LABEL] <= g["base_q90"]))
            ),
            "share_below": {name: rounded(np.mean(g[MOVE_LABEL] < g[name])) for name in QUANTILE_NAMES},
        }
        for fold, g in trusted.groupby("fold")
    ]
    strata = history_stratum(trusted["hm_prior_events"]) if "hm_prior_events" in trusted else None
    main["by_history"] = {} if strata is None else {name: _block(trusted[strata == name]) for name in STRATA}
    main["forecast"] = forecast_tables(trusted)
    main["fallback_shares"] = fallback_shares(trusted)
    gate = move_size_gate(trusted) if len(trusted) else None
    main["gate"] = gate.to_dict() if gate is not None else {}
    metrics["trusted"] = main
    metrics["untrusted"] = {"note": UNTRUSTED_NOTE, **_block(untrusted)}
    metrics["verdicts"] = verdicts(main, gate, notes or {})
    metrics["targets"] = target_checks(main["forecast"])
    metrics["flags"] = implausibility_flags(main)
    metrics["summary"] = (
        [v["sentence"] for v in metrics["verdicts"].values()]
        + [check_sentence(check) for check in metrics["targets"]]
        + metrics["flags"]
    )
    return metrics


def verdicts(main: Mapping[str, Any], gate: GateResult | None, notes: dict[str, str]) -> dict[str, dict[str, object]]:
    """The skill gate, with a plain-words sentence per model."""
    out: dict[str, dict[str, object]] = {}
    if not main.get("n") or gate is None:
        sentence = "No trusted test events: no model could be evaluated; serving will not use any."
        return {name: {"skill": False, "sentence": sentence} for name in ("move_size", "direction", "iv_crush")}
    skill = gate.skill("pinball")
    use = (
        "Serving uses the model's calibrated quantiles (pinball skill)."
        if skill
        else "No pinball skill: serving uses the trusted scaled-history distribution (calibrated) instead."
    )
    out["move_size"] = {
        "skill": skill,
        "skill_by_target": {target: gate.skill(target) for target in gate.verdicts},
        "targets": {target: verdict.to_dict() for target, verdict in gate.verdicts.items()},
        "sentence": f"Move-size model: {gate.sentence()}. {use}",
    }
    direction = main["direction"]["model"]
    a, (lo, hi) = direction["auc"], direction["auc_ci95"]
    has_ci = a is not None and lo is not None and hi is not None
    skill = bool(has_ci and lo > 0.5)
    out["direction"] = {
        "skill": skill,
        "auc": a,
        "auc_ci95": [lo, hi],
        "sentence": (
            f"Direction model has skill: AUC {a:.2f} (95% CI {lo:.2f}-{hi:.2f}) is above 0.5."
            if skill
            else (
                f"Direction model has no skill: AUC {a:.2f} (95% CI {lo:.2f}-{hi:.2f}) includes 0.5; "
                "serving will not use it."
                if has_ci and hi >= 0.5
                else f"Direction model has no skill: AUC {a} (95% CI {lo}-{hi}); serving will not use it."
            )
        ),
    }
    iv = main["iv_crush"]
    if not iv.get("n"):
        reason = notes.get("iv_crush") or "no test event has both an implied move and an IV-crush prediction"
        out["iv_crush"] = {
            "skill": False,
            "trained": "iv_crush" not in notes,
            "sentence": f"IV-crush model {reason}; serving will not use it.",
        }
    else:
        m_mae, c_mae = iv["model"]["mae"], iv["constant_ratio"]["mae"]
        skill = iv["n"] >= MIN_IV_TEST_ROWS and m_mae < c_mae
        out["iv_crush"] = {
            "skill": bool(skill),
            "mae": m_mae,
            "mae_constant_ratio": c_mae,
            "sentence": (
                f"IV-crush model {'beats' if skill else 'does not beat'} a constant realized/implied ratio: "
                f"MAE {m_mae:.3f} vs {c_mae:.3f} on {iv['n']} events" + ("." if skill else "; serving will not use it.")
            ),
        }
    return out


def implausibility_flags(main: Mapping[str, Any]) -> list[str]:
    """Warnings for skill too good to be true for earnings moves (a look-ahead feature is the usual cause)."""
    if not main.get("n"):
        return []
    size = main["move_size"]
    r2 = size["model"]["r2"]
    ratio = size["model"]["mae"] / size["base_2_0_mean"]["mae"] if size["base_2_0_mean"]["mae"] else 0.0
    flags = []
    if (r2 is not None and r2 > IMPLAUSIBLE_R2) or ratio < IMPLAUSIBLE_MAE_RATIO:
        flags.append(
            f"IMPLAUSIBLE SKILL: move-size R^2 {r2:.2f}, MAE {ratio:.0%} of the 2.0 mean's; earnings moves are "
            "not this predictable before the fact: check for a feature that leaks the outcome."
        )
    return flags
