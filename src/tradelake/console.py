"""All user-facing output goes through one object: rich tables and progress bars for people,
plain JSON for scripts (``--json``), errors on stderr without tracebacks.

Everything printed passes :mod:`tradelake.redaction` (no configured secret reaches a terminal or a
script), and names that come from outside (file names, a feed's text) are shown with
:func:`safe_text`, so an escape code or a newline in a file name cannot rewrite the terminal.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich.console import Console as RichConsole
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from tradelake.columns import is_money, json_row, json_value
from tradelake.redaction import REDACTOR, redact

if TYPE_CHECKING:  # polars loads on first use: `tradelake --help` stays quick
    import polars as pl

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
mask_secrets = REDACTOR.mask_values
# The label a bar shows once every file is in and the feature store refresh runs.
REFRESHING = "refreshing the feature store"


class Console:
    """Human or JSON output; JSON mode prints exactly one JSON document per command.

    Tables for people never cut money or a date: at the terminal's width the least important
    columns are hidden (listed in a note; ``wide`` shows them all) and text columns fold. Piped
    output (not a terminal) is plain aligned text with every column, for ``grep`` and ``awk``.
    """

    def __init__(
        self, *, json_mode: bool = False, wide: bool = False, out: RichConsole | None = None
    ) -> None:
        self.json_mode = json_mode
        self.wide = wide
        self.out = out or RichConsole(highlight=False)
        self.err = RichConsole(stderr=True, highlight=False)

    def emit_json(self, payload: Any) -> None:
        """One JSON document; JSON escapes control characters in strings by itself (RFC 8259
        §7), and secrets are masked in the text (their JSON-escaped form is registered too)."""
        sys.stdout.write(json_document(payload) + "\n")

    def info(self, message: str, *, wrap: bool = False) -> None:
        """A line for people (rich markup allowed: interpolate outside names with
        :func:`safe_text`). Not wrapped by default: a log line stays one line, and paths and
        hashes stay copy-pastable; ``wrap=True`` for prose."""
        if not self.json_mode:
            self.out.print(redact(message), soft_wrap=not wrap)

    def note(self, message: str) -> None:
        """A line about the output (rows not shown, columns hidden) on stderr, so piped
        stdout stays data only; never under ``--json``."""
        if not self.json_mode:
            self.err.print(f"[yellow]note:[/] {escape(message)}", soft_wrap=True)

    def warning(self, message: str) -> None:
        """One loud line on stderr for a result that may be wrong (also under ``--json``, whose
        stdout stays one document); plain text, control characters escaped."""
        self.err.print(
            f"[bold yellow]warning:[/] {escape(safe_text(redact(message)))}", soft_wrap=True
        )

    def error(self, message: str) -> None:
        """One line on stderr; the message is plain text (never read as rich markup), with
        control characters escaped so it stays one line."""
        self.err.print(f"[bold red]error:[/] {escape(safe_text(redact(message)))}", soft_wrap=True)

    def frame(
        self,
        frame: pl.DataFrame,
        *,
        title: str | None = None,
        multiline: Sequence[str] = (),
        priority: Sequence[str] = (),
    ) -> None:
        """A frame as a table (people) or a list of row objects (``--json``, typed for
        scripts by :func:`tradelake.columns.json_row`).

        Cells are shown with :func:`safe_text`; only the ``multiline`` columns (text we built,
        such as one line per rule) keep their newlines. ``priority`` names the columns to keep
        first when the terminal is too narrow; the others are hidden from the right.
        """
        if self.json_mode:
            self.emit_json([json_row(row) for row in frame.iter_rows(named=True)])
            return
        columns = [
            _Column.of(name, frame.schema[name], name in multiline, frame[name].to_list())
            for name in frame.columns
        ]
        if not self.out.is_terminal:
            self._plain(columns, frame.height)
            return
        shown_columns = columns if self.wide else self._fitting(columns, priority)
        widths = _widths(shown_columns, None if self.wide else self.out.width)
        table = Table(title=title, show_lines=False)
        for column, width in zip(shown_columns, widths, strict=True):
            table.add_column(
                escape(column.name),
                justify="right" if column.numeric else "left",
                width=width,
                overflow="fold",
            )
        for index in range(frame.height):
            table.add_row(*(escape(column.cells[index]) for column in shown_columns))
        self._print_wide(table, _table_width(shown_columns, natural=True))
        hidden = [column.name for column in columns if column not in shown_columns]
        if hidden:
            self.note(
                f"{len(hidden)} column(s) hidden at {self.out.width} characters: "
                f"{', '.join(hidden)} (--wide shows every column)"
            )

    def _print_wide(self, table: Table, needed: int) -> None:
        """Print ``table`` at least ``needed`` characters wide (rich caps ``print(width=)`` at
        the console's width, so the width itself is raised for the call)."""
        width = self.out.width
        if needed > width:
            self.out.width = needed
        try:
            self.out.print(table)
        finally:
            self.out.width = width

    def _fitting(self, columns: list[_Column], priority: Sequence[str]) -> list[_Column]:
        """The most important columns that fit the terminal at their minimum widths."""
        ranked = [c for name in priority for c in columns if c.name == name]
        ranked += [c for c in columns if c not in ranked]
        kept = ranked[:1]
        for column in ranked[1:]:
            if _table_width([*kept, column], natural=False) <= self.out.width:
                kept.append(column)
        return [column for column in columns if column in kept]

    def _plain(self, columns: list[_Column], height: int) -> None:
        """Aligned text, two spaces between columns, every column, no cell cut."""
        widths = [column.natural_width for column in columns]
        lines = ["  ".join(c.name.ljust(w) for c, w in zip(columns, widths, strict=True))]
        for index in range(height):
            cells = []
            for column, width in zip(columns, widths, strict=True):
                text = column.cells[index].replace("\n", "; ")
                cells.append(text.rjust(width) if column.numeric else text.ljust(width))
            lines.append("  ".join(cells))
        sys.stdout.write("".join(line.rstrip() + "\n" for line in lines))
        sys.stdout.flush()

    @contextmanager
    def working(self, description: str) -> Iterator[Callable[[str], None]]:
        """A spinner with the time spent, for a step that cannot count its work (generating
        files, one large file); the yielded callable relabels it. On stderr, silent under
        ``--json``."""
        if self.json_mode:
            yield lambda _label: None
            return
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=self.err, transient=True) as bar:
            task = bar.add_task(description, total=None)
            yield lambda label: bar.update(task, description=label)

    @contextmanager
    def progress(
        self, total: int, description: str, *, then: str | None = None
    ) -> Iterator[ProgressBar]:
        """A progress bar over ``total`` items (files, objects, epochs) with the time spent;
        silent under ``--json``. Call the yielded :class:`ProgressBar` when an item is done and
        its ``stage`` when one item enters a step (parsing, staging), so a single large file
        moves too; ``then`` names the step that follows the last item (the bar stays up,
        relabelled)."""
        if self.json_mode or total < 1:
            yield ProgressBar(None, total, description, then)
            return
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.err, transient=True) as bar:
            yield ProgressBar(bar, total, description, then)


class ProgressBar:
    """What :meth:`Console.progress` yields: ``bar(label)`` marks one more item done;
    ``bar.stage(label, fraction)`` shows the step the current item is in and moves the bar
    to ``fraction`` of it. Without a rich bar (``--json``) every call is a no-op."""

    def __init__(self, bar: Progress | None, total: int, description: str, then: str | None):
        self._bar, self.total, self._then = bar, total, then
        self.done = 0
        self._task = bar.add_task(description, total=total) if bar is not None else None

    def __call__(self, _label: str) -> None:
        self.done += 1
        finished = self._then if self._then and self.done >= self.total else None
        self._show(float(self.done), finished)

    def stage(self, label: str, fraction: float = 0.0) -> None:
        """The current item (or, after the last, the work that follows) is at ``label`` (plain
        text: a file name in it is escaped, never read as markup)."""
        self._show(min(self.done + fraction, float(self.total)), shown(label))

    def _show(self, completed: float, label: str | None) -> None:
        if self._bar is None or self._task is None:
            return
        if label is None:
            self._bar.update(self._task, completed=completed)
        else:
            self._bar.update(self._task, completed=completed, description=label)
        self._bar.refresh()  # a step may take seconds: show it now, not at the next tick


@dataclass(frozen=True, eq=False)
class _Column:
    """One column's display cells and how much room it needs."""

    name: str
    cells: list[str]
    numeric: bool
    keep_whole: bool  # money, numbers, dates: never folded or cut
    natural_width: int
    min_width: int

    @classmethod
    def of(cls, name: str, dtype: pl.DataType, multiline: bool, values: Sequence[Any]) -> _Column:
        cells = [_cell(name, value, multiline) for value in values]
        longest = max((len(line) for cell in cells for line in cell.split("\n")), default=0)
        natural = max(longest, len(name))
        numeric = dtype.is_numeric()
        keep_whole = numeric or dtype.is_temporal()
        # a header folds over its column; text folds down to a short width
        minimum = max(longest if keep_whole else min(natural, _TEXT_MIN_WIDTH), 1)
        minimum = max(minimum, min(len(name), _TEXT_MIN_WIDTH))
        return cls(name, cells, numeric, keep_whole, natural, minimum)


_TEXT_MIN_WIDTH = 8
_COLUMN_OVERHEAD = 3  # rich's default box: one rule and a space either side per column


def _widths(columns: Sequence[_Column], limit: int | None) -> list[int]:
    """Each column's width: its natural width if all fit in ``limit`` (or no limit), else the
    minimum widths plus the room left shared out to the folded columns, left to right."""
    if limit is None or _table_width(columns, natural=True) <= limit:
        return [column.natural_width for column in columns]
    widths = [column.min_width for column in columns]
    room = limit - _table_width(columns, natural=False)
    for index, column in enumerate(columns):
        extra = min(room, column.natural_width - widths[index])
        if extra > 0:
            widths[index] += extra
            room -= extra
    return widths


def _table_width(columns: Sequence[_Column], *, natural: bool) -> int:
    content = sum(c.natural_width if natural else c.min_width for c in columns)
    return content + _COLUMN_OVERHEAD * len(columns) + 1


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


def _cell(name: str, value: Any, keep_newlines: bool = False) -> str:
    """A value as people read it (not yet escaped for rich markup): money to cents, other
    floats to at most 6 decimals, timestamps to the second (milliseconds when present, ``Z``
    for UTC)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if is_money(name):
            return f"{value:,.2f}"
        return f"{value:,.6f}".rstrip("0").rstrip(".")
    if isinstance(value, datetime):
        return _timestamp(value)
    return safe_text(mask_secrets(str(value)), keep_newlines=keep_newlines)


def _timestamp(value: datetime) -> str:
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    offset = value.utcoffset()
    if offset is None:
        return text
    return text + ("Z" if not offset else value.strftime("%z"))


def json_document(payload: Any, *, indent: int | None = 2) -> str:
    """``payload`` as ``--json`` prints it (dates ISO 8601, secrets masked); the desk's JSON
    API answers with the same text, so a script gets the same values from either."""
    return mask_secrets(json.dumps(payload, default=_json_default, indent=indent))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return json_value("", value)
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
