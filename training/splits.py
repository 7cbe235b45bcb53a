"""Walk-forward splits by date (expanding windows), point in time.

The labelled events are ordered by decision time (`event_timestamp`) and cut into `folds + 1` blocks of
equal size; the first block only trains, each later block is one test fold. A fold trains on every event
whose outcome was known (`outcome_known_at`) strictly before the fold's first decision time (and on or
before `train_until` when given). With `train_until` / `test_from` there is one split: the test events are
those decided on or after `test_from` (00:00 UTC), or after the end of `train_until` when only that is given.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TypedDict

import numpy as np
import pandas as pd

from ivcrush.errors import IvcrushError
from ivcrush.training.train import MOVE_LABEL

MIN_EVENTS_PER_BLOCK = 10  # fewer events than this per fold (and per first training block) is no evaluation


class EvaluationError(IvcrushError):
    """The walk-forward evaluation could not be run (too few events for the folds asked)."""


class Split(TypedDict):
    """One fold: its number, the training and test rows (boolean masks over the dataset), the first test decision."""

    fold: int
    train: pd.Series
    test: pd.Series
    test_start: pd.Timestamp


def _utc(day: date) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(day, datetime.min.time(), tzinfo=UTC))


def walk_forward_splits(
    dataset: pd.DataFrame, *, folds: int = 4, train_until: date | None = None, test_from: date | None = None
) -> list[Split]:
    """Fold definitions: {fold, train (bool mask), test (bool mask), test_start}."""
    labelled = dataset[MOVE_LABEL].notna()
    decided = pd.to_datetime(dataset["event_timestamp"], utc=True)
    known = pd.to_datetime(dataset["outcome_known_at"], utc=True)
    cap = _utc(train_until + timedelta(days=1)) if train_until else None
    if train_until is not None or test_from is not None:
        start = _utc(test_from) if test_from else cap
        assert start is not None
        test = labelled & (decided >= start)
        if not test.any():
            raise EvaluationError(f"no labelled event decided on or after {start.date()}")
        first = decided[test].min()
        train = labelled & (known < first)
        if cap is not None:
            train &= known < cap
        return [{"fold": 0, "train": train, "test": test, "test_start": first}]
    if folds < 1:
        raise EvaluationError("folds must be at least 1")
    order = decided[labelled].sort_values(kind="mergesort")
    if len(order) < (folds + 1) * MIN_EVENTS_PER_BLOCK:
        raise EvaluationError(
            f"{folds} folds need at least {(folds + 1) * MIN_EVENTS_PER_BLOCK:,} labelled events "
            f"({MIN_EVENTS_PER_BLOCK} per block); there are {len(order):,}: ask for fewer folds"
        )
    blocks = np.array_split(np.arange(len(order)), folds + 1)
    splits: list[Split] = []
    for fold, block in enumerate(blocks[1:]):
        if len(block) == 0:
            continue
        first, last = order.iloc[block[0]], order.iloc[block[-1]]
        test = labelled & (decided >= first) & (decided <= last)
        if fold == len(blocks) - 2:
            test = labelled & (decided >= first)
        splits.append({"fold": fold, "train": labelled & (known < first), "test": test, "test_start": first})
    # blocks cut on equal timestamps can overlap at their edges: each event belongs to its first fold
    seen = pd.Series(False, index=dataset.index)
    for split in splits:
        split["test"] = split["test"] & ~seen
        seen |= split["test"]
    return splits
