"""Open the Feast store of a published generation (registry + online store) in-process.

Each `ivcrush materialize` publishes a new generation: its own registry, its own Feast project name (so
its online rows never mix with another generation's, in SQLite or Redis), and a pointer file that moves
to it in one rename once it is complete.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

FEATURE_STORE_YAML = Path(__file__).with_name("feature_store.yaml")
POINTER = "current.json"


@dataclass(frozen=True)
class Generation:
    """What a published feature-store generation holds."""

    generation_id: str
    project: str
    build_id: str
    build_dir: str
    feature_service: str
    as_of: str
    materialized_until: str
    online_store: str
    online_rows: int
    published_at: str

    def path(self, feast_dir: Path) -> Path:
        return feast_dir / "generations" / self.generation_id


def read_pointer(feast_dir: Path) -> Generation | None:
    pointer = feast_dir / POINTER
    if not pointer.is_file():
        return None
    return Generation(**json.loads(pointer.read_text()))


def write_pointer(feast_dir: Path, generation: Generation) -> None:
    pointer = feast_dir / POINTER
    temporary = pointer.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(generation), indent=2))
    os.replace(temporary, pointer)


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
