"""The `ivcrush` command line: the Typer app, its commands (registered from `ivcrush.cli.commands`) and the one
place where a user-facing error (`IvcrushError`) becomes `error: <message>` on stderr and its exit code."""

from __future__ import annotations

import gc
import json
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from ivcrush import __version__
from ivcrush.cli.commands import api, backtest, calendar, data, feast, market, model, run, serve
from ivcrush.cli.options import console, errors, root_options
from ivcrush.cli.progress import configure_logging, log_level, progress_shown, stage_failed
from ivcrush.config_file import CONFIG_VARIABLE, SETTINGS, user_config_path
from ivcrush.errors import IvcrushError
from ivcrush.progress import keep_lost_interrupts

JSON_FLAG = "--json"


class _CommandGroup(TyperGroup):
    """The root group: every command, nested ones too, runs inside its `invoke`, so a user-facing error is
    reported here once, without a traceback. Any other exception is a bug and goes through unchanged."""

    def invoke(self, ctx: Any) -> Any:  # a typer.Context: the supertype names typer's vendored click
        wants_json = JSON_FLAG in [*ctx._protected_args, *ctx.args]  # the command's own arguments
        try:
            return super().invoke(ctx)
        except IvcrushError as exc:
            stage_failed()
            notes = list(getattr(exc, "__notes__", []))
            if wants_json:
                payload = {"error": str(exc), "notes": notes, "kind": type(exc).__name__, "exit_code": exc.exit_code}
                errors.print_json(json.dumps(payload))
            else:
                message = "\n".join([str(exc), *notes])
                errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    name="ivcrush",
    cls=_CommandGroup,
    help="Earnings IV-crush platform: dbt feature tables from ivcrush.db, Feast, models, strategy.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def settings_epilog() -> str:
    """Every setting's environment variable (the command options show theirs too), for the root --help."""
    variables = ", ".join(info.variable for info in SETTINGS if info.variable.startswith("IVCRUSH_"))
    return f"Settings (config file keys in the README) and their environment variables: {variables}."


def _version(value: bool) -> None:
    if value:
        console.print(f"ivcrush {__version__}")
        raise typer.Exit()


@app.callback(epilog=settings_epilog())
def root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    verbose: Annotated[
        int,
        typer.Option(
            "-v", "--verbose", count=True, help="More output: -v info and dbt's and Feast's own output, -vv debug."
        ),
    ] = 0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Errors only: no progress, no warnings.")] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar=CONFIG_VARIABLE,
            help=f"Settings file (TOML). Default: {user_config_path()} where it exists, else \\[tool.ivcrush] of "
            "the nearest pyproject.toml.",
        ),
    ] = None,
) -> None:
    """Earnings IV-crush platform."""
    root_options.config, root_options.verbose, root_options.quiet = config, verbose, quiet
    configure_logging(log_level(verbose, quiet))
    ctx.with_resource(progress_shown(enabled=not quiet))


app.command("sample-db")(data.sample_db)
app.command()(data.validate)
app.command()(data.build)
app.command()(data.materialize)
app.command()(data.dataset)
app.command("online-features")(data.online_features)
app.command()(model.evaluate)
app.command()(model.train)
app.command()(model.models)
app.command()(serve.predict)
app.command()(serve.scan)
app.command()(calendar.events)
app.command("serve")(api.serve)
backtest_app = typer.Typer(help="Backtests: the real trade journal and a simulated IV-crush backtest.")
backtest_app.command()(backtest.journal)
backtest_app.command()(backtest.simulate)
app.add_typer(backtest_app, name="backtest")
app.command()(run.run)
market.register(app)
app.command("feast", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(feast.feast)


def main() -> None:
    keep_lost_interrupts()
    try:
        app()
    finally:
        # The command is over: a Ctrl-C now would interrupt the interpreter's exit (a crash while it finalizes).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # Everything is written and flushed: spare the interpreter's final garbage collection over the
        # libraries' objects (about 1 s after a main job), the operating system frees the memory anyway.
        gc.freeze()
