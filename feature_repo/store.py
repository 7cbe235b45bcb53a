"""Open the Feast store of a published generation (registry + online store) in-process.

Each `ivcrush materialize` publishes a new generation: its own registry, its own Feast project name (so
its online rows never mix with another generation's, in SQLite or Redis), and a pointer file that moves
to it in one rename once it is complete. A generation records its online store and (for Redis) the
server's address: serving reads where the rows were written, whatever the serving shell's settings say.
Redis connections have connect and read timeouts and no retries: a server that refuses or never answers
becomes an `OnlineStoreError` within seconds.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import yaml  # type: ignore[import-untyped]  # PyYAML ships no type hints (types-PyYAML is not installed)

from ivcrush.errors import IvcrushError
from ivcrush.settings import Settings
from ivcrush.workspace import Generation

if TYPE_CHECKING:
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

FEATURE_STORE_YAML = Path(__file__).with_name("feature_store.yaml")
REDIS_CONNECT_TIMEOUT_S = 3
REDIS_TIMEOUT_S = 5
# Options of a redis_url ("host:port,option=value,...") that are secrets: never written into the workspace.
REDIS_SECRET_OPTIONS = ("password", "username")


class OnlineStoreError(IvcrushError):
    """The online store cannot be reached or did not answer in time; the message names it."""


def _redis_parts(redis_url: str) -> tuple[str, list[str]]:
    """(host:port, [option=value, ...]) of a Feast Redis connection string."""
    parts = [p.strip() for p in redis_url.split(",") if p.strip()]
    address = next((p for p in parts if "=" not in p), "")
    return address, [p for p in parts if "=" in p]


def recorded_redis_url(redis_url: str) -> str:
    """The Redis connection string as a generation records it: without passwords or user names."""
    address, options = _redis_parts(redis_url)
    kept = [o for o in options if o.split("=", 1)[0] not in REDIS_SECRET_OPTIONS]
    return ",".join([address, *kept])


def generation_redis_url(settings: Settings, generation: Generation) -> str:
    """Where the generation's Redis rows are: its recorded server, with the settings' credentials where the
    settings name the same server."""
    recorded = generation.online_store_url or settings.redis_url
    address, _ = _redis_parts(recorded)
    own_address, own_options = _redis_parts(settings.redis_url)
    secrets = [o for o in own_options if o.split("=", 1)[0] in REDIS_SECRET_OPTIONS]
    return ",".join([recorded, *secrets]) if own_address == address else recorded


def _with_timeouts(redis_url: str) -> str:
    """The connection string with connect/read timeouts and no retries, unless it sets them itself."""
    address, options = _redis_parts(redis_url)
    given = {o.split("=", 1)[0] for o in options}
    defaults = {
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S,
        "socket_timeout": REDIS_TIMEOUT_S,
        "retry": "null",  # redis-py's default retries with backoff turn a refused port into ~14 s
    }
    return ",".join([address, *options, *(f"{k}={v}" for k, v in defaults.items() if k not in given)])


def repo_config(
    generation_dir: Path, project: str, online_store: str, redis_url: str, registry: Path | None = None
) -> RepoConfig:
    """Feast RepoConfig from feature_store.yaml for one generation folder and online store (and another
    registry file than the generation's `registry.db`, where given)."""
    from feast.repo_config import RepoConfig

    os.environ["IVCRUSH_FEAST_GENERATION"] = str(generation_dir)
    raw = yaml.safe_load(os.path.expandvars(FEATURE_STORE_YAML.read_text()))
    raw["project"] = project
    if registry is not None:
        raw["registry"]["path"] = str(registry)
    if online_store == "redis":
        raw["online_store"] = {"type": "redis", "connection_string": _with_timeouts(redis_url)}
    return RepoConfig(repo_path=FEATURE_STORE_YAML.parent, **raw)


def open_store(
    generation_dir: Path, project: str, online_store: str, redis_url: str, registry: Path | None = None
) -> FeatureStore:
    """A Feast FeatureStore for a generation (importing Feast costs seconds: only callers that need it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from feast import FeatureStore

    return FeatureStore(config=repo_config(generation_dir, project, online_store, redis_url, registry))


def open_published_store(settings: Settings, generation: Generation) -> FeatureStore:
    """The Feast store of a published generation, resolved by the caller (once per request), on the online
    store it was materialized into."""
    return open_store(
        generation.path(settings.feast_dir),
        generation.project,
        generation.online_store,
        generation_redis_url(settings, generation),
    )


def is_unreachable(exc: BaseException) -> bool:
    """True for a Redis server that refused, dropped or did not answer in time."""
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # no Redis client installed: no Redis error either
        return False
    return isinstance(exc, RedisConnectionError | RedisTimeoutError)


@contextmanager
def online_store_errors(online_store: str, redis_url: str) -> Iterator[None]:
    """Turn an unreachable or silent Redis into an OnlineStoreError naming the server."""
    try:
        yield
    except Exception as exc:
        if online_store == "redis" and is_unreachable(exc):
            address, _ = _redis_parts(redis_url)
            raise OnlineStoreError(
                f"the Redis online store at {address} cannot be used ({type(exc).__name__}: {exc}; connect timeout "
                f"{REDIS_CONNECT_TIMEOUT_S} s, read timeout {REDIS_TIMEOUT_S} s); start it or set redis_url "
                "(IVCRUSH_REDIS_URL) to a server that answers"
            ) from exc
        raise
