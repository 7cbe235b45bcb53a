"""Open the Feast store of a published generation (registry + online store) in-process.

Each `ivcrush materialize` publishes a new generation: its own registry, its own Feast project name (so
its online rows never mix with another generation's, in SQLite or Redis), and a pointer file that moves
to it in one rename once it is complete.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ivcrush.settings import Settings
from ivcrush.workspace import Generation

if TYPE_CHECKING:
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

FEATURE_STORE_YAML = Path(__file__).with_name("feature_store.yaml")


def repo_config(generation_dir: Path, project: str, online_store: str, redis_url: str) -> RepoConfig:
    """Feast RepoConfig from feature_store.yaml for one generation folder and online store."""
    from feast.repo_config import RepoConfig

    os.environ["IVCRUSH_FEAST_GENERATION"] = str(generation_dir)
    raw = yaml.safe_load(os.path.expandvars(FEATURE_STORE_YAML.read_text()))
    raw["project"] = project
    if online_store == "redis":
        raw["online_store"] = {"type": "redis", "connection_string": redis_url}
    return RepoConfig(repo_path=FEATURE_STORE_YAML.parent, **raw)


def open_store(generation_dir: Path, project: str, online_store: str, redis_url: str) -> FeatureStore:
    """A Feast FeatureStore for a generation (importing Feast costs seconds: only callers that need it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from feast import FeatureStore

    return FeatureStore(config=repo_config(generation_dir, project, online_store, redis_url))


def open_published_store(settings: Settings, generation: Generation) -> FeatureStore:
    """The Feast store of a published generation, resolved by the caller (once per request)."""
    return open_store(
        generation.path(settings.feast_dir), generation.project, generation.online_store, settings.redis_url
    )
