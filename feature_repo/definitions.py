"""The Feast definitions of one published generation, declared at module level as Feast's CLI reads a repo.

`ivcrush feast -- ARGS` points Feast's CLI at a generation (IVCRUSH_FEAST_GENERATION) and lets it read
this module: the objects are built by the same functions that `materialize` applied to that generation's
build, so `feast plan` compares like with like. Nothing else imports this module (importing it reads the
generation's manifest); the library's declarations live in entities.py, data_sources.py, features.py and
feature_services.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ivcrush.errors import IvcrushError
from ivcrush.feature_repo.entities import ticker
from ivcrush.feature_repo.feast_cli import GENERATION_ENV
from ivcrush.feature_repo.feature_services import feature_services
from ivcrush.feature_repo.features import feature_views, packed_view
from ivcrush.workspace import Generation

GENERATION_MANIFEST = "generation.json"

if GENERATION_ENV not in os.environ:
    raise IvcrushError(f"{GENERATION_ENV} is not set: run Feast's CLI through `ivcrush feast -- ARGS`")

_generation = Generation(**json.loads((Path(os.environ[GENERATION_ENV]) / GENERATION_MANIFEST).read_text()))
_views = {view.name: view for view in feature_views(Path(_generation.build_dir) / "marts")}

historical_move_features = _views["historical_move_features"]
volatility_features = _views["volatility_features"]
market_regime_features = _views["market_regime_features"]
calendar_features = _views["calendar_features"]
options_features = _views["options_features"]
(earnings_move_v1,) = feature_services(list(_views.values()))
earnings_move_v1_packed = packed_view(Path(os.environ[GENERATION_ENV]))

__all__ = [
    "calendar_features",
    "earnings_move_v1",
    "earnings_move_v1_packed",
    "historical_move_features",
    "market_regime_features",
    "options_features",
    "ticker",
    "volatility_features",
]
