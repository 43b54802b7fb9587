"""ATAS Trading Journal exports (``.xlsx``) -> ``trades_raw`` and ``atas_journal`` frames.

This module turns the sheets into tables. Finding and reading the sheets (names, headers, title
and totals rows) is :mod:`tradelake.sources.atas_sheets`; what is inside the cells (text, locale
numbers, local times and their DST rule, stable ids) is :mod:`tradelake.sources.atas_cells`.
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

Speed: the Journal sheet is read, converted and handed to the ingest job (to be staged) on a
second thread while the longer Executions sheet loads. All work is vectorised (polars; numpy for
the id hash).

Rows that cannot be parsed at all are quarantined with their original text; the rest go on to
``staging.validate``. A file that is not an ATAS export raises ``SourceFormatError`` with one
line naming the file and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import polars as pl

from tradelake.errors import SourceFormatError
from tradelake.instruments import InstrumentTable, parse_symbol
from tradelake.sources.atas_cells import (
    MARKER_SPELLINGS,
    beyond_int64,
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
from tradelake.sources.atas_sheets import (
    EXECUTIONS,
    JOURNAL,
    Sheet,
    find_sheets,
    open_workbook,
    read_sheet,
)
from tradelake.sources.base import ParseContext, ParseResult, register_parser
from tradelake.staging.quarantine import Quarantine
from tradelake.tables import ATAS_JOURNAL, TRADES_RAW

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_VOLUMES = ("open_volume", "close_volume")
_JOURNAL_NUMBERS = ("open_price", "open_volume", "close_price", "close_volume", "price_pnl",
                    "profit_ticks", "pnl")  # fmt: skip


_DIRECTIONS = {
    **{normalize_label(w): 1 for w in ("Buy", "B", "Bought", "Long", "Achat", "Acheter", "Acheté")},
    **{normalize_label(w): -1 for w in ("Sell", "S", "Sold", "Short", "Vente", "Vendre", "Vendu")},
}


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
    reader = open_workbook(data, name)
    found = find_sheets(reader.sheet_names)
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
                _journal_sheet, data, journal, name, timezone, instruments,
                quarantine[ATAS_JOURNAL.name], journal_notes, journal_ready,
            )
            if journal
            else None
        )  # fmt: skip
        if executions and (sheet := read_sheet(reader, executions, EXECUTIONS, name, parsed.notes)):
            parsed.trades = _executions(sheet, timezone, quarantine[TRADES_RAW.name])
        if pending and (frame := pending.result()) is not None:
            parsed.journal = frame
    parsed.notes += journal_notes
    return parsed


@register_parser(
    "atas", suffixes=(".xlsx", ".xlsm"), content_type=XLSX_CONTENT_TYPE, local_time=True
)
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


def _executions(sheet: Sheet, timezone: str, quarantine: Quarantine) -> pl.DataFrame:
    """Executions rows -> TRADES_RAW: qty signed by Direction; commission 0.0 without a column.

    The text columns and the trade ids convert on a second thread while the numbers and times
    convert here (polars and numpy release the GIL): this runs between the end of the read and
    the refresh, where nothing else can start.
    """
    f, french, n = sheet.frame, sheet.french, sheet.frame.height
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="atas-text") as pool:
        pending_texts = pool.submit(_execution_texts, f)
        volume, volume_error = cell_numbers(f["volume"], "volume", french)
        price, price_error = cell_numbers(f["price"], "price", french)
        commission, commission_error = (
            cell_numbers(f["commission"], "commission", french)
            if "commission" in f.columns
            else (pl.Series("commission", [0.0] * n, pl.Float64), None)
        )
        sign, direction_error = _directions(f["direction"])
        local, time_error = local_times(f["time"], "time", french)
        timestamp = to_utc(local, timezone)
        order_id, extra = cell_text(_optional(f, "order_id")), _extra(f, sheet.extras)
        texts = pending_texts.result()
    too_large = [(beyond_int64(volume, "volume"), "qty_out_of_bounds")]
    reason = _first_error(
        [too_large[0][0], texts.instrument_error, direction_error, time_error, volume_error,
         _whole(volume, "volume"), _contradiction(volume, sign), price_error, commission_error]
    )  # fmt: skip
    side = pl.when(pl.col("s") > 0).then(pl.lit("buy")).when(pl.col("s") < 0).then(pl.lit("sell"))
    trades = pl.DataFrame(
        {
            "trade_id": texts.trade_id,
            "account": texts.account,
            **{c: texts.names[c] for c in ("instrument", "symbol", "root", "exchange")},
            "timestamp": timestamp,
            "side": sign.to_frame("s").select(side).to_series(),
            "qty": (volume.abs().round(0) * sign).cast(pl.Int64, strict=False),
            "price": price,
            "commission": commission,
            "exchange_id": texts.exchange_id,
            "order_id": order_id,
            "extra": extra,
        }
    )
    trades = _set_aside(f, trades, reason, sheet.name, quarantine, _rules(too_large))
    return trades.select([pl.col(c).cast(t) for c, t in TRADES_RAW.content.items()])


@dataclass(frozen=True)
class _ExecutionTexts:
    names: pl.DataFrame  # instrument, symbol, root, exchange
    instrument_error: pl.Series | None
    account: pl.Series
    exchange_id: pl.Series
    trade_id: pl.Series


def _execution_texts(frame: pl.DataFrame) -> _ExecutionTexts:
    names, instrument_error = _symbols(frame["instrument"])
    account, exchange_id = cell_text(frame["account"]), cell_text(frame["exchange_id"])
    trade_id = trade_ids(account, exchange_id)
    return _ExecutionTexts(names, instrument_error, account, exchange_id, trade_id)


def _journal_sheet(
    data: bytes,
    sheet_name: str,
    file: str,
    timezone: str,
    instruments: InstrumentTable,
    quarantine: Quarantine,
    notes: list[str],
    ready: Callable[[pl.DataFrame, Quarantine], None] | None,
) -> pl.DataFrame | None:
    """The Journal sheet read (with a reader of its own) and converted (None when it is empty),
    handed to ``ready``, and its point values checked (:func:`point_value_notes`)."""
    sheet = read_sheet(open_workbook(data, file), sheet_name, JOURNAL, file, notes)
    if sheet is None:
        return None
    journal = _journal(sheet, timezone, quarantine)
    if ready is not None:
        ready(journal, quarantine)
    notes += point_value_notes(journal, instruments)
    return journal


def _journal(sheet: Sheet, timezone: str, quarantine: Quarantine) -> pl.DataFrame:
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
    too_large = [(beyond_int64(values[k], k), f"{k}_out_of_bounds") for k in _VOLUMES]
    reason = _first_error([error for error, _ in too_large] + errors)
    journal = _set_aside(f, journal, reason, sheet.name, quarantine, _rules(too_large))
    journal = journal.with_columns(journal_ids(journal))
    return journal.select([pl.col(c).cast(t) for c, t in ATAS_JOURNAL.content.items()])


def _set_aside(
    raw: pl.DataFrame,
    typed: pl.DataFrame,
    reason: pl.Series | None,
    sheet: str,
    quarantine: Quarantine,
    rules: pl.Series | None = None,
) -> pl.DataFrame:
    """Quarantine rows with a parse error (as the original text) and return the others, typed.

    ``rules`` names the rule per row where it is not ``unparseable`` (a volume beyond Int64)."""
    if reason is None:
        return typed
    bad = reason.is_not_null()
    quarantine.add(
        raw.filter(bad).with_columns(pl.lit(sheet).alias("sheet")),
        pl.lit(reason.filter(bad)),
        rule="unparseable" if rules is None else pl.lit(rules.filter(bad)),
    )
    return typed.filter(~bad)


def _first_error(errors: Sequence[pl.Series | None]) -> pl.Series | None:
    present = [e for e in errors if e is not None]
    return pl.select(pl.coalesce(present)).to_series() if present else None


def _rules(named: Sequence[tuple[pl.Series | None, str]]) -> pl.Series | None:
    """The rule of each row whose first error is one of ``named`` (listed first, in order, in
    the errors given to :func:`_first_error`), else ``unparseable``; None when none fired."""
    present = [(error, rule) for error, rule in named if error is not None]
    if not present:
        return None
    chosen = [pl.when(pl.lit(error).is_not_null()).then(pl.lit(rule)) for error, rule in present]
    return pl.select(pl.coalesce([*chosen, pl.lit("unparseable")])).to_series()


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
