"""`ivcrush import prices|options PATH`: a CSV or Parquet file a user exported from any vendor, checked row by
row against the documented columns (`ivcrush.market.schema`) and merged into the workspace's store. Column
names are matched case-insensitively; extra columns are ignored. A bad file writes nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ivcrush.market.schema import DATASETS, MarketDataError, validate
from ivcrush.market.store import WriteResult, write_rows
from ivcrush.settings import Settings

CSV_HEADER_LINES = 1


def read_file(path: Path) -> tuple[pd.DataFrame, pd.Index]:
    """The file's rows (as text for CSV: typing is validation's job) and the labels naming them in messages:
    CSV line numbers (the header is line 1), Parquet row numbers from 1."""
    path = Path(path)
    if not path.is_file():
        raise MarketDataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], skip_blank_lines=False)
            labels = pd.RangeIndex(CSV_HEADER_LINES + 1, CSV_HEADER_LINES + 1 + len(frame))
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
            labels = pd.RangeIndex(1, len(frame) + 1)
        else:
            raise MarketDataError(f"{path}: unknown format {suffix or '(no suffix)'}; use .csv or .parquet")
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise MarketDataError(f"{path}: cannot be read ({exc})") from exc
    if frame.empty:
        raise MarketDataError(f"{path}: no rows")
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame, labels


def import_file(settings: Settings, kind: str, path: Path) -> WriteResult:
    """Validate the whole file, then merge it into the store (the manifest's source is the file's path)."""
    if kind not in DATASETS:
        raise MarketDataError(f"unknown dataset {kind!r}; choose {' or '.join(DATASETS)}")
    dataset = DATASETS[kind]
    frame, labels = read_file(path)
    where = str(Path(path).resolve())
    validate(frame, dataset, where, labels)  # every problem named before anything is written
    return write_rows(settings, dataset, frame, f"import:{where}")
