"""``tradelake``: a thin command line over :class:`tradelake.platform.Platform`.

Every command unpacks its options, calls one platform method and prints through
:class:`tradelake.console.Console`; data commands take ``--json`` for scripting. Expected
failures print one line on stderr (no traceback) and exit non-zero. Commands are grouped by
concern: ``desk`` (ATAS ingest, P&L, SQL), ``feeds`` (pulled sources), ``vision`` (chart
screenshots: classify, similar setups, train), ``landing`` (verify, seal), ``stream``
(serve, screen send, alerts), ``model`` (train, list, score), ``sentiment`` (train, rescore,
score) and ``drift``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tradelake.cli import (
    airflow,
    demo,
    desk,
    feeds,
    landing,
    models,
    ops,
    publish,
    sentiment,
    stream,
    vision,
)
from tradelake.cli.common import HELP_MARKUP

app = typer.Typer(
    help="tradelake: land, validate, stage and analyse a trading desk's data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=HELP_MARKUP,
)
desk.register(app)
demo.register(app)
feeds.register(app)
landing.register(app)
vision.register(app)
stream.register(app)
publish.register(app)
airflow.register(app)
models.register(app)
sentiment.register(app)
ops.register(app)


def installed_version() -> str:
    """The installed distribution's version (what ``pip`` installed), read from its metadata."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tradelake")
    except PackageNotFoundError:
        return "unknown (not installed; run pip install -e .)"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"tradelake {installed_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """tradelake: land, validate, stage and analyse a trading desk's data."""


def main() -> None:
    """Console-script entry point."""
    app()
