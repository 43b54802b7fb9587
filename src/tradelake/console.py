"""All user-facing output goes through one object: rich tables and progress bars for people,
plain JSON for scripts (``--json``), errors on stderr without tracebacks.

Everything printed passes :mod:`tradelake.redaction` (no configured secret reaches a terminal or a
script), and names that come from outside (file names, a feed's text) are shown with
:func:`safe_text`, so an escape code or a newline in a file name cannot rewrite the terminal.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console as RichConsole
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tradelake.redaction import REDACTOR, redact

if TYPE_CHECKING:  # polars loads on first use: `tradelake --help` stays quick
    import polars as pl

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
mask_secrets = REDACTOR.mask_values


class Console:
    """Human or JSON output; JSON mode prints exactly one JSON document per command."""

    def __init__(self, *, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self.out = RichConsole(highlight=False)
        self.err = RichConsole(stderr=True, highlight=False)

    def emit_json(self, payload: Any) -> None:
        """One JSON document; JSON escapes control characters in strings by itself (RFC 8259
        §7), and secrets are masked in the text (their JSON-escaped form is registered too)."""
        text = json.dumps(payload, default=_json_default, indent=2)
        sys.stdout.write(mask_secrets(text) + "\n")

    def info(self, message: str, *, wrap: bool = False) -> None:
        """A line for people (rich markup allowed: interpolate outside names with
        :func:`safe_text`). Not wrapped by default: a log line stays one line, and paths and
        hashes stay copy-pastable; ``wrap=True`` for prose."""
        if not self.json_mode:
            self.out.print(redact(message), soft_wrap=not wrap)

    def error(self, message: str) -> None:
        """One line on stderr; the message is plain text (never read as rich markup), with
        control characters escaped so it stays one line."""
        self.err.print(f"[bold red]error:[/] {escape(safe_text(redact(message)))}", soft_wrap=True)

    def frame(
        self, frame: pl.DataFrame, *, title: str | None = None, multiline: Sequence[str] = ()
    ) -> None:
        """A frame as a table (people) or a list of row objects (``--json``).

        Cells are shown with :func:`safe_text`; only the ``multiline`` columns (text we built,
        such as one line per rule) keep their newlines.
        """
        if self.json_mode:
            self.emit_json(frame.to_dicts())
            return
        table = Table(title=title, show_lines=False)
        for column in frame.columns:
            numeric = frame.schema[column].is_numeric()
            table.add_column(column, justify="right" if numeric else "left")
        keep = [column in multiline for column in frame.columns]
        for row in frame.iter_rows():
            table.add_row(*(_cell(value, lines) for value, lines in zip(row, keep, strict=True)))
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


def safe_text(value: object, *, keep_newlines: bool = False) -> str:
    """``value`` as text that cannot drive a terminal: control characters (ESC, newline, CR,
    DEL, C1) are shown escaped, ``repr``-style (``\\x1b``, ``\\n``); other text is unchanged.

    ``keep_newlines`` is for a table cell, where a newline only makes the cell taller.
    """
    text = str(value)
    if not _CONTROL_RE.search(text):
        return text
    if keep_newlines:
        return "\n".join(safe_text(line) for line in text.split("\n"))
    return _CONTROL_RE.sub(lambda match: _escaped(match.group()), text)


def shown(value: object) -> str:
    """An outside name (file, feed text) ready to interpolate into an :meth:`Console.info` line:
    control characters escaped (:func:`safe_text`) and rich markup neutralised."""
    return escape(safe_text(value))


def _escaped(char: str) -> str:
    return repr(char)[1:-1]


def _cell(value: Any, keep_newlines: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return escape(safe_text(mask_secrets(str(value)), keep_newlines=keep_newlines))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
