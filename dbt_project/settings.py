"""Settings: defaults < a config file < `IVCRUSH_*` environment variables < command options.

The config file is `--config PATH`, else `$IVCRUSH_CONFIG`, else `config.toml` in the user's config folder
(`~/.config/ivcrush/` on Linux), else `[tool.ivcrush]` of the nearest pyproject.toml. `SETTINGS` lists every
setting with its key, variable and meaning (the README's table and `ivcrush --help` show it).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ivcrush.config_file import ConfigSource, SettingsError, config_source

# This package's folder is also the dbt project (in a checkout and in an installed wheel alike).
DBT_PROJECT_DIR = Path(__file__).resolve().parent
ONLINE_STORES = ("sqlite", "redis")
THIN_HISTORY_CHOICES = ("widen", "refuse")


def dbt_project_var(name: str) -> Any:
    """A variable of the dbt project (`vars:` in dbt_project.yml): the one place of the facts dbt shares."""
    import yaml  # type: ignore[import-untyped]

    with (DBT_PROJECT_DIR / "dbt_project.yml").open() as handle:
        return yaml.safe_load(handle)["vars"][name]


@dataclass(frozen=True)
class Account:
    """Risk budget for sizing: defaults < `[tool.ivcrush.account]` < IVCRUSH_ACCOUNT_<FIELD> variables."""

    equity: float = 50_000.0
    kelly_fraction: float = 0.25
    max_risk_per_trade: float = 0.02
    max_contracts: int = 20
    max_margin_per_trade: float = 0.25  # share of equity one naked position's Reg-T margin may tie up


@dataclass(frozen=True)
class Costs:
    """Trading costs: defaults < `[tool.ivcrush.costs]` < IVCRUSH_COSTS_<FIELD> variables.

    Per contract and fill (opening and closing each count): the commission, plus the slippage from the mid:
    `slippage_share` of the leg's bid-ask spread and `slippage_ticks` ticks of `tick_size`. Where no quote
    gives the bid-ask, it is `modelled_bid_ask_share` of the option's modelled value, at least `min_bid_ask`.
    """

    commission_per_contract: float = 0.65
    slippage_share: float = 0.25
    slippage_ticks: float = 0.0
    tick_size: float = 0.01
    modelled_bid_ask_share: float = 0.10
    min_bid_ask: float = 0.05


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
    costs: Costs = field(default_factory=Costs)
    # Serving of events with 0-2 prior trusted moves: "widen" (their stratum's calibration) or "refuse".
    thin_history: str = "widen"
    # Market features are marked stale when the newest stored outcome is more than this many days before the decision.
    stale_market_days: int = 10
    # Backtests: a position reopened within this many business days of closing another of the same symbol and
    # kind (or marked `rolled_from` it) continues its campaign (a roll).
    roll_days: int = 2
    # Show dbt's and Feast's own output (the CLI's -v).
    tool_output: bool = False

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

    def with_overrides(
        self,
        *,
        workdir: Path | None = None,
        db: Path | None = None,
        equity: float | None = None,
        kelly_fraction: float | None = None,
        tool_output: bool | None = None,
    ) -> Settings:
        """These settings with a command's options on top (None: unchanged), each checked like the file's."""
        account = self.account
        if equity is not None:
            account = replace(
                account, equity=_number(equity, "--equity", low=0, high=math.inf, low_open=True, what="a number > 0")
            )
        if kelly_fraction is not None:
            fraction = _number(kelly_fraction, "--kelly", low=0, high=1, low_open=True, what="a fraction in (0, 1]")
            account = replace(account, kelly_fraction=fraction)
        return replace(
            self,
            workdir=self.workdir if workdir is None else workdir.expanduser().resolve(),
            db=self.db if db is None else db.expanduser().resolve(),
            account=account,
            tool_output=self.tool_output if tool_output is None else tool_output,
        )


TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}
SEVERITIES = ("error", "warning")


def _setting(table: dict[str, object], key: str, variable: str, name: str) -> tuple[object, str]:
    """(value, where it comes from) of one setting: the environment variable wins over the config file."""
    if os.environ.get(variable):
        return os.environ[variable], variable
    return table.get(key), name


def _boolean(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise SettingsError(f"setting {name}: must be true or false, not {value!r}")


def _number(value: object, name: str, *, low: float, high: float, low_open: bool, what: str) -> float:
    """A finite number within (low or [low, high]; SettingsError naming the setting otherwise."""
    try:
        number = float(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or not math.isfinite(number) or number > high or number < low or (low_open and number == low):
        raise SettingsError(f"setting {name}: must be {what}, not {value!r}")
    return number


def _redis_url(value: str, name: str) -> str:
    address = next((p.strip() for p in value.split(",") if p.strip() and "=" not in p), "")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"setting {name}: must be host:port[,option=value...], not {value!r}")
    return value


def load_settings(cwd: Path | None = None, config: Path | None = None) -> Settings:
    """Defaults < the config file (`config_source`) < environment (IVCRUSH_HOME, IVCRUSH_DB, ...), each value
    checked here: a SettingsError names the setting and what it must be. Relative paths are taken from the
    config file's folder (from `cwd` for pyproject.toml and the environment)."""
    cwd = cwd or Path.cwd()
    source = config_source(cwd, config)
    table = source.table

    def setting(key: str, variable: str) -> tuple[object, str]:
        return _setting(table, key, variable, source.name(key))

    def base(name: str) -> Path:
        return cwd if name.startswith("IVCRUSH_") else source.folder

    workdir, workdir_name = setting("workdir", "IVCRUSH_HOME")
    db_value, db_name = setting("db", "IVCRUSH_DB")
    for value, name in ((workdir, workdir_name), (db_value, db_name)):
        if value is not None and (not isinstance(value, str) or not value.strip() or "\0" in value):
            raise SettingsError(f"setting {name}: must be a path, not {value!r}")
    amc, amc_name = setting("amc_labels_untrusted", "IVCRUSH_AMC_LABELS_UNTRUSTED")
    online_store, store_name = setting("online_store", "IVCRUSH_ONLINE_STORE")
    online_store = "sqlite" if online_store is None else online_store
    if online_store not in ONLINE_STORES:
        raise SettingsError(f"setting {store_name}: must be one of {', '.join(ONLINE_STORES)}, not {online_store!r}")
    redis_url, redis_name = setting("redis_url", "IVCRUSH_REDIS_URL")
    if redis_url is not None and not isinstance(redis_url, str):
        raise SettingsError(f"setting {redis_name}: must be host:port, not {redis_url!r}")
    workdir_path = Path(str(workdir or ".ivcrush")).expanduser()
    thin_history, thin_name = setting("thin_history", "IVCRUSH_THIN_HISTORY")
    thin_history = "widen" if thin_history is None else thin_history
    if thin_history not in THIN_HISTORY_CHOICES:
        raise SettingsError(
            f"setting {thin_name}: must be one of {', '.join(THIN_HISTORY_CHOICES)}, not {thin_history!r}"
        )
    stale_days, stale_name = setting("stale_market_days", "IVCRUSH_STALE_MARKET_DAYS")
    stale_market_days = (
        10
        if stale_days is None
        else _number(stale_days, stale_name, low=0, high=3650, low_open=False, what="a number of days from 0 to 3650")
    )
    roll, roll_name = setting("roll_days", "IVCRUSH_ROLL_DAYS")
    roll_days = 2 if roll is None else _number(roll, roll_name, low=0, high=60, low_open=False, what="0 to 60 days")
    return Settings(
        workdir=(base(workdir_name) / workdir_path).resolve(),
        db=(base(db_name) / Path(str(db_value)).expanduser()).resolve() if db_value else None,
        amc_labels_untrusted=True if amc is None else _boolean(amc, amc_name),
        online_store=str(online_store),
        redis_url=_redis_url(redis_url, redis_name) if redis_url else "127.0.0.1:6379",
        severity=_severity(source),
        account=_account(source),
        costs=_costs(source),
        thin_history=str(thin_history),
        stale_market_days=int(stale_market_days),
        roll_days=int(roll_days),
    )


def _subtable(source: ConfigSource, key: str) -> dict[str, object]:
    """A nested table such as `[tool.ivcrush.account]` (`[account]` of a config file), or {} where absent."""
    value = source.table.get(key, {})
    if not isinstance(value, dict):
        raise SettingsError(f"setting {source.name(key)}: must be a table, not {value!r}")
    return value


def _severity(source: ConfigSource) -> dict[str, str]:
    """Severity overrides: a known check (optionally `:table[.column]`), "error" or "warning"."""
    from ivcrush.quality.report import DEFAULT_SEVERITY  # the checks' names (a module of plain data)

    severity = {}
    for key, value in _subtable(source, "severity").items():
        name = source.name(str(key), "severity")
        if value not in SEVERITIES:
            raise SettingsError(f"setting {name}: must be 'error' or 'warning', not {value!r}")
        if str(key).split(":", 1)[0] not in DEFAULT_SEVERITY:
            raise SettingsError(f"setting {name}: no such check (known: {', '.join(DEFAULT_SEVERITY)})")
        severity[str(key)] = str(value)
    return severity


def _account(source: ConfigSource) -> Account:
    """Risk budget: defaults < `[tool.ivcrush.account]` < IVCRUSH_ACCOUNT_EQUITY etc., each within its range."""
    configured = _subtable(source, "account")
    defaults = Account()

    def value(key: str, default: float) -> tuple[object, str]:
        found, name = _setting(configured, key, f"IVCRUSH_ACCOUNT_{key.upper()}", source.name(key, "account"))
        return (default if found is None or found == "" else found), name

    equity = _number(*value("equity", defaults.equity), low=0, high=math.inf, low_open=True, what="a number > 0")
    fractions = {
        key: _number(*value(key, getattr(defaults, key)), low=0, high=1, low_open=True, what="a fraction in (0, 1]")
        for key in ("kelly_fraction", "max_risk_per_trade", "max_margin_per_trade")
    }
    contracts, contracts_name = value("max_contracts", defaults.max_contracts)
    count = _number(contracts, contracts_name, low=0, high=1e9, low_open=False, what="a whole number >= 0")
    if not count.is_integer():
        raise SettingsError(f"setting {contracts_name}: must be a whole number >= 0, not {contracts!r}")
    return Account(equity=equity, max_contracts=int(count), **fractions)


# (lowest, highest) allowed value of each cost setting
COST_RANGES: dict[str, tuple[float, float]] = {
    "commission_per_contract": (0.0, 100.0),
    "slippage_share": (0.0, 1.0),
    "slippage_ticks": (0.0, 100.0),
    "tick_size": (0.0, 10.0),
    "modelled_bid_ask_share": (0.0, 1.0),
    "min_bid_ask": (0.0, 10.0),
}


def _costs(source: ConfigSource) -> Costs:
    """Trading costs: defaults < `[tool.ivcrush.costs]` < IVCRUSH_COSTS_COMMISSION_PER_CONTRACT etc.;
    every value a finite number within `COST_RANGES`."""
    configured = _subtable(source, "costs")
    unknown = sorted(set(configured) - set(COST_RANGES))
    if unknown:
        where = source.name("", "costs").strip()
        raise SettingsError(f"{where} has unknown setting(s) {unknown}; known: {sorted(COST_RANGES)}")
    values: dict[str, float] = {}
    for name, (lowest, highest) in COST_RANGES.items():
        variable = f"IVCRUSH_COSTS_{name.upper()}"
        origin, value = (variable, os.environ[variable]) if os.environ.get(variable) else (name, configured.get(name))
        if value is None:
            continue
        try:
            number = float(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None or not math.isfinite(number) or not lowest <= number <= highest:
            raise SettingsError(f"cost setting {origin} = {value!r}: expected a number from {lowest:g} to {highest:g}")
        values[name] = number
    return Costs(**values)
