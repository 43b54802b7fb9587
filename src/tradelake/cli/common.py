"""What every command shares: the common options, the error boundary and stop signals."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradelake.console import Console
from tradelake.errors import TradelakeError

if TYPE_CHECKING:
    from tradelake.platform import Platform

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Data home (else $TRADELAKE_HOME, else the current directory)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")]
TzOpt = Annotated[
    str | None,
    typer.Option("--tz", help="Time zone of the exporting machine (overrides [sources.atas])."),
]

EXIT_FAILED = 1
EXIT_PARTIAL = 2


@contextmanager
def command(json_mode: bool) -> Iterator[Console]:
    """The error boundary: an expected failure prints one line and exits 1, no traceback."""
    console = Console(json_mode=json_mode)
    try:
        yield console
    except TradelakeError as exc:
        console.error(str(exc))
        raise typer.Exit(EXIT_FAILED) from None


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM, so long-running commands stop cleanly."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def open_platform(home: Path | None) -> Platform:
    """The data home's :class:`~tradelake.platform.Platform`, imported on first use, so that
    ``--help`` and argument errors answer without loading polars, DuckDB and the rest."""
    from tradelake.platform import Platform

    return Platform.open(home)
