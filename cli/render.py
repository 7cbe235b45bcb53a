"""Rendering of results for the terminal (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from ivcrush.quality.report import ERROR, QualityReport


def render_summary(report: QualityReport, console: Console) -> None:
    """Short human summary: failed checks (errors, then warnings) with where, how many rows and examples."""
    n = len(report.checks)
    if not report.errors and not report.warnings:
        console.print(f"[green]data quality: all {n} checks passed[/green]")
        return
    head = "[red]data quality: FAILED[/red]" if report.errors else "[yellow]data quality: passed with warnings[/yellow]"
    console.print(f"{head} - {len(report.errors)} error(s), {len(report.warnings)} warning(s), {n} check(s)")
    for check in [*report.errors, *report.warnings]:
        style = "red" if check.severity == ERROR else "yellow"
        console.print(
            f"  [{style}]{check.severity}[/{style}] {escape(f'{check.name} ({check.where}): {check.message}')}",
            markup=True,
            highlight=False,
            soft_wrap=True,
        )
        for example in check.examples[:3]:
            console.print(f"      e.g. {example}", markup=False, highlight=False, soft_wrap=True)
