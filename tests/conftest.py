"""Shared fixtures: the real snapshot (skipped where absent), generated sample databases, builds."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from ivcrush.settings import Settings

# The real snapshot lies beside the checkout (CI always has it; a fresh machine may not).
SHARED_SNAPSHOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "ivcrush.db"

SNAPSHOT_MISSING = (
    f"real snapshot {SHARED_SNAPSHOT} not present (../shared is absent on this machine; CI always has it)"
)


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def folder_state(folder: Path) -> dict[str, str]:
    """Every file in a folder with its digest: proves nothing was written there."""
    return {p.name: file_digest(p) for p in sorted(Path(folder).iterdir()) if p.is_file()}


@pytest.fixture(scope="session")
def real_snapshot() -> Path:
    if not SHARED_SNAPSHOT.is_file():
        pytest.skip(SNAPSHOT_MISSING)
    return SHARED_SNAPSHOT


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated 2.0 database, shared read-only by the tests of a session."""
    from ivcrush.source.sample import write_sample_db

    path = tmp_path_factory.mktemp("sample") / "ivcrush.db"
    write_sample_db(path, tickers=40, years=5, seed=11)
    return path


@pytest.fixture
def sample_copy(sample_db: Path, tmp_path: Path) -> Path:
    """A private copy of the sample database that a test may damage."""
    target = tmp_path / "user" / "ivcrush.db"
    target.parent.mkdir()
    shutil.copy2(sample_db, target)
    return target


@pytest.fixture(scope="session")
def built_sample(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The sample database built once per session (real dbt run)."""
    from ivcrush.build import build

    settings = Settings(workdir=tmp_path_factory.mktemp("work-sample"), db=sample_db)
    build(settings)
    return settings


@pytest.fixture(scope="session")
def built_real(real_snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The real snapshot built once per session (real dbt run)."""
    from ivcrush.build import build

    settings = Settings(workdir=tmp_path_factory.mktemp("work-real"), db=real_snapshot)
    build(settings)
    return settings
