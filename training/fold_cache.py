"""Trained models kept on disk, keyed by everything they are a function of (the incremental main job).

`train_models` is deterministic: its result is a function of the labelled rows it trains on (by default the
trusted ones), its options, the training code and the packages that fit the trees. `ModelCache.models` keys a
training by exactly these (`training_key`): the content (values, dtypes and column names, in order) of
`training_rows(frame)`, the options, `training_code()` (with the constants and feature names it reads from
below) and the versions of LightGBM, NumPy, pandas and SciPy.
On a hit it loads the boosters (LightGBM's text format), the move-size numbers (JSON) and the calibrations'
out-of-fold samples (`samples.npz`: what the walk-forward's daily re-fits add the fold's outcomes to) written by
the same training; on a miss it trains and keeps the result. Both paths train from the same input, the rows with a
fresh index, so a reused result is the one a recomputation gives (tests/test_incremental.py checks it).

A new earnings day moves no walk-forward fold whose cut-off stays put (`training.splits`: blocks of equal
counts, cut at a decision time), so its fold's models are reused and only its predictions recomputed; the
final training is reused where the day adds no trusted row. Where a training is done, the quantile boosters
of each of its calibration slices (`training.calibration.calibration_slices`, trained on the outcomes known
before the slice) are reused the same way (`quantiles_key`): a new day rarely moves a slice's start.
The walk-forward's daily re-fits of a fold's calibrations (`training.recalibration`) are kept too, by the
calibration (its out-of-fold sample) and the re-fit's events (`refits_key`, `arrays_digest`): a new day leaves
every earlier day's re-fit inputs as they were, so only its own re-fits are done again.
Entries live in `<workdir>/model_cache/<key>/`, written under a temporary name and moved into place in one
rename; the newest `KEPT` are kept.

With `workers`, `prefetch` starts a training in one of that many threads, whose result the later `models` call
of the same rows and options takes: the main job trains its folds and its final model at once. LightGBM
releases the GIL while it fits and trains with one OpenMP thread (`training.train`, identical boosters), so
the trainings run in parallel next to the evaluation's own work.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import TypedDict, Unpack

import lightgbm as lgb
import numpy as np
import pandas as pd

from ivcrush import constants
from ivcrush.feature_repo import feature_names
from ivcrush.feature_repo.feature_names import MODEL_FEATURE_COLUMNS
from ivcrush.training.calibration import Calibration, CalibrationSample, refit
from ivcrush.training.evaluations import training_code
from ivcrush.training.move_size import MoveSizeModel
from ivcrush.training.train import (
    QUANTILE_ROUNDS,
    TrainedModels,
    fit_quantile_boosters,
    train_models,
    training_rows,
)

CACHE_FOLDER = "model_cache"
KEPT = 80  # entries (a main job writes 4 trainings, each with the quantile boosters of its calibration slices)
ENTRY = "models.json"
SAMPLES = "samples.npz"
SAMPLE_ARRAYS = ("quantiles", "y", "prior", "decided_at")  # CalibrationSample's arrays, stored exactly
FITTING_PACKAGES = ("lightgbm", "numpy", "pandas", "scipy")
_SWAPPING = threading.Lock()  # an entry is replaced by one thread at a time
WORKERS = 2  # trainings at once in the main job (this machine's cores; each trains with one thread)


def rows_digest(rows: pd.DataFrame) -> str:
    """A content hash of a frame: column names, dtypes and values in order (not the index)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in rows.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _code() -> str:
    """The training code's fingerprint and the lower modules it takes its constants from (quantile levels,
    feature columns)."""
    digest = hashlib.sha256(training_code().encode())
    for module in (constants, feature_names):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


@cache
def _fitting_versions() -> tuple[str, ...]:
    """The versions of the packages that fit the models (looked up once: ~5 ms each)."""
    return tuple(version(name) for name in FITTING_PACKAGES)


def _key(content: str, options: dict[str, object]) -> str:
    """The key of a result of `content` (a digest of its input data) and `options`, the code and packages."""
    given = {
        "rows": content,
        "options": json.dumps(options, sort_keys=True, default=repr),
        "code": _code(),
        "packages": _fitting_versions(),
    }
    return hashlib.sha256(json.dumps(given, sort_keys=True).encode()).hexdigest()[:24]


def arrays_digest(*arrays: np.ndarray) -> str:
    """A content hash of arrays: each one's dtype, shape and bytes, in order."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def refits_key(sample: CalibrationSample, design: object) -> str:
    """The cache key of the re-fits (`calibration.refit`) of a calibration with this out-of-fold `sample` and
    `design` (what they read of it), the code and the packages' versions."""
    arrays = [getattr(sample, field) for field in SAMPLE_ARRAYS]
    shares = [sample.window_rows, repr(sample.pooled_share), repr(sample.recent_share)]
    return _key(arrays_digest(*arrays), {"refit": [shares, design]})


def training_key(frame: pd.DataFrame, options: dict[str, object]) -> str:
    """The cache key of `train_models(frame, **options)`: the rows it trains on, its options, the code and the
    fitting packages' versions."""
    rows = training_rows(frame, bool(options.get("trusted_only", True)))
    return _key(rows_digest(rows), {"train_models": options})


def quantiles_key(rows: pd.DataFrame, features: Sequence[str], scale_mean: float, params: object) -> str:
    """The cache key of `fit_quantile_boosters(rows, features, scale_mean, params)` (a calibration slice's
    boosters too): all of its input rows, its arguments, the code and the packages' versions."""
    arguments = [list(features), repr(float(scale_mean)), params, QUANTILE_ROUNDS]
    return _key(rows_digest(rows), {"fit_quantile_boosters": arguments})


class ModelCache:
    """Trained models by `training_key` in `folder`; with `reuse=False` (`--force`) every training is done
    again (and kept). `reused` and `trained` count the trainings of each kind since it was made. With
    `workers`, `prefetch` trains in that many threads (`close` or a `with` block ends them). `refit` re-fits
    calibrations, reused likewise (kept by `close`)."""

    def __init__(self, folder: Path, *, reuse: bool = True, workers: int = 0) -> None:
        self.folder = Path(folder)
        self.reuse = reuse
        self.reused = 0
        self.trained = 0
        self.quantile_sets_reused = 0  # of the quantile boosters of the calibration slices of a training
        self.refits_reused = 0
        self._refits: dict[str, dict[str, dict[str, object]]] = {}  # entry -> the re-fit's inputs -> its numbers
        self._refit_entries: dict[int, tuple[Calibration, str]] = {}  # id(calibration) -> (it, its entry)
        self._unsaved: set[str] = set()
        self._lock = threading.Lock()  # the counters and the pruning, shared by the workers
        self._pending: dict[str, Future[TrainedModels]] = {}
        self._workers = ThreadPoolExecutor(workers, thread_name_prefix="training") if workers > 0 else None

    def __enter__(self) -> ModelCache:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the trainings not started (the running ones finish in their threads, not waited for here);
        keep the new re-fits."""
        if self._workers is not None:
            self._workers.shutdown(wait=False, cancel_futures=True)
        self._pending.clear()
        for entry in sorted(self._unsaved):
            _write_entry(self.folder / entry, {}, {"refits": self._refits[entry]})
        self._unsaved.clear()
        self._prune()

    def prefetch(self, frame: pd.DataFrame, **given: Unpack[TrainOptions]) -> None:
        """Start `models(frame, ...)` in a worker (without workers: nothing); the `models` call with the same
        rows and options then takes its result, or raises its error."""
        if self._workers is None:
            return
        options = _options(**given)
        key = training_key(frame, options)
        if key not in self._pending:
            rows = training_rows(frame, bool(options["trusted_only"])).reset_index(drop=True)  # the worker's copy
            self._pending[key] = self._workers.submit(self._models, key, rows, options)

    def models(self, frame: pd.DataFrame, **given: Unpack[TrainOptions]) -> TrainedModels:
        """`train_models(frame, ...)`, reused from the cache where it was trained on the same rows and options."""
        options = _options(**given)
        key = training_key(frame, options)
        pending = self._pending.pop(key, None)
        if pending is not None:
            return pending.result()
        return self._models(key, training_rows(frame, bool(options["trusted_only"])).reset_index(drop=True), options)

    def _models(self, key: str, rows: pd.DataFrame, options: dict[str, object]) -> TrainedModels:
        """The training of `rows` (a frame's training rows with a fresh index: the one input of both paths)."""
        entry = self.folder / key
        if self._hit(entry):
            self._count("reused")
            return _read(entry)
        models = train_models(rows, **options, fit_quantiles=self.quantile_boosters)  # type: ignore[arg-type]
        self._count("trained")
        _write(entry, models)
        self._prune()
        return models

    def quantile_boosters(
        self, rows: pd.DataFrame, features: Sequence[str], scale_mean: float, params: dict[str, object] | None
    ) -> dict[str, lgb.Booster]:
        """`fit_quantile_boosters(rows, ...)`, reused where fitted on the same rows and arguments (a calibration
        slice whose start a new day did not move)."""
        entry = self.folder / quantiles_key(rows, features, scale_mean, params)
        if self._hit(entry):
            self._count("quantile_sets_reused")
            return _read_boosters(entry, json.loads((entry / ENTRY).read_text())["boosters"])
        boosters = fit_quantile_boosters(rows.reset_index(drop=True), features, scale_mean, params)
        _write_entry(entry, boosters, {"boosters": sorted(boosters)})
        return boosters

    def refit(
        self, calibration: Calibration, quantiles: np.ndarray, y: np.ndarray, prior: np.ndarray, decided_at: np.ndarray
    ) -> Calibration:
        """`calibration.refit(calibration, ...)`, reused where a run re-fitted the same calibration on the same
        events (the arrays as given, before `refit` filters and orders them)."""
        sample = calibration.sample
        if sample is None:
            return refit(calibration, quantiles, y, prior, decided_at)
        known = self._refit_entries.get(id(calibration))
        if known is None or known[0] is not calibration:
            entry = refits_key(sample, calibration.fitted_on.get("design"))
            known = self._refit_entries[id(calibration)] = (calibration, entry)
        entry = known[1]
        if entry not in self._refits:
            path = self.folder / entry
            self._refits[entry] = json.loads((path / ENTRY).read_text())["refits"] if self._hit(path) else {}
        kept, given = self._refits[entry], arrays_digest(quantiles, y, prior, decided_at)
        if given in kept:
            self._count("refits_reused")
            return Calibration.from_dict(kept[given])
        refitted = refit(calibration, quantiles, y, prior, decided_at)
        kept[given] = refitted.to_dict()
        self._unsaved.add(entry)
        return refitted

    def _hit(self, entry: Path) -> bool:
        if not self.reuse or not (entry / ENTRY).is_file():
            return False
        os.utime(entry)  # the newest entries are the ones kept
        return True

    def _count(self, counter: str) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)

    def _prune(self) -> None:
        with self._lock:  # a worker's entry being written is among the newest (kept)
            entries = sorted((p for p in self.folder.iterdir() if p.is_dir()), key=_mtime)
            for old in entries[:-KEPT]:
                shutil.rmtree(old, ignore_errors=True)


def _mtime(path: Path) -> float:
    """`path`'s modification time; 0 where it is gone (a worker's temporary entry moved into place)."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


class TrainOptions(TypedDict, total=False):
    """`train_models`' options that the cache keys a training by (`train_models` has their defaults)."""

    features: Sequence[str] | None
    trusted_only: bool
    num_boost_round: int
    params: dict[str, object] | None
    min_iv_rows: int
    check_leakage: bool


def _options(**given: Unpack[TrainOptions]) -> dict[str, object]:
    """`train_models`' options as the key holds them, its defaults (read from its signature) filled in."""
    options: dict[str, object] = {**_train_defaults(), **given}
    return {**options, "features": list(given.get("features") or MODEL_FEATURE_COLUMNS)}


@cache
def _train_defaults() -> dict[str, object]:
    """`train_models`' defaults of the options in TrainOptions, in one place: its signature."""
    parameters = inspect.signature(train_models).parameters
    return {name: parameters[name].default for name in TrainOptions.__annotations__}


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


def _calibrations(move_size: MoveSizeModel) -> dict[str, Calibration]:
    return {"calibration": move_size.calibration, "reference_calibration": move_size.reference_calibration}


def _write(entry: Path, models: TrainedModels) -> None:
    """Keep `models` in `entry`, where their numbers read back exactly as they are (else not at all), with
    their calibrations' out-of-fold samples."""
    numbers, arrays = _numbers(models), {}
    samples: dict[str, object] = {}
    for name, calibration in _calibrations(models.move_size).items():
        sample = calibration.sample
        if sample is not None:
            samples[name] = [sample.window_rows, sample.pooled_share, sample.recent_share]
            for field in SAMPLE_ARRAYS:
                arrays[f"{name}.{field}"] = getattr(sample, field)
    _write_entry(entry, models.boosters, {**numbers, "samples": samples}, arrays)


def _write_entry(
    entry: Path,
    boosters: dict[str, lgb.Booster],
    numbers: dict[str, object],
    arrays: dict[str, np.ndarray] | None = None,
) -> None:
    try:
        text = json.dumps(numbers, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return  # a value JSON cannot hold exactly: not kept, trained again next time
    if json.loads(text) != numbers:
        return
    temporary = entry.with_name(f".tmp-{entry.name}-{os.getpid()}-{threading.get_ident()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    try:
        for name, booster in boosters.items():
            (temporary / f"{name}.txt").write_text(booster.model_to_string())
        if arrays:
            np.savez(temporary / SAMPLES, allow_pickle=False, **arrays)
        (temporary / ENTRY).write_text(text)
        with _SWAPPING:  # two threads that trained the same rows would otherwise both empty the place, then
            shutil.rmtree(entry, ignore_errors=True)  # the second rename would find it full (ENOTEMPTY)
            os.replace(temporary, entry)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _read_boosters(entry: Path, names: Sequence[str]) -> dict[str, lgb.Booster]:
    return {name: lgb.Booster(model_str=(entry / f"{name}.txt").read_text()) for name in names}


def _read(entry: Path) -> TrainedModels:
    numbers = json.loads((entry / ENTRY).read_text())
    boosters = _read_boosters(entry, numbers["boosters"])
    move_size = MoveSizeModel.from_dict(numbers["move_size"])
    if numbers["samples"]:
        with np.load(entry / SAMPLES, allow_pickle=False) as arrays:
            for name, calibration in _calibrations(move_size).items():
                if name in numbers["samples"]:
                    window_rows, pooled_share, recent_share = numbers["samples"][name]
                    columns = {field: arrays[f"{name}.{field}"] for field in SAMPLE_ARRAYS}
                    calibration.sample = CalibrationSample(
                        **columns, window_rows=window_rows, pooled_share=pooled_share, recent_share=recent_share
                    )
    return TrainedModels(
        boosters=boosters,
        features=list(numbers["features"]),
        move_size=move_size,
        notes=dict(numbers["notes"]),
        training=dict(numbers["training"]),
    )
