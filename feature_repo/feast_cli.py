"""Feast's own CLI (`feast plan`, `feast feature-views list`, `feast ui`, ...) on the published generation.

Each generation has its own registry, online store and Feast project, so Feast's CLI needs a concrete
configuration: it runs in a temporary repo folder holding that generation's feature_store.yaml and one
module that re-exports `feature_repo.definitions`. Nothing is written into the checkout or the package.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml  # type: ignore[import-untyped]  # PyYAML ships no type hints (types-PyYAML is not installed)

from ivcrush.feature_repo.store import repo_config
from ivcrush.settings import Settings
from ivcrush.workspace import published

# The generation folder, for `feature_repo.definitions` (feature_store.yaml names the same variable).
GENERATION_ENV = "IVCRUSH_FEAST_GENERATION"
REPO_MODULE = "ivcrush_published_generation.py"
REPO_MODULE_TEXT = "from ivcrush.feature_repo.definitions import *  # noqa: F403\n"
# Feast's CLI, with Feast imported as this package imports it (without typeguard's instrumentation: ~2 s).
FEAST_CLI = "import ivcrush.feature_repo; from feast.cli.cli import cli; cli(prog_name='feast')"


def run_feast_cli(settings: Settings, args: list[str]) -> int:
    """Run `feast ARGS` on the workspace's published generation; returns Feast's exit code."""
    generation = published(settings)
    folder = generation.path(settings.feast_dir)
    with tempfile.TemporaryDirectory(prefix="ivcrush-feast-") as repo:
        config = repo_config(folder, generation.project, generation.online_store, settings.redis_url)
        raw = config.model_dump(by_alias=True, exclude={"repo_path"}, exclude_unset=True, mode="json")
        Path(repo, "feature_store.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        Path(repo, REPO_MODULE).write_text(REPO_MODULE_TEXT)
        env = {**os.environ, GENERATION_ENV: str(folder)}
        return subprocess.call([sys.executable, "-c", FEAST_CLI, "-c", repo, *args], env=env)
