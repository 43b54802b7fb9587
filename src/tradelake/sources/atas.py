"""ATAS Trading Journal exports (``.xlsx``) -> ``trades_raw`` and ``atas_journal`` frames.

This module knows the workbook's layout; what is inside the cells (text, locale numbers, local
times and their DST rule, stable ids) is converted by :mod:`tradelake.sources.atas_cells`.
Format facts this parser relies on (from real exports):

* Sheets ``Statistics``, ``Journal`` (one row per flat-to-flat trade) and ``Executions`` (fills).
  Sheet and header names follow the UI language, so both go through synonym tables (English,
  French), case- and accent-insensitive, ignoring non-breaking and zero-width spaces. A title row
  may sit above the header; totals and blank rows may trail the data. Either trade sheet may be
  missing (its frame is then empty); unknown columns are kept as JSON text in ``extra``.
* Executions carry ``Direction`` (Buy/Sell, Achat/Vente) and an unsigned ``Volume``; the
  Journal's direction is the sign of ``Open volume``; an open position has an empty close time.
* The header language decides how text numbers and dates are read: in a French export a lone
  comma is a decimal comma and dates are day-first.

Speed: each sheet is read once (``header_row=0``, types inferred from every row, since a text
cell after the sampled rows would otherwise be nulled silently), the Journal on a second thread.
Only when a title row pushes the header down are the columns text, and then they are converted
from text. All work is vectorised (polars; numpy for the id hash).

Rows that cannot be parsed at all are quarantined with their original text; the rest go on to
``staging.validate``. A file that is not an ATAS export raises ``SourceFormatError`` with one
line naming the file and the fix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import fastexcel
import polars as pl

from tradelake.errors import SourceFormatError
from tradelake.instruments import InstrumentTable, parse_symbol
from tradelake.sources.atas_cells import (
    MARKER_SPELLINGS,
    cell_numbers,
    cell_text,
    display_label,
    error_where,
    journal_ids,
    local_times,
    normalize_label,
    to_utc,
    trade_ids,
)
from tradelake.sources.base import ParseContext, ParseResult, register_parser
from tradelake.staging.quarantine import Quarantine
from tradelake.tables import ATAS_JOURNAL, TRADES_RAW

# fastexcel warns for every all-empty column (ATAS leaves ``Comment`` empty in most exports);
# that is expected here, and the parser types such columns itself.
logging.getLogger("fastexcel").setLevel(logging.ERROR)

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_HEADER_SEARCH_ROWS = 30
_TYPE_SAMPLE = 1000  # rows fastexcel guesses column types from (its schema_sample_rows default)
_JOURNAL_NUMBERS = ("open_price", "open_volume", "close_price", "close_volume", "price_pnl",
                    "profit_ticks", "pnl")  # fmt: skip


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
_DIRECTIONS = {
    **{normalize_label(w): 1 for w in ("Buy", "B", "Bought", "Long", "Achat", "Acheter", "Acheté")},
    **{normalize_label(w): -1 for w in ("Sell", "S", "Sold", "Short", "Vente", "Vendre", "Vendu")},
}
_ENGLISH = {normalize_label(v[0]) for t in (EXECUTIONS, JOURNAL) for v in t.labels.values()}
_FRENCH = {normalize_label(v[1]) for t in (EXECUTIONS, JOURNAL) for v in t.labels.values()}
_FRENCH -= _ENGLISH


@dataclass
class ParsedWorkbook:
    """One export, parsed but not yet validated.

    ``trades``/``journal`` have exactly the TRADES_RAW / ATAS_JOURNAL content columns and dtypes;
    ``quarantine`` (keyed by table name) holds rows that could not be parsed, as original text with
    ``sheet``, ``row_number`` (as Excel numbers it) and ``reason``; ``notes`` are for the user.
    """

    trades: pl.DataFrame
    journal: pl.DataFrame
    quarantine: dict[str, Quarantine]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Sheet:
    """A sheet's data rows under canonical column names, plus ``row_number``."""

    name: str
    frame: pl.DataFrame
    extras: list[str]  # unknown columns, by their display label
    french: bool  # French headers: a lone comma in a text number is a decimal comma


def parse_workbook(
    data: bytes,
    *,
    name: str,
    timezone: str,
    instruments: InstrumentTable,
    journal_ready: Callable[[pl.DataFrame, Quarantine], None] | None = None,
) -> ParsedWorkbook:
    """Parse an ATAS Trading Journal export; ``timezone`` is the exporting machine's (IANA).

    ``journal_ready`` gets the converted Journal sheet as soon as it is done (on the thread
    that read it), usually while the Executions sheet is still loading.
    """
    reader = _open(data, name)
    found = _find_sheets(reader.sheet_names)
    if "executions" not in found and "journal" not in found:
        raise SourceFormatError(
            f"{name} has no Executions or Journal sheet (found: {', '.join(reader.sheet_names)}); "
            "is this an ATAS Trading Journal export?"
        )
    quarantine = {t.name: Quarantine(t.name) for t in (TRADES_RAW, ATAS_JOURNAL)}
    parsed = ParsedWorkbook(_empty(TRADES_RAW.content), _empty(ATAS_JOURNAL.content), quarantine)
    executions, journal = found.get("executions"), found.get("journal")
    journal_notes: list[str] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        # fastexcel releases the GIL while it reads, so the Journal sheet loads and converts on
        # another core while the (longer) Executions sheet is read and converted; a reader is
        # not shared across threads, and only that thread touches the journal's quarantine.
        pending = (
            pool.submit(
                _journal_sheet, _open(data, name), journal, name, timezone,
                quarantine[ATAS_JOURNAL.name], journal_notes, journal_ready,
            )
            if journal
            else None
        )  # fmt: skip
        if executions and (
            sheet := _read_sheet(reader, executions, EXECUTIONS, name, parsed.notes)
        ):
            parsed.trades = _executions(sheet, timezone, quarantine[TRADES_RAW.name])
        if pending and (frame := pending.result()) is not None:
            parsed.journal = frame
    parsed.notes += journal_notes + point_value_notes(parsed.journal, instruments)
    return parsed


@register_parser("atas", suffixes=(".xlsx", ".xlsm"), content_type=XLSX_CONTENT_TYPE)
def parse(data: bytes, name: str, context: ParseContext) -> ParseResult:
    """The ``atas`` source for the ingest job: :func:`parse_workbook` as a ``ParseResult``."""
    parsed = parse_workbook(
        data,
        name=name,
        timezone=context.timezone,
        instruments=context.instruments,
        journal_ready=partial(context.hand_over, ATAS_JOURNAL.name),
    )
    frames = {TRADES_RAW.name: parsed.trades, ATAS_JOURNAL.name: parsed.journal}
    return ParseResult(frames, parsed.quarantine, parsed.notes)


def point_value_notes(journal: pl.DataFrame, instruments: InstrumentTable) -> list[str]:
    """One line per root whose closed trades imply another point value than the table's (>1%).

    implied = PnL / ((close - open) x signed open volume); trades that moved less than half a
    tick or have a non-positive price (the validator rejects those) say nothing about it.
    """
    specs = pl.DataFrame(instruments.as_rows()).select("root", "point_value", "tick_size")
    pnl, move = pl.col("pnl"), pl.col("close_price") - pl.col("open_price")
    usable = (
        pnl.is_not_null() & (pnl != 0) & (move.abs() >= pl.col("tick_size") / 2)
        & (pl.col("open_price") > 0) & (pl.col("close_price") > 0)
    )  # fmt: skip
    ratio = pnl / (move * pl.col("open_volume")) / pl.col("point_value")
    off = (pl.col("ratio") - 1).abs() > 0.01
    checked = (
        journal.join(specs, on="root", how="inner")
        .filter(usable)
        .with_columns(ratio.alias("ratio"))
        .group_by("root")
        .agg(
            pl.len().alias("rows"),
            off.sum().alias("off"),
            pl.col("ratio").filter(off).median(),
            pl.col("point_value").first(),
        )
        .filter(pl.col("off") > 0)
        .sort("root")
    )
    return [
        f"{r['root']}: {r['off']} of {r['rows']} closed journal trades imply a point value "
        f"{r['ratio']:.3f}x the instrument table's {r['point_value']:g} (median of those); "
        f"check [instruments.{r['root']}] in tradelake.toml"
        for r in checked.iter_rows(named=True)
    ]


def _open(data: bytes, name: str) -> fastexcel.ExcelReader:
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


def _find_sheets(names: Sequence[str]) -> dict[str, str]:
    lookup = {normalize_label(s): k for k, synonyms in SHEETS.items() for s in synonyms}
    found: dict[str, str] = {}
    for sheet in names:
        key = lookup.get(normalize_label(sheet))
        if key is not None:
            found.setdefault(key, sheet)
    return found


def _read_sheet(
    reader: fastexcel.ExcelReader, sheet: str, layout: Layout, file: str, notes: list[str]
) -> _Sheet | None:
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
    return _Sheet(sheet, _drop_summary_rows(frame, layout, where, notes), extras, french)


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


def _executions(sheet: _Sheet, timezone: str, quarantine: Quarantine) -> pl.DataFrame:
    """Executions rows -> TRADES_RAW: qty signed by Direction; commission 0.0 without a column."""
    f, french, n = sheet.frame, sheet.french, sheet.frame.height
    volume, volume_error = cell_numbers(f["volume"], "volume", french)
    price, price_error = cell_numbers(f["price"], "price", french)
    commission, commission_error = (
        cell_numbers(f["commission"], "commission", french)
        if "commission" in f.columns
        else (pl.Series("commission", [0.0] * n, pl.Float64), None)
    )
    sign, direction_error = _directions(f["direction"])
    local, time_error = local_times(f["time"], "time", french)
    names, instrument_error = _symbols(f["instrument"])
    reason = _first_error(
        [instrument_error, direction_error, time_error, volume_error, _whole(volume, "volume"),
         _contradiction(volume, sign), price_error, commission_error]
    )  # fmt: skip
    side = pl.when(pl.col("s") > 0).then(pl.lit("buy")).when(pl.col("s") < 0).then(pl.lit("sell"))
    trades = pl.DataFrame(
        {
            "account": cell_text(f["account"]),
            **{c: names[c] for c in ("instrument", "symbol", "root", "exchange")},
            "timestamp": to_utc(local, timezone),
            "side": sign.to_frame("s").select(side).to_series(),
            "qty": (volume.abs().round(0) * sign).cast(pl.Int64, strict=False),
            "price": price,
            "commission": commission,
            "exchange_id": cell_text(f["exchange_id"]),
            "order_id": cell_text(_optional(f, "order_id")),
            "extra": _extra(f, sheet.extras),
        }
    )
    trades = _set_aside(f, trades, reason, sheet.name, quarantine)
    trades = trades.with_columns(trade_ids(trades["account"], trades["exchange_id"]))
    return trades.select([pl.col(c).cast(t) for c, t in TRADES_RAW.content.items()])


def _journal_sheet(
    reader: fastexcel.ExcelReader,
    sheet_name: str,
    file: str,
    timezone: str,
    quarantine: Quarantine,
    notes: list[str],
    ready: Callable[[pl.DataFrame, Quarantine], None] | None,
) -> pl.DataFrame | None:
    """The Journal sheet read and converted (None when it is empty), handed to ``ready``."""
    sheet = _read_sheet(reader, sheet_name, JOURNAL, file, notes)
    if sheet is None:
        return None
    journal = _journal(sheet, timezone, quarantine)
    if ready is not None:
        ready(journal, quarantine)
    return journal


def _journal(sheet: _Sheet, timezone: str, quarantine: Quarantine) -> pl.DataFrame:
    """Journal rows -> ATAS_JOURNAL; optional columns (P&L, ticks, comment) null when absent."""
    f, french = sheet.frame, sheet.french
    names, instrument_error = _symbols(f["instrument"])
    values: dict[str, pl.Series] = {}
    errors: list[pl.Series | None] = [instrument_error]
    for key in ("open_ts", "close_ts"):
        local, error = local_times(f[key], key, french)
        values[key] = to_utc(local, timezone)
        errors.append(error)
    for key in _JOURNAL_NUMBERS:
        values[key], error = cell_numbers(_optional(f, key), key, french)
        errors += [error, _whole(values[key], key) if key.endswith("volume") else None]
    journal = pl.DataFrame(
        {
            "account": cell_text(f["account"]),
            **{c: names[c] for c in ("instrument", "symbol", "root", "exchange")},
            **values,
            "comment": cell_text(_optional(f, "comment")),
            "extra": _extra(f, sheet.extras),
        }
    ).with_columns(pl.col("open_volume", "close_volume").round(0).cast(pl.Int64, strict=False))
    journal = _set_aside(f, journal, _first_error(errors), sheet.name, quarantine)
    journal = journal.with_columns(journal_ids(journal))
    return journal.select([pl.col(c).cast(t) for c, t in ATAS_JOURNAL.content.items()])


def _set_aside(
    raw: pl.DataFrame,
    typed: pl.DataFrame,
    reason: pl.Series | None,
    sheet: str,
    quarantine: Quarantine,
) -> pl.DataFrame:
    """Quarantine rows with a parse error (as the original text) and return the others, typed."""
    if reason is None:
        return typed
    bad = reason.is_not_null()
    quarantine.add(
        raw.filter(bad).with_columns(pl.lit(sheet).alias("sheet")),
        pl.lit(reason.filter(bad)),
        rule="unparseable",
    )
    return typed.filter(~bad)


def _first_error(errors: Sequence[pl.Series | None]) -> pl.Series | None:
    present = [e for e in errors if e is not None]
    return pl.select(pl.coalesce(present)).to_series() if present else None


def _whole(values: pl.Series, label: str) -> pl.Series | None:
    broken = values.is_not_null() & (values != values.round(0))
    return error_where(
        broken, pl.format(f"{label} {{}} is not a whole number of contracts", pl.lit(values))
    )


def _contradiction(volume: pl.Series, sign: pl.Series) -> pl.Series | None:
    return error_where(
        (volume < 0) & (sign > 0), pl.format("volume {} contradicts direction Buy", pl.lit(volume))
    )


def _extra(frame: pl.DataFrame, extras: list[str]) -> pl.Series:
    if not extras:
        return pl.Series("extra", [None] * frame.height, pl.Utf8)
    text = frame.select([cell_text(frame[c]) for c in extras])
    return text.select(pl.struct(extras).struct.json_encode().alias("extra")).to_series()


def _optional(frame: pl.DataFrame, key: str) -> pl.Series:
    """An optional column, or nulls where the export lacks it."""
    return frame[key] if key in frame.columns else pl.Series(key, [None] * frame.height)


def _empty(content: Mapping[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=dict(content))


def _directions(values: pl.Series) -> tuple[pl.Series, pl.Series | None]:
    """+1 for Buy/Achat, -1 for Sell/Vente (any case or spacing); anything else is an error."""
    text = values.cast(pl.Utf8)
    signs = {w: _DIRECTIONS.get(normalize_label(w)) for w in text.drop_nulls().unique().to_list()}
    sign = text.replace_strict(signs, default=None, return_dtype=pl.Int64)
    if sign.null_count() == 0:
        return sign, None
    reasons = {
        w: f"direction '{display_label(w)}' is not Buy or Sell"
        for w, s in signs.items()
        if s is None and normalize_label(w) not in MARKER_SPELLINGS
    }
    error = text.replace_strict(reasons, default=None, return_dtype=pl.Utf8)
    return sign, error_where(sign.is_null(), pl.lit(error).fill_null("direction is missing"))


def _symbols(values: pl.Series) -> tuple[pl.DataFrame, pl.Series | None]:
    """instrument (trimmed original text), symbol, root, exchange, via ``parse_symbol``."""
    raw = cell_text(values)
    rows: list[tuple[str, str | None, str | None, str | None, str | None]] = []
    for name in raw.drop_nulls().unique().to_list():
        try:
            part = parse_symbol(name)
            rows.append((name, part.symbol, part.root, part.exchange, None))
        except ValueError:
            reason = f"instrument '{name}' is not an ATAS instrument name"
            rows.append((name, None, None, None, reason))
    columns = ("instrument", "symbol", "root", "exchange", "error")
    lookup = pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.Utf8), orient="row")
    joined = raw.to_frame("instrument").join(
        lookup, on="instrument", how="left", maintain_order="left"
    )
    error = joined["error"]
    return joined, error if error.null_count() < error.len() else None
