"""Trained models kept on disk, keyed by everything they are a function of (the incremental main job).

`train_models` is deterministic: its result is a function of the labelled rows it trains on (by default the
trusted ones), its options, the training code and the packages that fit the trees. `ModelCache.models` keys a
training by exactly these (`training_key`): the content (values, dtypes and column names, in order) of
`training_rows(frame)`, the options, `training_code()` and the versions of LightGBM, NumPy, pandas and SciPy.
On a hit it loads the boosters (LightGBM's text format) and the move-size numbers (JSON) written by the same
training; on a miss it trains and keeps the result. Both paths train from the same input, the rows with a
fresh index, so a reused result is the one a recomputation gives (tests/test_incremental.py checks it).

A new earnings day moves no walk-forward fold whose cut-off stays put (`training.splits`: blocks of equal
counts, cut at a decision time), so its fold's models are reused and only its predictions recomputed; the
final training is reused where the day adds no trusted row. Entries live in `<workdir>/model_cache/<key>/`,
written under a temporary name and moved into place in one rename; the newest `KEPT` are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

import lightgbm as lgb
import pandas as pd

from ivcrush.training.evaluations import training_code
from ivcrush.training.move_size import MoveSizeModel
from ivcrush.training.train import MIN_IV_ROWS, NUM_BOOST_ROUND, TrainedModels, train_models, training_rows

CACHE_FOLDER = "model_cache"
KEPT = 12  # entries (a main job uses 4: three folds and the final training)
ENTRY = "models.json"
FITTING_PACKAGES = ("lightgbm", "numpy", "pandas", "scipy")


def rows_digest(rows: pd.DataFrame) -> str:
    """A content hash of a frame: column names, dtypes and values in order (not the index)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in rows.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def training_key(frame: pd.DataFrame, options: dict[str, object]) -> str:
    """The cache key of `train_models(frame, **options)`: the rows it trains on, its options, the code and the
    fitting packages' versions."""
    trusted_only = bool(options.get("trusted_only", True))
    given = {
        "rows": rows_digest(training_rows(frame, trusted_only)),
        "options": json.dumps(options, sort_keys=True, default=repr),
        "code": training_code(),
        "packages": [version(name) for name in FITTING_PACKAGES],
    }
    return hashlib.sha256(json.dumps(given, sort_keys=True).encode()).hexdigest()[:24]


class ModelCache:
    """Trained models by `training_key` in `folder`; with `reuse=False` (`--force`) every training is done
    again (and kept). `reused` and `trained` count the trainings of each kind since it was made."""

    def __init__(self, folder: Path, *, reuse: bool = True) -> None:
        self.folder = Path(folder)
        self.reuse = reuse
        self.reused = 0
        self.trained = 0

    def models(
        self,
        frame: pd.DataFrame,
        *,
        features: Sequence[str] | None = None,
        trusted_only: bool = True,
        num_boost_round: int = NUM_BOOST_ROUND,
        params: dict[str, object] | None = None,
        min_iv_rows: int = MIN_IV_ROWS,
        check_leakage: bool = True,
    ) -> TrainedModels:
        """`train_models(frame, ...)`, reused from the cache where it was trained on the same rows and options."""
        options: dict[str, object] = {
            "features": list(features) if features is not None else None,
            "trusted_only": trusted_only,
            "num_boost_round": num_boost_round,
            "params": params,
            "min_iv_rows": min_iv_rows,
            "check_leakage": check_leakage,
        }
        key = training_key(frame, options)
        entry = self.folder / key
        if self.reuse and (entry / ENTRY).is_file():
            os.utime(entry)  # the newest entries are the ones kept
            self.reused += 1
            return _read(entry)
        rows = training_rows(frame, trusted_only).reset_index(drop=True)  # the one input of both paths
        models = train_models(rows, **options)  # type: ignore[arg-type]
        self.trained += 1
        _write(entry, models)
        self._prune()
        return models

    def _prune(self) -> None:
        entries = sorted((p for p in self.folder.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        for old in entries[:-KEPT]:
            shutil.rmtree(old, ignore_errors=True)


def cache_folder(workdir: Path) -> Path:
    return Path(workdir) / CACHE_FOLDER


def _numbers(models: TrainedModels) -> dict[str, object]:
    return {
        "boosters": sorted(models.boosters),
        "features": models.features,
        "move_size": models.move_size.to_dict(),
        "notes": models.notes,
        "training": models.training,
    }


def _write(entry: Path, models: TrainedModels) -> None:
    """Keep `models` in `entry`, where their numbers read back exactly as they are (else not at all)."""
    numbers = _numbers(models)
    try:
        text = json.dumps(numbers, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return  # a value JSON cannot hold exactly: not kept, trained again next time
    if json.loads(text) != numbers:
        return
    temporary = entry.with_name(f".tmp-{entry.name}-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    try:
        for name, booster in models.boosters.items():
            (temporary / f"{name}.txt").write_text(booster.model_to_string())
        (temporary / ENTRY).write_text(text)
        shutil.rmtree(entry, ignore_errors=True)
        os.replace(temporary, entry)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _read(entry: Path) -> TrainedModels:
    numbers = json.loads((entry / ENTRY).read_text())
    boosters = {name: lgb.Booster(model_str=(entry / f"{name}.txt").read_text()) for name in numbers["boosters"]}
    return TrainedModels(
        boosters=boosters,
        features=list(numbers["features"]),
        move_size=MoveSizeModel.from_dict(numbers["move_size"]),
        notes=dict(numbers["notes"]),
        training=dict(numbers["training"]),
    )
