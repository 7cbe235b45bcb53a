"""`ivcrush serve`: the HTTP API (FastAPI on uvicorn) over the published generation and model."""

from __future__ import annotations

import os
import socket
from typing import Annotated

import typer

from ivcrush.cli.options import CommandError, WorkdirOption, console, settings_for


def _check_free(host: str, port: int) -> None:
    """Refuse an address the server could not listen on, with the options to change."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CommandError(
                f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc}); choose another port or host"
            ) from exc


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Worker processes, each keeping its own predictor; unless given, one per core (at most 4).", min=1
        ),
    ] = None,
    workdir: WorkdirOption = None,
) -> None:
    """Serve GET /predict/{ticker}, /scan/{date} and /health over HTTP; a new publication (materialize, train)
    is picked up by the next request."""
    import uvicorn

    from ivcrush.serving.http import default_workers

    workers = workers or default_workers()
    settings = settings_for(workdir)
    _check_free(host, port)
    os.environ["IVCRUSH_HOME"] = str(settings.workdir)  # the workers load their settings from the environment
    console.print(f"ivcrush API on http://{host}:{port} ({workers} worker(s)), workspace {settings.workdir}")
    uvicorn.run(
        "ivcrush.serving.http:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
