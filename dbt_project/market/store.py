"""The market-data store: `<workspace>/market/`, one Parquet file per dataset and a manifest (`manifest.json`)
recording, per dataset, its extent and every update (source, fetch time, rows).

Writes merge into what is stored (a row of the same key is replaced: the newer source wins), go to a
temporary file first and replace the dataset in one rename, under the workspace's `market` lock. The build
copies the store into the warehouse's schema `market` (empty tables where nothing is stored), so dbt reads
the same columns whether or not there are prices.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from ivcrush.market.schema import DATASETS, PRICES, QUOTES, Dataset, MarketDataError, validate
from ivcrush.settings import Settings
from ivcrush.workspace import exclusive

MANIFEST = "manifest.json"
UPDATES_KEPT = 50
# The warehouse's column types (dbt's sources declare the same).
_SQL_TYPES = {
    PRICES.name: "ticker VARCHAR, date DATE, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume BIGINT",
    QUOTES.name: (
        "ticker VARCHAR, as_of TIMESTAMP WITH TIME ZONE, expiration DATE, strike DOUBLE, type VARCHAR, "
        "bid DOUBLE, ask DOUBLE, iv DOUBLE"
    ),
}


def market_dir(settings: Settings) -> Path:
    """The workspace's market-data folder."""
    return settings.workdir / "market"


def dataset_path(folder: Path, dataset: Dataset) -> Path:
    return Path(folder) / f"{dataset.name}.parquet"


def read_manifest(folder: Path) -> dict[str, dict]:
    path = Path(folder) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def read_dataset(folder: Path, dataset: Dataset) -> pd.DataFrame:
    """The stored rows of `dataset` (an empty frame with its columns where nothing is stored)."""
    path = dataset_path(folder, dataset)
    if not path.is_file():
        return pd.DataFrame(columns=list(dataset.columns))
    return pd.read_parquet(path)


@dataclass(frozen=True)
class WriteResult:
    dataset: str
    rows_written: int
    rows_stored: int
    tickers: int


def _atomic_write(path: Path, write: object) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)  # type: ignore[operator]
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_rows(settings: Settings, dataset: Dataset, rows: pd.DataFrame, source: str) -> WriteResult:
    """Validate `rows` as `dataset` and merge them into the workspace's store; the manifest records `source`."""
    checked = validate(rows, dataset, source)
    folder = market_dir(settings)
    if settings.db is not None and settings.workdir.resolve() == settings.db.resolve().parent:
        raise MarketDataError(
            f"workspace {settings.workdir} is the folder of the database {settings.db}: the market store is "
            "never written beside it; choose another --workdir"
        )
    with exclusive(settings, "market"):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        stored = read_dataset(folder, dataset)
        merged = pd.concat([stored, checked], ignore_index=True) if len(stored) else checked
        merged = merged.drop_duplicates(list(dataset.key), keep="last").sort_values(list(dataset.key))
        merged = merged.reset_index(drop=True)
        _atomic_write(dataset_path(folder, dataset), lambda p: merged.to_parquet(p, index=False))
        manifest = read_manifest(folder)
        entry = manifest.get(dataset.name, {"updates": []})
        times = merged["date"].dt.date if dataset is PRICES else merged["as_of"]
        entry.update(
            rows=len(merged),
            tickers=int(merged["ticker"].nunique()),
            first=str(times.min()) if len(merged) else None,
            last=str(times.max()) if len(merged) else None,
        )
        update = {"source": source, "fetched_at": datetime.now(UTC).isoformat(), "rows": len(checked)}
        entry["updates"] = [*entry["updates"], update][-UPDATES_KEPT:]
        manifest[dataset.name] = entry
        _atomic_write(folder / MANIFEST, lambda p: p.write_text(json.dumps(manifest, indent=2)))
    return WriteResult(dataset.name, len(checked), len(merged), int(merged["ticker"].nunique()))


def load_market(folder: Path, warehouse: Path) -> dict[str, int]:
    """Copy the store into schema `market` of the build's DuckDB file (empty tables where nothing is stored);
    the row count of each dataset."""
    counts = {}
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS market")
        for dataset in DATASETS.values():
            con.execute(f"CREATE OR REPLACE TABLE market.{dataset.name} ({_SQL_TYPES[dataset.name]})")
            path = dataset_path(folder, dataset)
            if path.is_file():
                columns = ", ".join(dataset.columns)
                con.execute(f"INSERT INTO market.{dataset.name} SELECT {columns} FROM read_parquet(?)", [str(path)])
            (counts[dataset.name],) = con.execute(f"SELECT count(*) FROM market.{dataset.name}").fetchall()[0]
    return counts
