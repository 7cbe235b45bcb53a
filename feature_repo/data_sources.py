"""Feast data sources: the dbt marts of one build (Parquet), stamped with the event's decision time."""

from __future__ import annotations

from pathlib import Path

from feast import FileSource
from feast.data_format import ParquetFormat

from ivcrush.feature_repo.packed import PACKED_VIEW

TIMESTAMP_FIELD = "event_timestamp"


def mart_source(marts_dir: Path, mart: str) -> FileSource:
    """The Parquet mart `mart` of a build as a Feast source (absolute path: builds are immutable)."""
    return FileSource(
        name=f"{mart}_source",
        path=str((Path(marts_dir) / f"{mart}.parquet").resolve()),
        file_format=ParquetFormat(),
        timestamp_field=TIMESTAMP_FIELD,
        description=f"dbt mart {mart}: one row per earnings event, computed as of its decision time.",
    )


def packed_source(path: Path) -> FileSource:
    """The packed view's source (`packed.write_packed_source`, in the generation's folder) as a Feast source."""
    return FileSource(
        name=f"{PACKED_VIEW}_source",
        path=str(Path(path).resolve()),
        file_format=ParquetFormat(),
        timestamp_field=TIMESTAMP_FIELD,
        description="The served features of the dbt marts packed into one row per earnings event.",
    )
