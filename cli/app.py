"""The `ivcrush` command line: the Typer app, its commands (registered from `ivcrush.cli.commands`) and the one
place where a user-facing error (`IvcrushError`) becomes `error: <message>` on stderr and its exit code."""

from __future__ import annotations

import gc
from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from ivcrush import __version__
from ivcrush.cli.commands import backtest, data, feast, market, model, run, serve
from ivcrush.cli.options import console, errors
from ivcrush.errors import IvcrushError


class _CommandGroup(TyperGroup):
    """The root group: every command, nested ones too, runs inside its `invoke`, so a user-facing error is
    reported here once, without a traceback. Any other exception is a bug and goes through unchanged."""

    def invoke(self, ctx: Any) -> Any:  # a typer.Context: the supertype names typer's vendored click
        try:
            return super().invoke(ctx)
        except IvcrushError as exc:
            message = "\n".join([str(exc), *getattr(exc, "__notes__", [])])
            errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    name="ivcrush",
    cls=_CommandGroup,
    help="Earnings IV-crush platform: dbt feature tables from ivcrush.db, Feast, models, strategy.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"ivcrush {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Earnings IV-crush platform."""


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
backtest_app = typer.Typer(help="Backtests: the real trade journal and a simulated IV-crush backtest.")
backtest_app.command()(backtest.journal)
backtest_app.command()(backtest.simulate)
app.add_typer(backtest_app, name="backtest")
app.command()(run.run)
market.register(app)
app.command("feast", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(feast.feast)


def main() -> None:
    try:
        app()
    finally:
        # Everything is written and flushed: spare the interpreter's final garbage collection over the
        # libraries' objects (about 1 s after a main job), the operating system frees the memory anyway.
        gc.freeze()
