"""Feast feature repository: entities, data sources, feature views and services.

Importing Feast takes ~3.2 s, ~2.2 s of it in typeguard instrumenting the classes Feast decorates with
`@typechecked` (re-parsing and recompiling their source; measured with feast 0.67.0, typeguard 4.6.1).
Every Feast import of this project goes through this package, which imports Feast once with that
instrumentation off, as `python -O` turns it off: Feast's constructors then skip typeguard's runtime
argument checks and nothing else changes. `IVCRUSH_FEAST_TYPECHECKS=1` keeps them; a test builds every
definition of the repo with them on, so a wrongly typed definition still fails there.
"""

from __future__ import annotations

import os
import sys
from typing import Any

FEAST_TYPECHECKS_ENV = "IVCRUSH_FEAST_TYPECHECKS"


def _no_instrumentation(target: Any = None, **_options: Any) -> Any:
    """typeguard.typechecked as a no-op, for both `@typechecked` and `@typechecked(...)`."""
    if target is None:
        return lambda decorated: decorated
    return target


def _import_feast() -> None:
    if "feast" in sys.modules or os.environ.get(FEAST_TYPECHECKS_ENV) == "1":
        return
    import typeguard

    original = typeguard.typechecked
    typeguard.typechecked = _no_instrumentation
    try:
        import feast  # noqa: F401
    finally:
        typeguard.typechecked = original


_import_feast()
