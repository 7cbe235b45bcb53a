"""The feature store's view of one earnings day, made on demand: `scan DATE` works for any date."""

from __future__ import annotations

from datetime import date

from ivcrush.events import has_events_on
from ivcrush.feature_repo.materialize import materialize
from ivcrush.settings import Settings
from ivcrush.workspace import Generation, current_build, read_pointer


def view_of_day(settings: Settings, day: date) -> tuple[Generation | None, bool]:
    """The published generation that serves the events dated `day`: the current one where it was materialized
    as of that day from the current build (or where the build has no event that day: nothing to serve), else
    a new one materialized now (then True). None where nothing was ever published and nothing is to be."""
    build = current_build(settings)
    generation = read_pointer(settings.feast_dir)
    if (
        generation is not None
        and generation.as_of == day.isoformat()
        and (build is None or generation.build_id == build.build_id)
    ):
        return generation, False
    if build is not None and not has_events_on(build, day):  # a Parquet read: after the pointer's check
        return generation, False
    return materialize(settings, day), True
