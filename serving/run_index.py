"""One page per run of the main job: `<workdir>/reports/<run-id>/index.html`, self-contained (figures embedded).

It shows the build's data quality (errors, warnings, the quality summary's two parts and both suites' Great
Expectations Data Docs), the feature-store generation, the evaluation's headline (the skill gate per target,
two figures) with a link to the full evaluation page, the registered model and the scan's ranked table.
Other pages are linked by paths relative to the index, so the links hold while the workspace keeps them (the
newest builds are kept; the evaluations are never pruned).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ivcrush.quality.docs import SUMMARY_FILE, quality_pages, suite_label
from ivcrush.reports import render, write_page
from ivcrush.serving.decision import format_probability, strike_ladder
from ivcrush.serving.predict import Recommendation, Refusal
from ivcrush.settings import Settings
from ivcrush.training.report import REPORT_FILE, headline_figures
from ivcrush.training.report_tables import gate_section, headline
from ivcrush.workspace import Generation, generation_build

REPORTS_DIR = "reports"
INDEX_FILE = "index.html"
SCAN_HEADER = (
    "#",
    "ticker",
    "timing",
    "implied tot / earn",
    "forecast |move| q10-q50-q90 (mean)",
    "2.0 mean",
    "P > implied",
    "VRP ml / 2.0",
    "trade",
    "credit / ct",
    "EV / ct",
    "EV / risk",
    "P(loss)",
    "contracts (why)",
)


def run_dir(settings: Settings, run_id: str) -> Path:
    """The folder of one run's index: <workdir>/reports/<run-id>."""
    return settings.workdir / REPORTS_DIR / run_id


def _link(target: Path | str, index_dir: Path) -> str:
    return os.path.relpath(target, index_dir)


def _dollars(value: float) -> str:
    return f"{'-' if value < 0 else ''}${abs(value):,.0f}"


def _quality_section(generation: Generation, index_dir: Path) -> dict[str, Any]:
    build = generation_build(generation)
    quality = Path(generation.build_dir) / "quality"
    if build is None:
        return {"title": "Data quality", "bullets": [f"The build {generation.build_id} is gone from the workspace."]}
    bullets = [
        f"Build {build.build_id} of {build.source_db} (fingerprint {build.source_fingerprint}): "
        f"{build.quality_errors} error(s), {len(build.quality_warnings)} warning(s); published because no error "
        "check failed.",
        *(f"warning: {warning}" for warning in build.quality_warnings),
    ]
    summary = _link(quality / SUMMARY_FILE, index_dir)
    links = [
        (f"Quality summary, part 1: {suite_label('raw_tables')}", f"{summary}#raw_tables"),
        (f"Quality summary, part 2: {suite_label('marts')}", f"{summary}#marts"),
    ]
    links += [(label, _link(path, index_dir)) for label, path in quality_pages(quality)[1:]]
    return {"id": "quality", "title": "Data quality of the build", "bullets": bullets, "links": links}


def _generation_section(generation: Generation) -> dict[str, Any]:
    store = generation.online_store + (f" ({generation.online_store_url})" if generation.online_store_url else "")
    return {
        "id": "feature-store",
        "title": "Feature store",
        "bullets": [
            f"Generation {generation.generation_id} of build {generation.build_id}, feature service "
            f"{generation.feature_service}: {generation.online_rows} tickers in the {store} online store, events "
            f"decided up to {generation.as_of}."
        ],
    }


def _evaluation_section(evaluation: Mapping[str, Any], index_dir: Path) -> dict[str, Any]:
    gate = gate_section(evaluation)
    section: dict[str, Any] = {
        "id": "evaluation",
        "title": "Walk-forward evaluation",
        "bullets": headline(evaluation),
        "callouts": list(evaluation.get("flags", [])),
        "figures": headline_figures(evaluation),
    }
    if gate is not None:
        section["table"] = gate["table"]
    out_dir = evaluation.get("out_dir")
    if out_dir:
        section["links"] = [
            ("The full evaluation page (every table and figure)", _link(Path(out_dir) / REPORT_FILE, index_dir))
        ]
    return section


def scan_rows(recommendations: Sequence[Recommendation]) -> list[list[object]]:
    """The scan's ranked table, one row per recommendation (as the command line shows it)."""
    rows: list[list[object]] = []
    for rank, rec in enumerate(recommendations, 1):
        d, q = rec.decision, rec.forecast["quantiles"]
        strikes = strike_ladder(d)
        rows.append(
            [
                rank,
                rec.ticker,
                rec.timing,
                f"{d.implied_total_pct:.1f} / {d.implied_earnings_pct:.1f}%",
                f"{q['0.1']:.1f}-{q['0.5']:.1f}-{q['0.9']:.1f}% ({d.forecast_mean_pct:.1f})",
                "-" if d.hist_mean_2_0_pct is None else f"{d.hist_mean_2_0_pct:.1f}%",
                format_probability(d.prob_move_exceeds_implied),
                f"{d.vrp_ml:.2f} / {'-' if d.vrp_2_0 is None else f'{d.vrp_2_0:.2f}'}",
                f"{d.recommendation}: {d.structure}" + (f" {strikes}" if strikes else ""),
                f"{_dollars(d.credit_per_contract)} ({d.credit_source})",
                _dollars(d.ev_per_contract),
                f"{d.ev_per_risk:+.1%}",
                format_probability(d.prob_loss),
                f"{d.contracts} ({d.size_limit})",
            ]
        )
    return rows


def _scan_section(
    scan_date: date | None, recommendations: Sequence[Recommendation], refusals: Sequence[Refusal]
) -> dict[str, Any]:
    if scan_date is None:
        return {"id": "scan", "title": "Scan", "bullets": ["No earnings date was scanned."]}
    sized = sum(rec.decision.contracts > 0 for rec in recommendations)
    by_reason: dict[str, list[str]] = {}
    for refusal in refusals:
        by_reason.setdefault(refusal.reason, []).append(refusal.ticker)
    bullets = [
        f"{len(recommendations)} event(s) served, {sized} with a position; {len(refusals)} not served.",
        *(f"not served: {', '.join(tickers)}: {reason}" for reason, tickers in by_reason.items()),
    ]
    section: dict[str, Any] = {"id": "scan", "title": f"Scan of {scan_date.isoformat()}, ranked", "bullets": bullets}
    if recommendations:
        section["table"] = {
            "header": list(SCAN_HEADER),
            "rows": scan_rows(recommendations),
            "classes": ["good" if rec.decision.contracts > 0 else "" for rec in recommendations],
            "text_columns": (1, 2, 8, 13),
        }
        section["note"] = (
            "implied: total (straddle / spot) / earnings-only; mean: the forecast's mean |move|, what VRP divides; "
            "credit from market quotes or modelled; EV and sizes net of costs; EV / risk per $ of max loss or margin."
        )
    return section


def write_run_index(
    settings: Settings,
    generation: Generation,
    evaluation: Mapping[str, Any] | None = None,
    *,
    model_id: str | None = None,
    scan_date: date | None = None,
    recommendations: Sequence[Recommendation] = (),
    refusals: Sequence[Refusal] = (),
    run_id: str | None = None,
) -> Path:
    """Write `<workdir>/reports/<run-id>/index.html` for one run (run id: the UTC time, unless given) and
    return its path: the build's quality, the generation, the evaluation's headline, the model, the scan."""
    finished = datetime.now(UTC)
    run_id = run_id or finished.strftime("%Y%m%dT%H%M%S%fZ")
    index_dir = run_dir(settings, run_id)
    sections = [_quality_section(generation, index_dir), _generation_section(generation)]
    if evaluation is not None:
        sections.append(_evaluation_section(evaluation, index_dir))
    if model_id is not None:
        sections.append(
            {"id": "model", "title": "Model", "bullets": [f"{model_id}, registered in {settings.workdir / 'models'}."]}
        )
    sections.append(_scan_section(scan_date, recommendations, refusals))
    page = render(
        "index.html.j2",
        title=f"ivcrush run {run_id}",
        subtitle=f"database {settings.source_db} · workspace {settings.workdir} · finished "
        f"{finished.strftime('%Y-%m-%d %H:%M:%S')} UTC",
        toc=[(section["title"].split(",")[0], section["id"]) for section in sections if "id" in section],
        sections=sections,
    )
    return write_page(index_dir / INDEX_FILE, page)
