"""One format for every data-quality check: severities, results, the report of a run and the publishing gate.

Each check has a severity, "error" or "warning" (`DEFAULT_SEVERITY`, overridable per call); `gate()`
refuses to publish where an error check failed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ivcrush.errors import IvcrushError

ERROR = "error"
WARNING = "warning"
SEVERITIES = (ERROR, WARNING)
EXAMPLES = 5

# Check name -> default severity. A check may report several results (one per table or column); an
# override can name the check ("prices_positive"), or one table/column of it ("prices_positive:historical_moves",
# "prices_positive:historical_moves.prev_close").
DEFAULT_SEVERITY: dict[str, str] = {
    # raw tables of ivcrush.db (GE over SQLite)
    "required_columns": ERROR,
    "column_types": ERROR,
    "keys_not_null": ERROR,
    "unique_event": ERROR,
    "unique_event_normalized": ERROR,
    "unique_calendar_event_normalized": WARNING,
    "prices_positive": ERROR,
    "ohlc_consistent": ERROR,
    "volumes_non_negative": ERROR,
    "close_move_matches_ohlc": ERROR,
    "gap_move_matches_ohlc": ERROR,
    "intraday_move_matches_ohlc": ERROR,
    "no_future_moves": ERROR,
    "move_has_calendar_row": ERROR,
    "timing_values": ERROR,
    "calendar_timing_conflict": WARNING,
    # distribution checks (pandas)
    "amc_move_ratio": WARNING,
    "amc_move_ratio_per_ticker": WARNING,
    "moves_absolute": ERROR,
    "moves_in_percent": ERROR,
    "coverage_gap": WARNING,
    # feature marts and labels (GE over the build's Parquet)
    "mart_columns": ERROR,
    "mart_one_row_per_event": ERROR,
    "mart_keys_not_null": ERROR,
    "mart_event_ids_match": ERROR,
    "history_features_present": ERROR,
    "abs_move_range": ERROR,
    "rate_range": ERROR,
    "labels_match_events": ERROR,
    "event_timing_values": ERROR,
    "stored_moves_agree_with_prices": WARNING,
}


@dataclass
class CheckResult:
    """One expectation or check: what it looked at, whether it passed, how many rows failed, examples."""

    name: str
    suite: str
    table: str
    column: str | None
    severity: str  # "error" | "warning"
    success: bool
    unexpected_count: int
    examples: list[str]
    message: str

    @property
    def where(self) -> str:
        return f"{self.table}.{self.column}" if self.column else self.table


@dataclass
class QualityReport:
    """The results of one or more suites; `gx_contexts` keeps the (label, GE context) that hold them, for Data Docs."""

    checks: list[CheckResult]
    gx_contexts: list[tuple[str, Any]] = field(default_factory=list, repr=False, compare=False)

    @property
    def errors(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.success and c.severity == ERROR]

    @property
    def warnings(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.success and c.severity == WARNING]

    @property
    def passed(self) -> bool:
        return not self.errors

    def __add__(self, other: QualityReport) -> QualityReport:
        return QualityReport([*self.checks, *other.checks], [*self.gx_contexts, *other.gx_contexts])

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "checks": [asdict(c) for c in self.checks],
        }


class QualityGateError(IvcrushError):
    """An error-severity check failed: the data must not be published or used."""


def gate(report: QualityReport, what: str) -> None:
    """Raise QualityGateError naming the failed error checks, where there are any."""
    errors = report.errors
    if not errors:
        return
    detail = "; ".join(f"{c.name} ({c.where}): {c.message}" for c in errors[:5])
    more = f"; and {len(errors) - 5} more" if len(errors) > 5 else ""
    raise QualityGateError(f"refusing to publish {what}: {len(errors)} error check(s) failed: {detail}{more}")


def severity_of(name: str, table: str, column: str | None, overrides: dict[str, str] | None) -> str:
    """The severity of one result: the most specific override (check:table.column, check:table, check), else
    the check's default."""
    merged = {**DEFAULT_SEVERITY, **(overrides or {})}
    keys = [f"{name}:{table}.{column}"] if column else []
    for key in [*keys, f"{name}:{table}", name]:
        if key in merged:
            value = merged[key]
            if value not in SEVERITIES:
                raise ValueError(f"severity of {key}: {value!r} is neither 'error' nor 'warning'")
            return value
    return ERROR


def check_overrides(overrides: dict[str, str] | None) -> None:
    """Refuse an override with an unknown severity or naming no known check (before any suite runs)."""
    for key, value in (overrides or {}).items():
        if value not in SEVERITIES:
            raise ValueError(f"severity of {key}: {value!r} is neither 'error' nor 'warning'")
        if key.split(":", 1)[0] not in DEFAULT_SEVERITY:
            raise ValueError(f"severity override {key!r}: no such check (known: {', '.join(DEFAULT_SEVERITY)})")


def plain(value: Any) -> Any:
    """A value as a message shows it: dates as YYYY-MM-DD, numpy scalars as Python values."""
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10] if getattr(value, "hour", 0) == 0 and getattr(value, "minute", 0) == 0 else value
    if hasattr(value, "item"):
        return value.item() if getattr(value, "size", 1) == 1 else str(list(value))
    return value
