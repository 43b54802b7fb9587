"""All user-facing output goes through one object: rich tables and progress bars for people,
plain JSON for scripts (``--json``), errors on stderr without tracebacks.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console as RichConsole
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:  # polars loads on first use: `tradelake --help` stays quick
    import polars as pl


class Console:
    """Human or JSON output; JSON mode prints exactly one JSON document per command."""

    def __init__(self, *, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self.out = RichConsole(highlight=False)
        self.err = RichConsole(stderr=True, highlight=False)

    def emit_json(self, payload: Any) -> None:
        sys.stdout.write(json.dumps(payload, default=_json_default, indent=2) + "\n")

    def info(self, message: str, *, wrap: bool = True) -> None:
        """A line for people; ``wrap=False`` keeps paths and hashes copy-pastable."""
        if not self.json_mode:
            self.out.print(message, soft_wrap=not wrap)

    def error(self, message: str) -> None:
        """One line on stderr; the message is plain text (never read as rich markup)."""
        self.err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)

    def frame(self, frame: pl.DataFrame, *, title: str | None = None) -> None:
        """A frame as a table (people) or a list of row objects (``--json``)."""
        if self.json_mode:
            self.emit_json(frame.to_dicts())
            return
        table = Table(title=title, show_lines=False)
        for column in frame.columns:
            numeric = frame.schema[column].is_numeric()
            table.add_column(column, justify="right" if numeric else "left")
        for row in frame.iter_rows():
            table.add_row(*(_cell(value) for value in row))
        self.out.print(table)

    @contextmanager
    def progress(self, total: int, description: str) -> Iterator[Callable[[str], None]]:
        """A progress bar advanced by the yielded callable; silent under ``--json``."""
        if self.json_mode or total <= 1:
            yield lambda _label: None
            return
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.err, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda _label: bar.advance(task)


def rows_table(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """Dicts to a frame for display (values stringified where types are mixed)."""
    import polars as pl

    return pl.DataFrame(rows, strict=False) if rows else pl.DataFrame()


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
