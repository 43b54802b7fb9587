"""Realistic ATAS Trading Journal exports, generated deterministically from a seed.

``tradelake demo``, the tests and ``benchmarks/ingest_atas.py`` need workbooks shaped like the real
thing, so the generator lives in the package. It simulates fills (partial fills, adds, reductions,
position flips, positions still open at the end, holds across the 17:00 Chicago CME session open)
only while CME Globex trades (Sunday 17:00 to Friday 16:00 Chicago time, less the daily
16:00-17:00 halt; no holiday calendar),
derives the Journal sheet ATAS shows for them (one row per flat-to-flat trade; ``PnL`` is the gross
FIFO P&L in currency with the instrument table's point value; ``Close volume`` carries the closing
side's sign) and writes the workbook with xlsxwriter in ``constant_memory`` mode.

Times are Excel date cells in the exporting machine's local time with ±1e-9 day of float noise on
the serial, as in real exports. The export drops the UTC offset, so the truth for a fill in the
repeated hour of a DST fall-back is the *earliest* reading, which is the parser's documented rule.

``mess=True`` adds what real files have: a title row above the header, odd header spacing, text
numbers in the export's locale, missing markers, stray whitespace, duplicated rows, unknown
columns, a totals row and bad rows; ``ExportTruth.rejects`` lists each row to be quarantined.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from io import BytesIO
from itertools import pairwise
from pathlib import Path
from typing import IO, Literal
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import xlsxwriter

from tradelake.instruments import InstrumentTable, parse_symbol
from tradelake.sources.atas_cells import journal_ids, trade_ids
from tradelake.tables import ATAS_JOURNAL, TRADES_RAW

DEFAULT_ACCOUNTS = ("SIM-1042", "APEX-88731")
DEFAULT_INSTRUMENTS = ("MESZ5@CME_Ind", "NQZ5@CME", "CLF6@NYMEX", "#MNQU6@CME#atas-id=70211")
# A few thousand fills from here span the 2025 fall-back changes of Europe (26 Oct) and the US
# (2 Nov).
DEFAULT_START = datetime(2025, 10, 24, 13, 30, tzinfo=UTC)
_START_PRICE = {"MES": 6000.0, "ES": 6000.0, "NQ": 21000.0, "MNQ": 21000.0, "CL": 61.0}
_FEE = {"MES": 0.62, "MNQ": 0.62, "ES": 2.25, "NQ": 2.25, "CL": 2.5}
_EXCEL_EPOCH = datetime(1899, 12, 30)
# CME Globex hours (Chicago time): Sunday 17:00 to Friday 16:00, halted 16:00-17:00 each day.
_GLOBEX_TZ = ZoneInfo("America/Chicago")
_GLOBEX_OPEN, _GLOBEX_CLOSE = time(17, 0), time(16, 0)
_LAST_ORDER_MS = 5_000
_LAID_OUT = 0.2  # share of write_workbook's time spent before the cells are written
_PROGRESS_ROWS = 2_000  # no order starts this close to the halt: its partial fills stay inside
_REJECTS = {"table": pl.Utf8, "key": pl.Utf8, "reason": pl.Utf8}

Cell = str | int | float | datetime | None
Row = list[Cell]
Target = str | Path | IO[bytes]


@dataclass(frozen=True)
class Language:
    """The texts of one ATAS UI language as ATAS writes them (sheets, headers, words)."""

    sheets: tuple[str, str, str]  # Statistics, Journal, Executions
    executions: Mapping[str, str]
    journal: Mapping[str, str]
    buy: str
    sell: str
    decimal_comma: bool
    statistics: tuple[str, ...]
    extra: tuple[str, str]
    title: str


LANGUAGES: dict[str, Language] = {
    "en": Language(
        sheets=("Statistics", "Journal", "Executions"),
        executions=dict(account="Account", instrument="Instrument", direction="Direction",
                        volume="Volume", price="Price", time="Time", exchange_id="Exchange ID",
                        commission="Commission", order_id="Order ID"),
        journal=dict(account="Account", instrument="Instrument", open_ts="Open time",
                     open_price="Open price", open_volume="Open volume", close_ts="Close time",
                     close_price="Close price", close_volume="Close volume",
                     price_pnl="Price PnL", profit_ticks="Profit (ticks)", pnl="PnL",
                     comment="Comment"),
        buy="Buy", sell="Sell", decimal_comma=False,
        statistics=("Name", "Value", "Net PnL", "Trades", "Commission"),
        extra=("Strategy", "Broker"), title="ATAS Trading Journal",
    ),
    "fr": Language(
        sheets=("Statistiques", "Journal commercial", "Exécutions"),
        executions=dict(account="Compte", instrument="Outil", direction="Sens", volume="Volume",
                        price="Prix", time="Heure", exchange_id="ID d'échange",
                        commission="Commission", order_id="ID de l'ordre"),
        journal=dict(account="Compte", instrument="Outil", open_ts="Heure d'ouverture",
                     open_price="Prix d'ouverture", open_volume="Volume d'ouverture",
                     close_ts="Heure de clôture", close_price="Prix de clôture",
                     close_volume="Volume de clôture", price_pnl="PnL prix",
                     profit_ticks="Profit (ticks)", pnl="PnL", comment="Commentaire"),
        buy="Achat", sell="Vente", decimal_comma=True,
        statistics=("Nom", "Valeur", "PnL net", "Transactions", "Commission"),
        extra=("Stratégie", "Courtier"), title="Journal de trading ATAS",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class ExportTruth:
    """What a correct pipeline must produce from the written workbook.

    ``fills``/``journal`` have exactly the TRADES_RAW / ATAS_JOURNAL content columns (UTC times on
    the millisecond); ``rejects`` has ``table``, ``key`` (the exchange id, or the journal comment)
    and ``reason`` (a fragment of the quarantine reason the pipeline must give).
    """

    fills: pl.DataFrame
    journal: pl.DataFrame
    rejects: pl.DataFrame


def write_workbook(
    target: Target,
    *,
    fills: int,
    seed: int,
    language: Literal["en", "fr"] = "en",
    timezone: str = "UTC",
    accounts: Sequence[str] = DEFAULT_ACCOUNTS,
    instruments: Sequence[str] = DEFAULT_INSTRUMENTS,
    start: datetime = DEFAULT_START,
    mess: bool = False,
    correction: Literal["price", "commission"] | None = None,
    sheets: Collection[str] = ("statistics", "journal", "executions"),
    drop_columns: Collection[str] = (),
    table: InstrumentTable | None = None,
    progress: Callable[[float], None] | None = None,
) -> ExportTruth:
    """Simulate ``fills`` fills, write them as an ATAS export to ``target``, return the truth.

    ``correction`` changes the middle fill (+1 tick, or +0.5 commission): a corrected re-export
    of the same seed. ``drop_columns`` hides canonical columns (e.g. ``"exchange_id"``).
    ``progress`` hears the fraction done now and then: writing the cells is most of the time
    (about 80 %), so the rows laid out count as 0.2 and the cells written as the rest.
    """
    table = table or InstrumentTable()
    truth = simulate_fills(
        fills, seed=seed, accounts=accounts, instruments=instruments, start=start
    )
    truth = _relocalize(_correct(truth, correction, table), timezone)
    journal = journal_from_fills(truth, table)
    book = _Book(LANGUAGES[language], timezone, table, drop_columns, seed if mess else None)
    rows: dict[str, Sequence[Row]] = {}
    names = dict(zip(("statistics", "journal", "executions"), book.lang.sheets, strict=True))
    if "statistics" in sheets:
        rows[names["statistics"]] = book.statistics_rows(journal, truth)
    if "journal" in sheets:
        rows[names["journal"]], journal = book.journal_rows(journal)
    if "executions" in sheets:
        rows[names["executions"]], truth = book.execution_rows(truth)
    if progress:
        progress(_LAID_OUT)
    written = (lambda done: progress(_LAID_OUT + (1 - _LAID_OUT) * done)) if progress else None
    write_sheets(target, rows, noise_seed=seed, progress=written)
    return ExportTruth(truth, journal, pl.DataFrame(book.rejects, _REJECTS, orient="row"))


def make_workbook(**options: object) -> tuple[bytes, ExportTruth]:
    """:func:`write_workbook` into memory: the bytes as ATAS would deliver them, and the truth."""
    buffer = BytesIO()
    truth = write_workbook(buffer, **options)  # type: ignore[arg-type]
    return buffer.getvalue(), truth


def write_sheets(
    target: Target,
    sheets: Mapping[str, Sequence[Sequence[Cell]]],
    *,
    noise_seed: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Write rows as given; a ``datetime`` becomes an Excel date cell (serial days, local time).

    With ``noise_seed`` each date serial gets up to ±1e-9 day (86 µs) of noise, as in ATAS's
    exports; without it the serial is exact. ``progress`` hears the fraction of rows written
    every :data:`_PROGRESS_ROWS` rows.
    """
    total_rows, done = max(sum(map(len, sheets.values())), 1), 0
    rng = np.random.default_rng(noise_seed)
    book = xlsxwriter.Workbook(target, {"constant_memory": True})
    date_format = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss.000"})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        noise = iter(rng.uniform(-1e-9, 1e-9, sum(map(len, rows))).tolist())
        for r, row in enumerate(rows):
            done += 1
            if progress and done % _PROGRESS_ROWS == 0:
                progress(done / total_rows)
            for c, value in enumerate(row):
                if isinstance(value, datetime):
                    serial = (value - _EXCEL_EPOCH) / timedelta(days=1)
                    jitter = next(noise) if noise_seed is not None else 0.0
                    sheet.write_number(r, c, serial + jitter, date_format)
                elif isinstance(value, str):
                    sheet.write_string(r, c, value)
                elif value is not None:
                    sheet.write_number(r, c, value)
    book.close()


def simulate_fills(
    fills: int,
    *,
    seed: int,
    accounts: Sequence[str] = DEFAULT_ACCOUNTS,
    instruments: Sequence[str] = DEFAULT_INSTRUMENTS,
    start: datetime = DEFAULT_START,
) -> pl.DataFrame:
    """Fills as a TRADES_RAW-shaped frame (UTC), in time order, deterministic in ``seed``."""
    rng = random.Random(seed)
    streams = [_Stream.create(a, i, rng) for a in accounts for i in instruments]
    rows: list[tuple[str, str, int, int, float, float, str, str]] = []
    clock = int(start.timestamp() * 1000)
    exchange_id = 6_100_000_000 + rng.randrange(10**8)
    order_id = 410_000_000 + rng.randrange(10**6)
    while len(rows) < fills:
        stream = rng.choice(streams)
        clock = globex_open_at(clock + _gap_ms(rng))
        qty = _order_qty(rng, stream.position)
        side = 1 if qty > 0 else -1
        stream.ticks = max(40, stream.ticks + rng.randint(-6, 6))
        order_id += 1
        for part in _split(rng, abs(qty))[: fills - len(rows)]:
            slip = side if rng.random() < 0.3 else 0  # a buyer pays up a tick now and then
            price = round((stream.ticks + slip) * stream.tick, 9)
            fee = round(stream.fee * part, 2)
            rows.append((stream.account, stream.instrument, clock, side * part, price, fee,
                         str(exchange_id), str(order_id)))  # fmt: skip
            stream.position += side * part
            clock += rng.randint(0, 250)
            exchange_id += rng.randint(1, 9)
    return _fills_frame(rows)


def journal_from_fills(fills: pl.DataFrame, table: InstrumentTable) -> pl.DataFrame:
    """The Journal sheet of these fills: flat-to-flat trades (a flip closes one, opens the next)."""
    done: list[dict[str, object]] = []
    trades: dict[tuple[str, str], _Trade] = {}
    columns = ("account", "instrument", "timestamp", "qty", "price")
    for account, instrument, ts, qty, price in fills.select(columns).iter_rows():
        trade = trades.get((account, instrument))
        if trade is None or (qty > 0) == (trade.sign > 0):
            trade = trade or _Trade(account, instrument, ts, 1 if qty > 0 else -1)
            trades[(account, instrument)] = trade
            trade.enter(abs(qty), price)
            continue
        closing = min(abs(qty), trade.entry_qty - trade.exit_qty)
        trade.leave(closing, price, ts)
        if trade.exit_qty == trade.entry_qty:
            done.append(trade.row(table))
            del trades[(account, instrument)]
        if abs(qty) > closing:
            flipped = _Trade(account, instrument, ts, 1 if qty > 0 else -1)
            flipped.enter(abs(qty) - closing, price)
            trades[(account, instrument)] = flipped
    done.extend(trade.row(table) for trade in trades.values())
    schema = {k: v for k, v in ATAS_JOURNAL.content.items() if k != "journal_id"}
    frame = pl.DataFrame(done, schema=schema)
    frame = frame.with_columns(journal_ids(frame)).select(list(ATAS_JOURNAL.content))
    return frame.sort("open_ts", "account", "instrument", maintain_order=True)


def truncated(data: bytes) -> bytes:
    """The first half of a workbook, as an interrupted download or copy leaves it."""
    return data[: len(data) // 2]


def csv_renamed(language: Literal["en", "fr"] = "en") -> bytes:
    """An executions table saved as CSV text, which a user then renamed to ``.xlsx``."""
    lang = LANGUAGES[language]
    row = ("SIM-1042", "MESZ5@CME_Ind", lang.buy, "1", "6012.25", "2025-11-25 14:03:05",
           "6100000001", "0.62", "410000001")  # fmt: skip
    return f"{';'.join(lang.executions.values())}\r\n{';'.join(row)}\r\n".encode()


def workbook_without_atas_sheets() -> bytes:
    """A valid workbook that is not an ATAS export (a default ``Sheet1`` with some numbers)."""
    buffer = BytesIO()
    write_sheets(buffer, {"Sheet1": [["Date", "Amount"], [datetime(2025, 11, 25), 12.5]]})
    return buffer.getvalue()


@dataclass
class _Stream:
    """One (account, instrument) pair: its position and a random-walk price on the tick grid."""

    account: str
    instrument: str
    tick: float
    fee: float
    ticks: int
    position: int = 0

    @classmethod
    def create(cls, account: str, instrument: str, rng: random.Random) -> _Stream:
        root = parse_symbol(instrument).root
        spec = InstrumentTable().get(root)
        tick = spec.tick_size if spec else 0.01
        ticks = int(_START_PRICE.get(root, 100.0) / tick) + rng.randint(-50, 50)
        return cls(account, instrument, tick, _FEE.get(root, 1.0), ticks)


@dataclass
class _Trade:
    """A flat-to-flat trade being built from fills: one row of ATAS's Journal sheet."""

    account: str
    instrument: str
    open_ts: datetime
    sign: int
    entry_qty: int = 0
    entry_value: float = 0.0
    exit_qty: int = 0
    exit_value: float = 0.0
    close_ts: datetime | None = None

    def enter(self, qty: int, price: float) -> None:
        self.entry_qty += qty
        self.entry_value += qty * price

    def leave(self, qty: int, price: float, ts: datetime) -> None:
        self.exit_qty += qty
        self.exit_value += qty * price
        self.close_ts = ts

    def row(self, table: InstrumentTable) -> dict[str, object]:
        part = parse_symbol(self.instrument)
        spec = table.get(part.root)
        tick, point_value = (spec.tick_size, spec.point_value) if spec else (0.01, 1.0)
        open_price = round(self.entry_value / self.entry_qty, 6)
        row: dict[str, object] = {
            "account": self.account, "instrument": self.instrument, "symbol": part.symbol,
            "root": part.root, "exchange": part.exchange, "open_ts": self.open_ts,
            "open_price": open_price, "open_volume": self.sign * self.entry_qty,
        }  # fmt: skip
        if self.exit_qty == self.entry_qty:  # flat again: closed, P&L = exits - entries
            close_price = round(self.exit_value / self.exit_qty, 6)
            price_pnl = round(self.sign * (close_price - open_price), 6)
            row |= {
                "close_ts": self.close_ts, "close_price": close_price,
                "close_volume": -self.sign * self.exit_qty, "price_pnl": price_pnl,
                "profit_ticks": round(price_pnl / tick, 2),
                "pnl": round(self.sign * (self.exit_value - self.entry_value) * point_value, 2),
            }  # fmt: skip
        return row


def globex_open_at(ms: int) -> int:
    """``ms`` (UTC epoch milliseconds) if CME Globex trades then and for the next few seconds,
    else the next session open (17:00 Chicago, DST-aware): no fill on a Saturday, a Sunday
    before the open, or in the daily 16:00-17:00 halt."""
    local = datetime.fromtimestamp((ms + _LAST_ORDER_MS) / 1000, _GLOBEX_TZ)
    weekday, clock = local.weekday(), local.time()  # Monday 0 ... Sunday 6
    if (
        weekday == 5
        or (weekday == 6 and clock < _GLOBEX_OPEN)
        or (weekday == 4 and clock >= _GLOBEX_CLOSE)
    ):
        opens = local.date() + timedelta(days=6 - weekday)  # this weekend's Sunday
    elif weekday < 4 and _GLOBEX_CLOSE <= clock < _GLOBEX_OPEN:
        opens = local.date()
    else:
        return ms
    return int(datetime.combine(opens, _GLOBEX_OPEN, _GLOBEX_TZ).timestamp() * 1000)


def _gap_ms(rng: random.Random) -> int:
    # About one order in a hundred waits hours: positions held over the 17:00 CT session open.
    if rng.random() < 0.01:
        return rng.randint(3_600_000, 5 * 3_600_000)
    return int(rng.expovariate(1 / 20_000))


def _order_qty(rng: random.Random, position: int) -> int:
    """The next order's signed size: open, add, reduce, close or flip (reverse) the position."""
    if position == 0:
        return rng.choice((1, -1)) * rng.randint(1, 4)
    side, roll = (1 if position > 0 else -1), rng.random()
    if roll < 0.25:
        return side * rng.randint(1, 3)
    if roll < 0.5:
        return -side * rng.randint(1, max(1, abs(position) - 1))
    if roll < 0.85:
        return -position
    return -(position + side * rng.randint(1, 3))


def _split(rng: random.Random, qty: int) -> list[int]:
    """Partial fills: an order of ``qty`` contracts filled in one to three pieces."""
    if qty == 1 or rng.random() < 0.6:
        return [qty]
    cuts = sorted(rng.sample(range(1, qty), min(2, qty - 1)))
    return [b - a for a, b in pairwise([0, *cuts, qty])]


def _fills_frame(rows: list[tuple[str, str, int, int, float, float, str, str]]) -> pl.DataFrame:
    names = ("account", "instrument", "ms", "qty", "price", "commission", "exchange_id", "order_id")
    schema = dict(zip(names, (pl.Utf8, pl.Utf8, pl.Int64, pl.Int64, pl.Float64, pl.Float64,
                              pl.Utf8, pl.Utf8), strict=True))  # fmt: skip
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    parts = {name: parse_symbol(name) for name in frame["instrument"].unique().to_list()}
    symbols = pl.DataFrame(
        [(n, p.symbol, p.root, p.exchange) for n, p in parts.items()],
        schema=dict.fromkeys(("instrument", "symbol", "root", "exchange"), pl.Utf8),
        orient="row",
    )
    frame = frame.join(symbols, on="instrument", how="left", maintain_order="left")
    frame = frame.with_columns(
        pl.from_epoch("ms", "ms").dt.replace_time_zone("UTC").alias("timestamp"),
        pl.when(pl.col("qty") > 0).then(pl.lit("buy")).otherwise(pl.lit("sell")).alias("side"),
        pl.lit(None, pl.Utf8).alias("extra"),
        trade_ids(frame["account"], frame["exchange_id"]),
    )
    return frame.select([pl.col(c).cast(t) for c, t in TRADES_RAW.content.items()])


def _relocalize(fills: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """The instant each local wall-clock time denotes under the parser's earliest-reading rule."""
    local = pl.col("timestamp").dt.convert_time_zone(timezone).dt.replace_time_zone(None)
    utc = local.dt.replace_time_zone(timezone, ambiguous="earliest").dt.convert_time_zone("UTC")
    return fills.with_columns(utc.alias("timestamp"))


def _correct(fills: pl.DataFrame, correction: str | None, table: InstrumentTable) -> pl.DataFrame:
    """A corrected re-export: the middle fill's price moves one tick, or its commission +0.5."""
    if correction is None or fills.height == 0:
        return fills
    middle, column = fills.height // 2, "price" if correction == "price" else "commission"
    spec = table.get(str(fills["root"][middle]))
    step = (spec.tick_size if spec else 0.01) if column == "price" else 0.5
    values = fills[column].to_list()
    values[middle] = round(values[middle] + step, 9)
    return fills.with_columns(pl.Series(column, values, pl.Float64))


def _decimals(step: float) -> int:
    return max(2, len(f"{step:.10f}".rstrip("0").split(".")[1]))


def _json(values: Mapping[str, str | None]) -> str:
    """The parser's ``extra`` encoding: compact JSON, header text as key, cell text as value."""
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


class _Book:
    """Lays out the sheets in one language; with a ``seed`` it also makes them messy."""

    def __init__(
        self,
        lang: Language,
        timezone: str,
        table: InstrumentTable,
        drop: Collection[str],
        seed: int | None,
    ) -> None:
        self.lang, self.timezone, self.table, self.drop = lang, timezone, table, drop
        self.rng = random.Random(seed * 7919 + 13) if seed is not None else None
        self.rejects: list[tuple[str, str, str]] = []

    def statistics_rows(self, journal: pl.DataFrame, fills: pl.DataFrame) -> list[Row]:
        name, value, net, trades, commission = self.lang.statistics
        closed = journal.filter(pl.col("close_ts").is_not_null())
        return [
            [name, value],
            [net, round(float(closed["pnl"].sum()), 2)],
            [trades, closed.height],
            [commission, round(float(fills["commission"].sum()), 2)],
        ]

    def execution_rows(self, fills: pl.DataFrame) -> tuple[list[Row], pl.DataFrame]:
        keys = [k for k in self.lang.executions if k not in self.drop]
        order_ids: list[str | None] = fills["order_id"].to_list()
        extras: list[str | None] = [None] * fills.height
        rows: list[Row] = []
        for i, fill in enumerate(
            fills.with_columns(self._local("timestamp")).iter_rows(named=True)
        ):
            cells: dict[str, Cell] = {
                "account": fill["account"], "instrument": fill["instrument"],
                "direction": self.lang.buy if fill["qty"] > 0 else self.lang.sell,
                "volume": abs(fill["qty"]), "price": fill["price"], "time": fill["local"],
                "exchange_id": fill["exchange_id"], "commission": fill["commission"],
                "order_id": fill["order_id"],
            }  # fmt: skip
            if self.rng is None:
                rows.append([cells[k] for k in keys])
                continue
            order_ids[i] = self._mess_fill(cells, fill["root"])
            values: Row = [self.rng.choice(("scalp", "swing", "news")), "Rithmic"]
            extras[i] = _json(dict(zip(self.lang.extra, map(str, values), strict=True)))
            rows.append([cells[k] for k in keys] + values)
            if self.rng.random() < 0.01:
                rows.append(list(rows[-1]))
                self.rejects.append(("trades_raw", fill["exchange_id"], "exact duplicate"))
        truth = fills.with_columns(
            pl.Series("order_id", order_ids, pl.Utf8), pl.Series("extra", extras, pl.Utf8)
        )
        header: Row = [self.lang.executions[k] for k in keys]
        if self.rng is None:
            return [header, *rows], truth
        self._insert_bad_fills(rows, keys, fills)
        totals: dict[str, Cell] = {
            "account": "Total",
            "volume": int(fills["qty"].abs().sum()),
            "commission": round(float(fills["commission"].sum()), 2),
        }
        return self._framed(
            header, list(self.lang.extra), rows, [totals.get(k) for k in keys]
        ), truth

    def journal_rows(self, journal: pl.DataFrame) -> tuple[list[Row], pl.DataFrame]:
        keys = [k for k in self.lang.journal if k not in self.drop]
        local = journal.with_columns(self._local("open_ts"), self._local("close_ts"))
        local = local.drop("open_ts", "close_ts").rename(
            {"local_open_ts": "open_ts", "local_close_ts": "close_ts"}
        )
        extras: list[str | None] = [None] * journal.height
        rows: list[Row] = []
        for i, trade in enumerate(local.iter_rows(named=True)):
            cells: dict[str, Cell] = dict(trade)
            if self.rng is None:
                rows.append([cells[k] for k in keys])
                continue
            setup = self.rng.choice(("A", "B", "C"))
            extras[i] = _json({self.lang.extra[0]: setup})
            self._mess_trade(cells)
            rows.append([*(cells[k] for k in keys), setup])
        truth = journal.with_columns(pl.Series("extra", extras, pl.Utf8))
        header: Row = [self.lang.journal[k] for k in keys]
        if self.rng is None:
            return [header, *rows], truth
        self._insert_bad_trades(rows, keys, local)
        totals: dict[str, Cell] = {"account": "Total", "pnl": round(float(journal["pnl"].sum()), 2)}
        return self._framed(
            header, [self.lang.extra[0]], rows, [totals.get(k) for k in keys]
        ), truth

    def _local(self, column: str) -> pl.Expr:
        local = pl.col(column).dt.convert_time_zone(self.timezone).dt.replace_time_zone(None)
        return local.alias("local" if column == "timestamp" else f"local_{column}")

    def _framed(self, header: Row, extras: Row, rows: list[Row], totals: Row) -> list[Row]:
        """A title row and a blank row above the header; a blank row and a totals row below."""
        assert self.rng is not None
        variants = (
            lambda h: h, lambda h: f" {h}\u00a0", str.upper, lambda h: f"\ufeff{h}",
            lambda h: h.replace(" ", "\u202f"), lambda h: f"{h[:2]}\u200b{h[2:]}",
        )  # fmt: skip
        messy = [self.rng.choice(variants)(str(h)) for h in header]
        return [[f"{self.lang.title} 2025"], [], [*messy, *extras], *rows, [], totals]

    def _mess_fill(self, cells: dict[str, Cell], root: str) -> str | None:
        """Make one executions row messy in place; return the order id the parser must read."""
        rng = self.rng
        assert rng is not None
        spec = self.table.get(root)
        decimals = _decimals(spec.tick_size if spec else 0.01)
        changes: tuple[tuple[str, Callable[[str], Cell], float], ...] = (
            ("account", lambda v: f"  {v} ", 0.05),
            ("instrument", lambda v: f"{v}  ", 0.05),
            ("price", lambda v: self._text_number(float(v), decimals), 0.04),
            ("commission", lambda v: self._text_number(float(v), 2), 0.04),
            ("direction", str.upper, 0.03),
            ("volume", str, 0.02),
            ("exchange_id", int, 0.05),  # an id typed in as a number cell
        )
        for key, change, chance in changes:
            if rng.random() < chance:
                cells[key] = change(str(cells[key]))
        cells["time"] = self._mess_time(cells["time"])
        if rng.random() < 0.05:
            cells["order_id"] = rng.choice(("-", "N/A", "n/a", " "))
            return None
        return None if cells["order_id"] is None else str(cells["order_id"])

    def _mess_trade(self, cells: dict[str, Cell]) -> None:
        rng = self.rng
        assert rng is not None
        if cells["close_ts"] is None and rng.random() < 0.5:
            for key in (
                "close_ts",
                "close_price",
                "close_volume",
                "price_pnl",
                "profit_ticks",
                "pnl",
            ):
                cells[key] = rng.choice(("-", "N/A", "n/a"))
        for key, decimals in (("open_price", 6), ("pnl", 2)):
            value = cells[key]
            if isinstance(value, float) and rng.random() < 0.05:
                cells[key] = self._text_number(value, decimals)
        cells["open_ts"] = self._mess_time(cells["open_ts"])

    def _mess_time(self, value: Cell) -> Cell:
        """A date cell as text, or as a bare serial number (a cell that lost its date format)."""
        assert self.rng is not None
        roll = self.rng.random()
        if not isinstance(value, datetime) or roll >= 0.04:
            return value
        if roll >= 0.02:
            return (value - _EXCEL_EPOCH) / timedelta(days=1)
        ms = f"{value.microsecond // 1000:03d}"
        if self.lang.decimal_comma:
            return f"{value:%d/%m/%Y %H:%M:%S},{ms}"
        return f"{value.month}/{value.day}/{value.year} {value:%I:%M:%S}.{ms} {value:%p}".replace(
            " 0", " ", 1
        )

    def _text_number(self, value: float, decimals: int) -> str:
        text = f"{value:,.{decimals}f}"
        return text.replace(",", "\u202f").replace(".", ",") if self.lang.decimal_comma else text

    def _insert_bad_fills(self, rows: list[Row], keys: list[str], fills: pl.DataFrame) -> None:
        """Rows the parser or the validator must quarantine, each with its own exchange id."""
        assert self.rng is not None
        if fills.height == 0 or "exchange_id" not in keys:
            return
        first = fills.row(0, named=True)
        spec = self.table.get(first["root"])
        off_tick = round(first["price"] + (spec.tick_size if spec else 0.01) / 3, 6)
        bad: list[tuple[str, Cell, str]] = [
            ("price", -first["price"], "price must be > 0"),
            ("volume", 0, "qty must not be 0"),
            ("price", off_tick, "tick grid"),
            ("price", "abc", "price 'abc' is not a number"),
            ("direction", "Hold", "direction 'Hold'"),
            ("time", "yesterday", "time 'yesterday'"),
            ("instrument", "ZZZZ5@CME", "unknown instrument root ZZZ"),
            ("instrument", "???", "instrument '???'"),
            ("commission", "1,2,x", "commission '1,2,x'"),
        ]
        for n, (key, value, reason) in enumerate(bad):
            if key in keys:
                row = list(rows[0])
                row[keys.index(key)], row[keys.index("exchange_id")] = value, f"BAD-{n}"
                rows.insert(self.rng.randrange(len(rows) + 1), row)
                self.rejects.append(("trades_raw", f"BAD-{n}", reason))

    def _insert_bad_trades(self, rows: list[Row], keys: list[str], local: pl.DataFrame) -> None:
        """Two journal rows the validator must reject, marked by their comment."""
        assert self.rng is not None
        closed = local.filter(pl.col("close_ts").is_not_null())
        if closed.height == 0 or not {"open_ts", "open_price", "close_ts", "comment"} <= set(keys):
            return
        base = closed.row(0, named=True)
        cases = (
            ({"open_price": 0.0}, "open_price must be > 0"),
            ({"close_ts": base["open_ts"] - timedelta(days=365)}, "before open_ts"),
        )
        for n, (change, reason) in enumerate(cases, start=1):
            cells = base | change | {"comment": f"bad-row-{n}"}
            cells["open_ts"] = base["open_ts"] + timedelta(seconds=n)  # a journal_id of its own
            rows.insert(self.rng.randrange(len(rows) + 1), [*(cells[k] for k in keys), "A"])
            self.rejects.append(("atas_journal", f"bad-row-{n}", reason))
