"""Great Expectations plumbing: an ephemeral context, expectations as specs, running suites, results as checks.

The context has no project folder, no cloud and no analytics. Great Expectations is imported lazily
(`import_gx`): importing it costs several seconds.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ivcrush.quality.report import EXAMPLES, CheckResult, plain, severity_of

# Imported by Great Expectations only for an expectation no suite of ours uses (the KL divergence one), which uses
# it only when it runs: ~0.8 s of the quality process's CPU at import. (Its `import altair` cannot be deferred:
# an `import` statement reads the module's __spec__, which runs a lazy module's code.)
UNUSED_BY_OUR_SUITES = ("scipy.stats",)


def defer_unused_imports(modules: Sequence[str] = UNUSED_BY_OUR_SUITES) -> None:
    """Make each module not imported yet a lazy one (importlib's LazyLoader): importing it costs nothing, its
    code runs in full at the first use of one of its attributes. For a process of its own (not thread-safe on
    Python 3.11: the first use must not happen on two threads at once)."""
    for name in modules:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            continue
        spec.loader = importlib.util.LazyLoader(spec.loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)


def import_gx() -> Any:
    """Import Great Expectations with analytics off (lazily: the import takes seconds)."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    return gx


def ephemeral_context() -> Any:
    """A GE context in memory only, without progress bars or a Data Docs site."""
    gx = import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.variables.data_docs_sites = {}  # no default site in a temporary folder; write_report adds one
    return context


@contextlib.contextmanager
def configurations_built_once() -> Iterator[None]:
    """Within the block, each expectation object builds its configuration (`Expectation.configuration`: a
    pydantic dict() of deep copies) once, not at each of the ~85 reads GE makes of it while validating it:
    ~0.5 s of the build's quality process. Built again where a field of the object was set anew since; GE's
    validation reads fresh objects made from the suite's configurations and changes none of them in place."""
    from great_expectations.expectations.expectation import Expectation

    original = Expectation.__dict__["configuration"]
    built: dict[int, tuple[Any, tuple[int, ...], Any]] = {}  # id -> (the object, its fields' ids, configuration)

    def configuration(expectation: Any) -> Any:
        fields = tuple(map(id, expectation.__dict__.values()))
        entry = built.get(id(expectation))
        if entry is None or entry[0] is not expectation or entry[1] != fields:
            entry = (expectation, fields, original.fget(expectation))
            built[id(expectation)] = entry
        return entry[2]

    Expectation.configuration = property(configuration)  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Expectation.configuration = original  # type: ignore[method-assign]


@dataclass
class Spec:
    """One GE expectation with the check it belongs to and how to describe a failure."""

    name: str
    table: str
    column: str | None
    expectation: Any
    describe: str  # what a failing row is, e.g. "row(s) with prev_close <= 0"


def _format_row(row: Any) -> str:
    """An example row as `key=value, ...`."""
    if isinstance(row, dict):
        return ", ".join(f"{k}={plain(v)}" for k, v in row.items())
    return str(plain(row))


def _exception_message(info: Any) -> str | None:
    """The first exception GE caught while evaluating an expectation (its info may be nested per metric)."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message")).splitlines()[0]
    for value in info.values():
        found = _exception_message(value)
        if found:
            return found
    return None


def _result_to_check(spec: Spec, result: Any, suite: str, overrides: dict[str, str] | None) -> CheckResult:
    """One GE expectation result as a CheckResult: count, examples and a message that says where."""
    severity = severity_of(spec.name, spec.table, spec.column, overrides)
    raised = _exception_message(result.exception_info)
    if raised:
        message = f"could not be evaluated: {raised}"
        return CheckResult(spec.name, suite, spec.table, spec.column, severity, False, 0, [], message)
    res = dict(result.result or {})
    counted = True
    if result.expectation_config.type == "unexpected_rows_expectation":
        count = int(res.get("observed_value") or 0)
        rows = (res.get("details") or {}).get("unexpected_rows") or []
    elif "unexpected_count" in res:
        count = int(res.get("unexpected_count") or 0)
        rows = res.get("partial_unexpected_index_list") or res.get("partial_unexpected_list") or []
    else:
        counted = False
        count = 0 if result.success else 1
        rows = []
    examples = [_format_row(r) for r in list(rows)[:EXAMPLES]]
    if result.success:
        message = "ok"
    elif counted:
        message = f"{count} {spec.describe}" + (f", e.g. {examples[0]}" if examples else "")
    else:
        message = f"{spec.describe} (observed {res.get('observed_value')!r})"
    return CheckResult(
        spec.name, suite, spec.table, spec.column, severity, bool(result.success), count, examples, message
    )


def run_suite(
    context: Any,
    suite_name: str,
    batches: Sequence[tuple[Any, Mapping[str, Any] | None, list[Spec], list[str]]],
    overrides: dict[str, str] | None,
) -> list[CheckResult]:
    """Validate each (batch definition, batch parameters, specs, index columns) with one suite per table."""
    gx = import_gx()
    checks: list[CheckResult] = []
    for batch_definition, parameters, specs, index_columns in batches:
        if not specs:
            continue
        name = f"{suite_name}.{batch_definition.data_asset.name}"
        for i, spec in enumerate(specs):
            spec.expectation.meta = {"check": spec.name, "column": spec.column, "index": i}
        # The whole suite at once: adding expectations one by one re-saves the suite each time (seconds).
        suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=[s.expectation for s in specs]))
        if len(suite.expectations) != len(specs):
            raise RuntimeError(f"suite {name}: {len(specs) - len(suite.expectations)} expectation(s) were invalid")
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
        )
        # The validation alone, no Checkpoint around it (which would add store writes and freshness checks, ~0.25 s
        # of CPU over a build's suites, for no action): its results are stored for the Data Docs all the same.
        with configurations_built_once():
            outcome = validation.run(
                batch_parameters=parameters,
                result_format={
                    "result_format": "COMPLETE",
                    "partial_unexpected_count": EXAMPLES,
                    "unexpected_index_column_names": index_columns,
                    "return_unexpected_index_query": False,
                },
            )
        for result in outcome.results:
            spec = specs[int(result.expectation_config.meta["index"])]
            checks.append(_result_to_check(spec, result, suite_name, overrides))
    return checks
