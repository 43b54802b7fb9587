"""What every command shares: the common options, the error boundary and stop signals."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradelake.console import Console
from tradelake.errors import TradelakeError

if TYPE_CHECKING:
    import polars as pl

    from tradelake.platform import Platform

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Data home (else $TRADELAKE_HOME, else the current directory)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")]
TzOpt = Annotated[
    str | None,
    typer.Option(
        "--tz", help="Time zone of the exporting machine (overrides [sources.atas] timezone)."
    ),
]
WideOpt = Annotated[
    bool, typer.Option("--wide", help="Show every column, wider than the terminal if need be.")
]
CsvOpt = Annotated[
    Path | None, typer.Option("--csv", help="Also write the full result to this CSV file.")
]
ParquetOpt = Annotated[
    Path | None, typer.Option("--parquet", help="Also write the full result to this Parquet file.")
]
XlsxOpt = Annotated[
    Path | None, typer.Option("--xlsx", help="Also write the full result to this Excel file.")
]

# Help text is plain text, not rich markup: "[sources.atas]" and "[[feeds]]" are config names,
# and typer's default markup mode would swallow them as style tags.
HELP_MARKUP = None

EXIT_FAILED = 1
EXIT_PARTIAL = 2


@contextmanager
def command(json_mode: bool, *, wide: bool = False) -> Iterator[Console]:
    """The error boundary: an expected failure prints one line and exits 1, no traceback."""
    console = Console(json_mode=json_mode, wide=wide)
    try:
        yield console
    except TradelakeError as exc:
        console.error(str(exc))
        raise typer.Exit(EXIT_FAILED) from None


@dataclass(frozen=True)
class Exports:
    """The ``--csv``/``--parquet``/``--xlsx`` targets of one command (any may be None)."""

    csv: Path | None = None
    parquet: Path | None = None
    xlsx: Path | None = None

    def targets(self) -> list[tuple[str, Path]]:
        return [(fmt, path) for fmt, path in vars(self).items() if path is not None]


def show(
    console: Console,
    frame: pl.DataFrame,
    exports: Exports,
    *,
    title: str | None = None,
    priority: Sequence[str] = (),
) -> None:
    """What every data command does with its result: print it and write each export (the full
    frame, whatever the screen shows)."""
    console.frame(frame, title=title, priority=priority)
    write_exports(console, frame, exports)


def rows_frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """Row dicts (a command's ``--json`` rows) as a frame to export; nested values (a list of
    notes, a dict of probabilities) become JSON text, as a spreadsheet cell can hold no more."""
    import json

    import polars as pl

    flat = [
        {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
        for row in rows
    ]
    return pl.DataFrame(flat, infer_schema_length=None) if flat else pl.DataFrame()


def write_exports(console: Console, frame: pl.DataFrame, exports: Exports) -> None:
    """Write ``frame`` to each requested file (atomically) and say so on stderr."""
    from tradelake.exports import export_frame

    for fmt, path in exports.targets():
        export_frame(frame, path, fmt)
        console.note(f"wrote {frame.height:,} rows to {path}")


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM, so long-running commands stop cleanly."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def open_platform(home: Path | None) -> Platform:
    """The data home's :class:`~tradelake.platform.Platform`, imported on first use, so that
    ``--help`` and argument errors answer without loading polars, DuckDB and the rest."""
    import gc

    # Importing the data stack creates a few hundred thousand long-lived objects, and the
    # collector would walk them again and again while they pile up: collect nothing during
    # the import, then freeze what it made (later collections skip it).
    gc.disable()
    try:
        from tradelake.platform import Platform
    finally:
        gc.freeze()
        gc.enable()
    return Platform.open(home)
