"""``tradelake``: a thin command line over :class:`tradelake.platform.Platform`.

Every command unpacks its options, calls one platform method and prints through
:class:`tradelake.console.Console`; data commands take ``--json`` for scripting. Expected
failures print one line on stderr (no traceback) and exit non-zero. Commands are grouped by
concern: ``desk`` (ATAS ingest, P&L, SQL), ``feeds`` (pulled sources), ``vision`` (chart
screenshots: classify, similar setups, train), ``landing`` (verify, seal), ``stream``
(serve, screen send, alerts).
"""

from __future__ import annotations

import typer

from tradelake.cli import desk, feeds, landing, stream, vision

app = typer.Typer(
    help="tradelake: land, validate, stage and analyse a trading desk's data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
desk.register(app)
feeds.register(app)
landing.register(app)
vision.register(app)
stream.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
