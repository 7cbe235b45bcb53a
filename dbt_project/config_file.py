"""The settings file and the list of every setting: `--config PATH`, else `$IVCRUSH_CONFIG`, else `config.toml` in
the user's config folder (`~/.config/ivcrush/` on Linux), else `[tool.ivcrush]` of the nearest pyproject.toml."""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ivcrush.errors import IvcrushError


class SettingsError(IvcrushError, ValueError):
    """A setting that cannot be used (wrong type or out of range); the message names it and its source."""


@dataclass(frozen=True)
class SettingInfo:
    """One setting: its key in the config file, its environment variable, default and meaning."""

    key: str
    variable: str
    default: str
    meaning: str


SETTINGS: tuple[SettingInfo, ...] = (
    SettingInfo("workdir", "IVCRUSH_HOME", ".ivcrush", "workspace for builds, stores, models (also --workdir)"),
    SettingInfo("db", "IVCRUSH_DB", "a generated sample", "the 2.0 database to read (also --db)"),
    SettingInfo(
        "amc_labels_untrusted", "IVCRUSH_AMC_LABELS_UNTRUSTED", "true", "after-close moves are not reaction-day labels"
    ),
    SettingInfo("online_store", "IVCRUSH_ONLINE_STORE", "sqlite", "Feast online store: sqlite or redis"),
    SettingInfo("redis_url", "IVCRUSH_REDIS_URL", "127.0.0.1:6379", "Redis host:port for the redis online store"),
    SettingInfo("thin_history", "IVCRUSH_THIN_HISTORY", "widen", "0-2 prior trusted moves: widen or refuse"),
    SettingInfo(
        "stale_market_days", "IVCRUSH_STALE_MARKET_DAYS", "10", "market features older than this are marked stale"
    ),
    SettingInfo(
        "roll_days", "IVCRUSH_ROLL_DAYS", "2", "backtests: reopened within this many business days = the same campaign"
    ),
    SettingInfo("account.equity", "IVCRUSH_ACCOUNT_EQUITY", "50000", "account equity for sizing (also --equity)"),
    SettingInfo(
        "account.kelly_fraction", "IVCRUSH_ACCOUNT_KELLY_FRACTION", "0.25", "fraction of full Kelly (also --kelly)"
    ),
    SettingInfo("account.max_risk_per_trade", "IVCRUSH_ACCOUNT_MAX_RISK_PER_TRADE", "0.02", "max loss / equity"),
    SettingInfo("account.max_contracts", "IVCRUSH_ACCOUNT_MAX_CONTRACTS", "20", "max contracts per trade"),
    SettingInfo(
        "account.max_margin_per_trade",
        "IVCRUSH_ACCOUNT_MAX_MARGIN_PER_TRADE",
        "0.25",
        "Reg-T margin of a naked position / equity",
    ),
    SettingInfo(
        "costs.commission_per_contract", "IVCRUSH_COSTS_COMMISSION_PER_CONTRACT", "0.65", "$ per contract and fill"
    ),
    SettingInfo("costs.slippage_share", "IVCRUSH_COSTS_SLIPPAGE_SHARE", "0.25", "share of the bid-ask paid per fill"),
    SettingInfo("costs.slippage_ticks", "IVCRUSH_COSTS_SLIPPAGE_TICKS", "0", "extra ticks paid per fill"),
    SettingInfo("costs.tick_size", "IVCRUSH_COSTS_TICK_SIZE", "0.01", "$ per tick"),
    SettingInfo(
        "costs.modelled_bid_ask_share",
        "IVCRUSH_COSTS_MODELLED_BID_ASK_SHARE",
        "0.10",
        "bid-ask as a share of a modelled option value",
    ),
    SettingInfo("costs.min_bid_ask", "IVCRUSH_COSTS_MIN_BID_ASK", "0.05", "smallest modelled bid-ask ($)"),
    SettingInfo("severity.<check>", "-", "per check", 'a data-quality check\'s severity: "error" or "warning"'),
)
CONFIG_VARIABLE = "IVCRUSH_CONFIG"
CONFIG_FILE = "config.toml"


def user_config_path() -> Path:
    """`config.toml` in the platform's user config folder (XDG on Linux, Application Support, %APPDATA%)."""
    if sys.platform == "darwin":
        folder = Path.home() / "Library" / "Application Support"
    elif sys.platform == "win32":
        folder = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    else:
        folder = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return folder / "ivcrush" / CONFIG_FILE


@dataclass(frozen=True)
class ConfigSource:
    """Where the settings' file values come from: the table, its folder (relative paths) and how to name it."""

    table: dict[str, object]
    folder: Path
    label: str  # "[tool.ivcrush]" or the config file's path
    path: Path | None = None

    def name(self, key: str, table: str | None = None) -> str:
        """How a message names `key` (of the sub-table `table`): `[tool.ivcrush.account] equity`, ..."""
        if self.label == "[tool.ivcrush]":
            return f"[tool.ivcrush{'.' + table if table else ''}] {key}"
        return f"{self.label} [{table}] {key}" if table else f"{self.label} {key}"


def _read_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"config file {path}: cannot be read ({exc})") from exc


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


def config_source(cwd: Path, config: Path | None = None) -> ConfigSource:
    """The settings file: `config`, else $IVCRUSH_CONFIG (each must exist), else the user's config.toml where
    it exists, else `[tool.ivcrush]` of the nearest pyproject.toml (relative paths from `cwd`)."""
    given = ((config, f"--config (or {CONFIG_VARIABLE})"), (os.environ.get(CONFIG_VARIABLE) or None, CONFIG_VARIABLE))
    for path, origin in given:
        if path is not None:
            chosen = (cwd / Path(path).expanduser()).resolve()
            if not chosen.is_file():
                raise SettingsError(f"{origin} {chosen}: no such config file")
            return ConfigSource(_read_toml(chosen), chosen.parent, str(chosen), chosen)
    user = user_config_path()
    if user.is_file():
        return ConfigSource(_read_toml(user), user.parent, str(user), user)
    try:
        table = _pyproject_table(cwd)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"pyproject.toml above {cwd}: cannot be read ({exc})") from exc
    return ConfigSource(table, cwd, "[tool.ivcrush]")
