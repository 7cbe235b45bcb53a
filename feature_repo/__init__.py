"""Feast feature repository: entities, data sources, feature views and services.

Importing Feast takes ~3.2 s, ~2.2 s of it in typeguard instrumenting the classes Feast decorates with
`@typechecked` (re-parsing and recompiling their source; measured with feast 0.67.0, typeguard 4.6.1).
Every Feast import of this project goes through this package, which makes the first `import feast` of the
process run with that instrumentation off, as `python -O` turns it off: Feast's constructors then skip
typeguard's runtime argument checks and nothing else changes. `IVCRUSH_FEAST_TYPECHECKS=1` keeps them; a test
builds every definition of the repo with them on, so a wrongly typed definition still fails there. Importing
this package does not import Feast: modules that need no Feast (the feature names, the store's pointers) cost
nothing, Feast is imported where a module first imports it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from types import ModuleType
from typing import Any

FEAST_TYPECHECKS_ENV = "IVCRUSH_FEAST_TYPECHECKS"


def _no_instrumentation(target: Any = None, **_options: Any) -> Any:
    """typeguard.typechecked as a no-op, for both `@typechecked` and `@typechecked(...)`."""
    if target is None:
        return lambda decorated: decorated
    return target


class _FeastLoader(importlib.abc.Loader):
    """Feast's own loader, run with typeguard's `typechecked` replaced by a no-op."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        import typeguard

        original = typeguard.typechecked
        typeguard.typechecked = _no_instrumentation
        try:
            self._loader.exec_module(module)
        finally:
            typeguard.typechecked = original

    def __getattr__(self, name: str) -> Any:  # resource readers and the like: Feast's loader's
        return getattr(self._loader, name)


class _FeastFinder(importlib.abc.MetaPathFinder):
    """Finds `feast` once, with `_FeastLoader` around its loader, then steps aside."""

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "feast":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _FeastLoader(spec.loader)
        return spec


if "feast" not in sys.modules and os.environ.get(FEAST_TYPECHECKS_ENV) != "1":
    sys.meta_path.insert(0, _FeastFinder())
