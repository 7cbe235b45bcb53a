"""Settings from `[tool.ivcrush]` in pyproject.toml, `IVCRUSH_*` environment variables and CLI options."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

# This package's folder is also the dbt project (in a checkout and in an installed wheel alike).
DBT_PROJECT_DIR = Path(__file__).resolve().parent
THIN_HISTORY_CHOICES = ("widen", "refuse")


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _pyproject_table(start: Path) -> dict[str, object]:
    """The `[tool.ivcrush]` table of the nearest pyproject.toml at or above `start`, or {}."""
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            with candidate.open("rb") as handle:
                table = tomllib.load(handle).get("tool", {}).get("ivcrush")
            if table is not None:
                return dict(table)
    return {}


@dataclass(frozen=True)
class Account:
    """Risk budget for sizing: defaults < `[tool.ivcrush.account]` < IVCRUSH_ACCOUNT_<FIELD> variables."""

    equity: float = 50_000.0
    kelly_fraction: float = 0.25
    max_risk_per_trade: float = 0.02
    max_contracts: int = 20


@dataclass(frozen=True)
class Settings:
    """Where the platform keeps its outputs and how it treats the user's data."""

    workdir: Path = field(default_factory=lambda: Path(".ivcrush").resolve())
    db: Path | None = None
    amc_labels_untrusted: bool = True
    online_store: str = "sqlite"
    redis_url: str = "127.0.0.1:6379"
    severity: dict[str, str] = field(default_factory=dict)
    account: Account = field(default_factory=Account)
    # Serving of events with 0-2 prior trusted moves: "widen" (their stratum's calibration) or "refuse".
    thin_history: str = "widen"
    # Market features are marked stale when the newest stored outcome is more than this many days before the decision.
    stale_market_days: int = 10

    @property
    def sample_db(self) -> Path:
        """The generated sample database used when no --db is given."""
        return self.workdir / "sample" / "ivcrush.db"

    @property
    def source_db(self) -> Path:
        """The database a command reads: --db / IVCRUSH_DB, else the sample database."""
        return self.db if self.db is not None else self.sample_db

    @property
    def builds_dir(self) -> Path:
        return self.workdir / "builds"

    @property
    def current_build(self) -> Path:
        """Symlink to the last build that passed every gate."""
        return self.workdir / "current"

    @property
    def feast_dir(self) -> Path:
        return self.workdir / "feast"

    def with_overrides(self, *, workdir: Path | None = None, db: Path | None = None) -> Settings:
        return replace(
            self,
            workdir=self.workdir if workdir is None else workdir.expanduser().resolve(),
            db=self.db if db is None else db.expanduser().resolve(),
        )


def load_settings(cwd: Path | None = None) -> Settings:
    """Defaults < pyproject.toml `[tool.ivcrush]` < environment (IVCRUSH_HOME, IVCRUSH_DB, ...)."""
    cwd = cwd or Path.cwd()
    table = _pyproject_table(cwd)
    workdir = Path(os.environ.get("IVCRUSH_HOME") or str(table.get("workdir", ".ivcrush")))
    db_value = os.environ.get("IVCRUSH_DB") or table.get("db")
    amc = table.get("amc_labels_untrusted", True)
    if "IVCRUSH_AMC_LABELS_UNTRUSTED" in os.environ:
        amc = _truthy(os.environ["IVCRUSH_AMC_LABELS_UNTRUSTED"])
    online_store = os.environ.get("IVCRUSH_ONLINE_STORE") or str(table.get("online_store", "sqlite"))
    if online_store not in {"sqlite", "redis"}:
        raise ValueError(f"online_store must be 'sqlite' or 'redis', not {online_store!r}")
    thin_history = os.environ.get("IVCRUSH_THIN_HISTORY") or str(table.get("thin_history", "widen"))
    if thin_history not in THIN_HISTORY_CHOICES:
        raise ValueError(f"thin_history must be one of {', '.join(THIN_HISTORY_CHOICES)}, not {thin_history!r}")
    stale_days = os.environ.get("IVCRUSH_STALE_MARKET_DAYS") or table.get("stale_market_days", 10)
    return Settings(
        workdir=(cwd / workdir).resolve() if not workdir.is_absolute() else workdir,
        db=(cwd / Path(str(db_value))).resolve() if db_value else None,
        amc_labels_untrusted=bool(amc),
        online_store=online_store,
        redis_url=os.environ.get("IVCRUSH_REDIS_URL") or str(table.get("redis_url", "127.0.0.1:6379")),
        severity={str(k): str(v) for k, v in _subtable(table, "severity").items()},
        account=_account(table),
        thin_history=thin_history,
        stale_market_days=int(str(stale_days)),
    )


def _subtable(table: dict[str, object], key: str) -> dict[str, object]:
    """A nested table such as `[tool.ivcrush.account]`, or {} where absent."""
    value = table.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"[tool.ivcrush] {key} must be a table, not {value!r}")
    return value


def _account(table: dict[str, object]) -> Account:
    """Risk budget: defaults < `[tool.ivcrush.account]` < IVCRUSH_ACCOUNT_EQUITY etc."""
    configured = _subtable(table, "account")
    defaults = Account()

    def number(name: str, default: float) -> float:
        value = os.environ.get(f"IVCRUSH_ACCOUNT_{name.upper()}") or configured.get(name)
        if value is None or value == "":
            return default
        if not isinstance(value, str | int | float):
            raise ValueError(f"[tool.ivcrush.account] {name} must be a number, not {value!r}")
        return float(value)

    return Account(
        equity=number("equity", defaults.equity),
        kelly_fraction=number("kelly_fraction", defaults.kelly_fraction),
        max_risk_per_trade=number("max_risk_per_trade", defaults.max_risk_per_trade),
        max_contracts=int(number("max_contracts", defaults.max_contracts)),
    )
