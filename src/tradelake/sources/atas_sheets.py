"""How an ATAS Trading Journal workbook is laid out, and reading its sheets.

:mod:`tradelake.sources.atas` turns the sheets into tables; this module finds them. It knows
the sheet and header names (English and French synonyms, matched case- and accent-insensitively,
ignoring non-breaking and zero-width spaces), a title row above the header, totals and blank
rows below the data, and how to read a sheet fast without losing a cell:

* fastexcel (calamine) reads each sheet once, eagerly as Arrow. It guesses column types from
  the first 1,000 rows and silently nulls a later cell that does not fit, so a guessed sheet
  whose typed columns have a null is read again with types from every row; the Journal, whose
  open trades leave typed cells empty, is read with types from every row at once.
* Only when a title row pushes the header down are the columns text; the cell parsers of
  :mod:`tradelake.sources.atas_cells` then convert them from text.

A file that is not a readable workbook, or a sheet without a required column, raises
``SourceFormatError`` with one line naming the file and the fix.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import fastexcel
import polars as pl

from tradelake.errors import SourceFormatError
from tradelake.sources.atas_cells import display_label, normalize_label

# fastexcel warns for every all-empty column (ATAS leaves ``Comment`` empty in most exports);
# that is expected here, and the parser types such columns itself.
logging.getLogger("fastexcel").setLevel(logging.ERROR)


_HEADER_SEARCH_ROWS = 30
_TYPE_SAMPLE = 1000  # rows fastexcel guesses column types from (its schema_sample_rows default)


@dataclass(frozen=True)
class Layout:
    """One sheet's columns: key -> (English label, French label, other synonyms...)."""

    labels: Mapping[str, tuple[str, ...]]
    required: tuple[str, ...]
    anchors: tuple[str, ...]  # a row with none of these filled is a blank or totals row
    # Typed columns are empty in ordinary exports (the Journal's open trades): read with types
    # from every row at once rather than guess, find nulls, and read again (see ``_load``).
    sparse: bool = False
    lookup: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        pairs = {normalize_label(n): k for k, names in self.labels.items() for n in names}
        object.__setattr__(self, "lookup", pairs)


SHEETS: dict[str, tuple[str, ...]] = {
    "executions": ("Executions", "Exécutions", "Execution", "Fills"),
    "journal": ("Journal", "Journal commercial", "Journal de trading", "Trading journal", "Trades"),
    "statistics": ("Statistics", "Statistiques", "Stats"),
}


_SHARED = {
    "account": ("Account", "Compte", "Account name", "Nom du compte"),
    "instrument": ("Instrument", "Outil", "Symbol", "Symbole", "Security", "Ticker"),
}


EXECUTIONS = Layout(
    labels={
        **_SHARED,
        "direction": ("Direction", "Sens", "Side", "Côté", "Achat/Vente", "Buy/Sell"),
        "volume": ("Volume", "Volume", "Quantity", "Quantité", "Qty", "Size", "Contracts", "Lots"),
        "price": ("Price", "Prix", "Fill price", "Prix d'exécution", "Execution price"),
        "time": ("Time", "Heure", "Date/time", "Date et heure", "Execution time"),
        "exchange_id": ("Exchange ID", "ID d'échange", "ID de l'échange", "ID échange",
                        "ExchangeId", "Execution ID", "ID d'exécution", "Fill ID"),
        "commission": ("Commission", "Commission", "Commissions", "Fee", "Fees", "Frais"),
        "order_id": ("Order ID", "ID de l'ordre", "ID d'ordre", "ID ordre", "OrderId",
                     "N° d'ordre"),
    },
    required=("account", "instrument", "direction", "volume", "price", "time", "exchange_id"),
    anchors=("time", "direction", "exchange_id", "instrument"),
)  # fmt: skip


JOURNAL = Layout(
    labels={
        **_SHARED,
        "open_ts": ("Open time", "Heure d'ouverture", "Entry time", "Heure d'entrée"),
        "open_price": ("Open price", "Prix d'ouverture", "Entry price", "Prix d'entrée"),
        "open_volume": ("Open volume", "Volume d'ouverture", "Entry volume", "Volume d'entrée"),
        "close_ts": ("Close time", "Heure de clôture", "Exit time", "Heure de sortie",
                     "Heure de fermeture"),
        "close_price": ("Close price", "Prix de clôture", "Exit price", "Prix de sortie",
                        "Prix de fermeture"),
        "close_volume": ("Close volume", "Volume de clôture", "Exit volume", "Volume de sortie",
                         "Volume de fermeture"),
        "price_pnl": ("Price PnL", "PnL prix", "Price P&L", "P&L prix", "PnL (prix)"),
        "profit_ticks": ("Profit (ticks)", "Profit (ticks)", "Profit ticks", "Profit (tics)"),
        "pnl": ("PnL", "PnL", "P&L", "P/L", "Profit", "Résultat"),
        "comment": ("Comment", "Commentaire", "Comments", "Commentaires", "Note", "Notes"),
    },
    required=("account", "instrument", "open_ts", "open_price", "open_volume", "close_ts",
              "close_price"),
    anchors=("open_ts", "open_price", "instrument"),
    sparse=True,
)  # fmt: skip


_ENGLISH = {normalize_label(v[0]) for t in (EXECUTIONS, JOURNAL) for v in t.labels.values()}
_FRENCH = {normalize_label(v[1]) for t in (EXECUTIONS, JOURNAL) for v in t.labels.values()}
_FRENCH -= _ENGLISH


@dataclass(frozen=True)
class Sheet:
    """A sheet's data rows under canonical column names, plus ``row_number``."""

    name: str
    frame: pl.DataFrame
    extras: list[str]  # unknown columns, by their display label
    french: bool  # French headers: a lone comma in a text number is a decimal comma


def open_workbook(data: bytes, name: str) -> fastexcel.ExcelReader:
    """Open the workbook, or say in one line what the file is instead and how to get an .xlsx."""
    if not data.startswith((b"PK\x03\x04", bytes.fromhex("d0cf11e0a1b11ae1"))):
        raise SourceFormatError(
            f"{name} is not an Excel workbook ({_sniff(data)}); export it again from ATAS as .xlsx"
        )
    try:
        return fastexcel.read_excel(data)
    except Exception as exc:  # fastexcel raises several unrelated types for a broken container
        raise SourceFormatError(
            f"{name} is a damaged, truncated or password-protected workbook ({_first_line(exc)}); "
            "copy it again or export it again from ATAS as .xlsx"
        ) from exc


def _sniff(data: bytes) -> str:
    if not data.strip():
        return "the file is empty"
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            lines = data[:4096].decode(encoding).strip().splitlines()
        except UnicodeDecodeError:
            continue
        if lines and lines[0].lstrip().startswith("<"):
            return "looks like HTML or XML text"
        return (
            "looks like CSV text"
            if lines and any(s in lines[0] for s in ";,\t")
            else "looks like plain text"
        )
    return "unrecognised binary content"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:160]


def find_sheets(names: Sequence[str]) -> dict[str, str]:
    lookup = {normalize_label(s): k for k, synonyms in SHEETS.items() for s in synonyms}
    found: dict[str, str] = {}
    for sheet in names:
        key = lookup.get(normalize_label(sheet))
        if key is not None:
            found.setdefault(key, sheet)
    return found


def read_sheet(
    reader: fastexcel.ExcelReader, sheet: str, layout: Layout, file: str, notes: list[str]
) -> Sheet | None:
    """Read a sheet once, find its header (row 1, or lower under a title) and name its columns."""
    where = f"{file} sheet {sheet}"
    try:
        frame = _load(reader, sheet, guess=not layout.sparse)
    except Exception as exc:  # a corrupt sheet part surfaces here, not at open
        raise SourceFormatError(
            f"{where} cannot be read ({_first_line(exc)}); export it again from ATAS"
        ) from exc
    if frame.width == 0:
        notes.append(f"{where} is empty")
        return None
    start, labels = _find_header(frame, layout)
    keys = _keys(labels, layout)
    french = any(normalize_label(v) in _FRENCH for v in labels)
    missing = [k for k in layout.required if k not in keys]
    if missing:
        shown = ", ".join(filter(None, map(display_label, labels))) or "nothing"
        raise SourceFormatError(
            f"{where} has no '{layout.labels[missing[0]][int(french)]}' column "
            f"(found: {shown}); re-export with all columns visible"
        )
    frame, extras = _name_columns(frame.slice(start), keys, labels)
    if extras:
        notes.append(f"{where}: kept unknown column(s) {', '.join(extras)} in 'extra'")
    frame = frame.with_row_index("row_number", offset=start + 2).cast({"row_number": pl.Int64})
    return Sheet(sheet, _drop_summary_rows(frame, layout, where, notes), extras, french)


def _load(reader: fastexcel.ExcelReader, sheet: str, *, guess: bool) -> pl.DataFrame:
    """The sheet as a frame, column types guessed from its first rows (``guess``) and checked,
    else taken from every row.

    fastexcel guesses each column's type from a sample and turns a later cell that does not
    fit (a text number in a number column, a text date in a date column) into null, silently.
    So a typed column with a null in a sheet longer than the sample is read again with types
    from every row (mixed columns then come back as text, which the cell parsers read).
    Guessing first saves about 10% of the read of a clean 200,000-row sheet, and loading it
    eagerly as Arrow another 5%.
    """
    options: dict[str, Any] = {
        "header_row": 0, "whitespace_as_null": True, "skip_whitespace_tail_rows": True,
    }  # fmt: skip
    sample = _TYPE_SAMPLE if guess else None
    frame = _eager(reader.load_sheet(sheet, schema_sample_rows=sample, eager=True, **options))
    if guess and frame.height > _TYPE_SAMPLE and _typed_nulls(frame):
        frame = _eager(reader.load_sheet(sheet, schema_sample_rows=None, eager=True, **options))
    return frame


def _eager(batch: Any) -> pl.DataFrame:
    """``load_sheet(eager=True)`` returns a pyarrow RecordBatch: as a polars frame."""
    return cast(pl.DataFrame, pl.from_arrow(batch))


def _typed_nulls(frame: pl.DataFrame) -> bool:
    typed = [name for name, dtype in frame.schema.items() if dtype != pl.String]
    return bool(typed) and frame.select(pl.col(typed).null_count()).sum_horizontal().item() > 0


def _find_header(frame: pl.DataFrame, layout: Layout) -> tuple[int, list[str]]:
    """(data rows to skip, header labels): row 1, or the best-matching row under a title."""
    labels = ["" if c.startswith("__UNNAMED__") else c for c in frame.columns]
    head = frame.head(_HEADER_SEARCH_ROWS).iter_rows()
    rows = [["" if v is None else str(v) for v in row] for row in head]
    scores = [_score(row, layout) for row in rows]
    if not scores or max(scores) <= _score(labels, layout):
        return 0, labels
    best = scores.index(max(scores))
    return best + 1, rows[best]


def _name_columns(
    frame: pl.DataFrame, keys: list[str | None], labels: list[str]
) -> tuple[pl.DataFrame, list[str]]:
    """Canonical keys for known columns, display labels for extras; blank empty columns dropped."""
    names = [
        k or display_label(v) or f"column {i + 1}"
        for i, (k, v) in enumerate(zip(keys, labels, strict=True))
    ]
    frame = frame.rename(dict(zip(frame.columns, _unique(names), strict=True)))
    unnamed = {n for n, v in zip(frame.columns, labels, strict=True) if not display_label(v)}
    blank = [n for n in unnamed if n not in keys and frame[n].null_count() == frame.height]
    extras = [n for n, k in zip(frame.columns, keys, strict=True) if k is None and n not in blank]
    return frame.drop(blank), extras


def _score(labels: Sequence[str], layout: Layout) -> int:
    return len({layout.lookup.get(normalize_label(v)) for v in labels} - {None})


def _keys(labels: Sequence[str], layout: Layout) -> list[str | None]:
    keys: list[str | None] = []
    for label in labels:
        key = layout.lookup.get(normalize_label(label))
        keys.append(key if key not in keys else None)  # a repeated header is kept as extra
    return keys


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        seen[name] = seen.get(name, 0) + 1
        names[i] = name if seen[name] == 1 else f"{name} ({seen[name]})"
    return names


def _drop_summary_rows(
    frame: pl.DataFrame, layout: Layout, where: str, notes: list[str]
) -> pl.DataFrame:
    """Blank rows vanish; a totals row (no time, id or instrument, yet not blank) gets a note."""
    anchored = pl.any_horizontal(
        [pl.col(k).is_not_null() for k in layout.anchors if k in frame.columns]
    )
    if frame.select(anchored.all()).item():
        return frame
    content = pl.any_horizontal(
        [pl.col(c).is_not_null() for c in frame.columns if c != "row_number"]
    )
    summary = frame.filter(~anchored & content)["row_number"].to_list()
    if summary:
        rows = ", ".join(map(str, summary[:5]))
        notes.append(f"{where}: skipped {len(summary)} totals row(s) (row {rows})")
    return frame.filter(anchored)
