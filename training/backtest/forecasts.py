"""Out-of-sample forecasts for the backtests, read from a walk-forward evaluation (nothing is trained here).

`ivcrush evaluate` writes, per test event, the calibrated |move| distribution of the fold's model (q10..q90,
tail_shape, tail_scale) and of the calibrated trusted scaled-history reference (ref_*), with the fold; its
metrics.json says each fold's last training outcome (`train_last_outcome_known_at`) and the skill verdicts.
The backtests take the distribution serving would take: the model's where its pinball gate held, else the
reference's; P(up) only where the direction model passed its gate (else 0.5). Every event's forecast is
checked to come from a model trained only on outcomes known before that event's decision.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ivcrush.constants import QUANTILE_NAMES
from ivcrush.errors import IvcrushError
from ivcrush.settings import Settings
from ivcrush.training.evaluations import latest_evaluation
from ivcrush.training.move_size import REFERENCE_NAMES
from ivcrush.workspace import Generation

FORECAST_COLUMNS = [*QUANTILE_NAMES, "tail_shape", "tail_scale", "p_up", "fold", "trained_until"]


class BacktestError(IvcrushError):
    """A backtest cannot run as asked (no evaluation to read, a leaking forecast, bad arguments)."""


def evaluation_dir(settings: Settings, generation: Generation, given: Path | None = None) -> Path:
    """The evaluation folder to read: `given`, else the newest evaluation of the generation's build."""
    if given is not None:
        if not (Path(given) / "metrics.json").is_file() or not (Path(given) / "predictions.csv").is_file():
            raise BacktestError(f"--evaluation {given}: no metrics.json and predictions.csv there")
        return Path(given)
    found = latest_evaluation(settings, generation.build_id)
    if found is None:
        raise BacktestError(
            f"no walk-forward evaluation of build {generation.build_id} in {settings.workdir / 'evaluations'}: "
            "run `ivcrush evaluate` first (the backtests read its out-of-sample forecasts and train nothing)"
        )
    return Path(str(found["path"]))


def load_forecasts(folder: Path) -> tuple[pd.DataFrame, dict[str, object]]:
    """(forecasts, info): one row per (ticker, earnings_date) of the evaluation's test events with the
    distribution serving would use, P(up), the fold and `trained_until` (the fold's last training outcome)."""
    folder = Path(folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    verdicts = metrics.get("verdicts", {})
    model_basis = bool(verdicts.get("move_size", {}).get("skill", False))
    direction = bool(verdicts.get("direction", {}).get("skill", False))
    predictions = pd.read_csv(folder / "predictions.csv")
    if model_basis:
        chosen = predictions[[*QUANTILE_NAMES, "tail_shape", "tail_scale"]]
    else:
        names = {ref: q for ref, q in zip(REFERENCE_NAMES, QUANTILE_NAMES, strict=True)}
        names |= {"ref_tail_shape": "tail_shape", "ref_tail_scale": "tail_scale"}
        chosen = predictions[list(names)].rename(columns=names)
    out = pd.concat([predictions[["ticker", "earnings_date", "fold"]], chosen], axis=1)
    out["earnings_date"] = pd.to_datetime(out["earnings_date"])
    out["p_up"] = predictions["p_up"].astype(float) if direction else 0.5
    folds = {int(f["fold"]): f for f in metrics["setup"]["folds"] if "skipped" not in f}
    out["trained_until"] = pd.to_datetime(out["fold"].map(lambda f: folds[int(f)]["train_last_outcome_known_at"]))
    out = out.drop_duplicates(["ticker", "earnings_date"], keep="last").reset_index(drop=True)
    info = {
        "evaluation": str(folder),
        "evaluated_at": metrics.get("created_at"),
        "build_id": metrics.get("dataset", {}).get("build_id"),
        "basis": "model (its pinball gate held)" if model_basis else "calibrated trusted scaled history (no skill)",
        "direction": "direction model (gate held)" if direction else "P(up) = 0.5 (no direction skill)",
        "folds": len(folds),
        "first_decision": min((str(f["test_first_decision"]) for f in folds.values()), default=None),
        "last_decision": max((str(f["test_last_decision"]) for f in folds.values()), default=None),
    }
    return out[["ticker", "earnings_date", *FORECAST_COLUMNS]], info


def attach_forecasts(events: pd.DataFrame, forecasts: pd.DataFrame) -> pd.DataFrame:
    """`events` with the forecast columns (NaN where the evaluation has no forecast: before its first fold);
    BacktestError where a forecast's model knew an outcome at or after the event's decision."""
    out = events.drop(columns=[c for c in FORECAST_COLUMNS if c in events.columns])
    out = out.merge(forecasts, on=["ticker", "earnings_date"], how="left", validate="many_to_one")
    decided = pd.to_datetime(out["event_timestamp"], utc=True)
    leaked = out["trained_until"].notna() & (pd.to_datetime(out["trained_until"], utc=True) >= decided)
    if leaked.any():
        row = out[leaked].iloc[0]
        raise BacktestError(
            f"the evaluation's forecast of {row['ticker']} {row['earnings_date']:%Y-%m-%d} comes from a model "
            f"trained on outcomes up to {row['trained_until']}, not before its decision {row['event_timestamp']}: "
            "re-run `ivcrush evaluate` on this build"
        )
    return out
