"""The ATAS Trading Journal parser: languages, mess, times and DST, broken files, ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import BytesIO

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from fixtures import atas as fx
from tradelake.errors import SourceFormatError
from tradelake.instruments import InstrumentTable
from tradelake.sources import atas_samples
from tradelake.sources.atas import parse_workbook
from tradelake.sources.atas_cells import (
    journal_ids,
    parse_numbers,
    stable_ids,
    to_utc,
    trade_ids,
)
from tradelake.sources.atas_samples import Cell
from tradelake.tables import ATAS_JOURNAL, TRADES_RAW


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# --------------------------------------------------------------------------- whole exports


@pytest.mark.parametrize(
    ("language", "timezone"), [("en", "Europe/Paris"), ("fr", "America/Chicago")]
)
def test_a_clean_export_parses_to_exactly_its_fills_and_journal(
    language: str, timezone: str
) -> None:
    data, truth = fx.export(language=language, timezone=timezone)
    parsed = fx.parse(data, timezone)
    assert_frame_equal(parsed.trades, truth.fills)
    assert_frame_equal(parsed.journal, truth.journal)
    assert dict(parsed.trades.schema) == dict(TRADES_RAW.content)
    assert dict(parsed.journal.schema) == dict(ATAS_JOURNAL.content)
    assert parsed.notes == []
    assert all(q.count == 0 for q in parsed.quarantine.values())


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_messy_export_keeps_every_good_row_and_quarantines_exactly_the_planted_ones(
    language: str,
) -> None:
    data, truth = fx.export(
        fills=1500, seed=11, language=language, timezone="America/New_York", mess=True
    )
    parsed, trades, journal = fx.parse_valid(data, "America/New_York")
    assert_frame_equal(trades, truth.fills)
    assert_frame_equal(journal, truth.journal)
    got = sorted(
        [("trades_raw", k, r) for k, r in fx.quarantined(parsed, "trades_raw", "exchange_id")]
        + [("atas_journal", k, r) for k, r in fx.quarantined(parsed, "atas_journal", "comment")]
    )
    expected = sorted(truth.rejects.iter_rows())
    assert [(t, k) for t, k, _ in got] == [(t, k) for t, k, _ in expected]
    for (_, key, reason), (_, _, fragment) in zip(got, expected, strict=True):
        assert fragment in reason, (key, reason)
    extra = "Stratégie, Courtier" if language == "fr" else "Strategy, Broker"
    assert any(f"kept unknown column(s) {extra} in 'extra'" in n for n in parsed.notes)
    assert sum("totals row" in n for n in parsed.notes) == 2


def test_open_positions_flips_and_partial_fills_come_through() -> None:
    data, _ = fx.export(fills=1500, seed=11, timezone="America/New_York", mess=True)
    _, trades, journal = fx.parse_valid(data, "America/New_York")
    open_rows = journal.filter(pl.col("close_ts").is_null())
    assert open_rows.height > 0
    assert open_rows.select(pl.col("close_price", "close_volume", "pnl").null_count().sum()).row(
        0
    ) == (
        open_rows.height,
        open_rows.height,
        open_rows.height,
    )
    position = trades.with_columns(
        pl.col("qty").cum_sum().over("account", "instrument").alias("pos")
    )
    before = position["pos"] - position["qty"]
    assert ((before * position["pos"]) < 0).sum() > 0, "no fill flips a position"
    assert trades["order_id"].drop_nulls().is_duplicated().any(), "no order has partial fills"
    closed = journal.filter(pl.col("close_ts").is_not_null())
    assert (closed["open_volume"].sign() == -closed["close_volume"].sign()).all()


def test_a_workbook_with_only_executions_gives_an_empty_journal_and_vice_versa() -> None:
    fills_only, truth = fx.export(sheets=("executions",))
    parsed = fx.parse(fills_only)
    assert_frame_equal(parsed.trades, truth.fills)
    assert parsed.journal.height == 0 and dict(parsed.journal.schema) == dict(ATAS_JOURNAL.content)
    journal_only, truth = fx.export(sheets=("journal",))
    parsed = fx.parse(journal_only)
    assert_frame_equal(parsed.journal, truth.journal)
    assert parsed.trades.height == 0 and dict(parsed.trades.schema) == dict(TRADES_RAW.content)


def test_a_corrected_re_export_keeps_ids_and_changes_one_value() -> None:
    first, _ = fx.export(fills=200, seed=5)
    corrected, _ = fx.export(fills=200, seed=5, correction="commission")
    a, b = fx.parse(first).trades, fx.parse(corrected).trades
    assert a["trade_id"].to_list() == b["trade_id"].to_list()
    changed = a.join(b, on="trade_id").filter(pl.col("commission") != pl.col("commission_right"))
    assert changed.height == 1
    assert changed["commission_right"][0] == pytest.approx(changed["commission"][0] + 0.5)


def test_the_generator_is_deterministic_in_its_seed() -> None:
    one = atas_samples.simulate_fills(300, seed=9)
    assert_frame_equal(one, atas_samples.simulate_fills(300, seed=9))
    assert not one.equals(atas_samples.simulate_fills(300, seed=10))


def test_generated_trades_cross_the_cme_session_open() -> None:
    _, truth = fx.export(fills=1500, seed=11, timezone="America/New_York", mess=True)
    chicago = truth.journal.filter(pl.col("close_ts").is_not_null()).with_columns(
        (pl.col(c).dt.convert_time_zone("America/Chicago") - pl.duration(hours=17))
        .dt.date()
        .alias(c)
        for c in ("open_ts", "close_ts")
    )
    assert (chicago["open_ts"] != chicago["close_ts"]).sum() > 0


# ----------------------------------------------------------------------- headers and cells


def test_headers_match_in_any_case_with_odd_spaces_and_french_synonyms() -> None:
    header = ["\ufeffCOMPTE", "Outil\u00a0", " sens ", "Volume", "Prix", "Heure",
              "ID de l\u2019\u00e9change", "Frais", "ID\u200b de l'ordre"]  # fmt: skip
    data = fx.executions(fx.fill(direction="Vente", price="6\u202f012,25"), header=header)
    parsed = fx.parse(data)
    row = parsed.trades.row(0, named=True)
    assert (row["qty"], row["side"], row["price"], row["commission"]) == (-2, "sell", 6012.25, 1.24)
    assert (row["order_id"], row["exchange_id"]) == ("410000001", "6100000001")


def test_a_title_row_above_the_header_and_totals_below_are_handled() -> None:
    totals: list[Cell] = ["Total", None, None, 4, None, None, None, 2.48]
    rows: list[list[Cell]] = [["ATAS export"], [], fx.EXECUTIONS_EN, fx.fill()]
    rows += [fx.fill(exchange_id="7"), [], totals]
    parsed = fx.parse(fx.workbook({"Executions": rows}))
    assert parsed.trades["exchange_id"].to_list() == ["6100000001", "7"]
    assert parsed.notes == ["export.xlsx sheet Executions: skipped 1 totals row(s) (row 7)"]


def test_unknown_columns_are_kept_as_json_in_extra() -> None:
    data = fx.executions(
        [*fx.fill(), "scalp", 3], header=[*fx.EXECUTIONS_EN, "Strategy", "Tag\u00a0id"]
    )
    parsed = fx.parse(data)
    assert parsed.trades["extra"].to_list() == ['{"Strategy":"scalp","Tag id":"3"}']
    assert parsed.notes == [
        "export.xlsx sheet Executions: kept unknown column(s) Strategy, Tag id in 'extra'"
    ]


def test_optional_columns_commission_and_order_id_may_be_absent() -> None:
    header = fx.EXECUTIONS_EN[:7]
    parsed = fx.parse(fx.executions(fx.fill()[:7], header=header))
    assert parsed.trades.select("commission", "order_id").row(0) == (0.0, None)


def test_rows_that_cannot_be_parsed_are_quarantined_with_their_text_and_excel_row() -> None:
    data = fx.executions(
        fx.fill(exchange_id="1"),
        fx.fill(exchange_id="2", price="12,3,4"),
        fx.fill(exchange_id="3", time="someday"),
        fx.fill(exchange_id="4", direction="Hold"),
        fx.fill(exchange_id="5", instrument="???"),
        fx.fill(exchange_id="6", volume=1.5),
        fx.fill(exchange_id="7", direction="-"),
        fx.fill(exchange_id="8", commission="free"),
    )
    parsed = fx.parse(data)
    assert parsed.trades["exchange_id"].to_list() == ["1"]
    frame = parsed.quarantine["trades_raw"].frame()
    assert frame.select("exchange_id", "row_number", "sheet", "reason").rows() == [
        ("2", "3", "Executions", "price '12,3,4' is not a number"),
        ("3", "4", "Executions", "time 'someday' is not a date/time"),
        ("4", "5", "Executions", "direction 'Hold' is not Buy or Sell"),
        ("5", "6", "Executions", "instrument '???' is not an ATAS instrument name"),
        ("6", "7", "Executions", "volume 1.5 is not a whole number of contracts"),
        ("7", "8", "Executions", "direction is missing"),
        ("8", "9", "Executions", "commission 'free' is not a number"),
    ]
    assert frame["price"][0] == "12,3,4"


def test_missing_markers_become_nulls_for_the_validator() -> None:
    data = fx.executions(
        fx.fill(order_id="N/A"), fx.fill(exchange_id="2", price="-", order_id="n/a")
    )
    parsed, trades, _ = fx.parse_valid(data)
    assert trades.select("exchange_id", "order_id").rows() == [("6100000001", None)]
    assert fx.quarantined(parsed, "trades_raw", "exchange_id") == [("2", "price is missing")]


@pytest.mark.parametrize(
    ("cell", "language", "expected"),
    [
        (datetime(2025, 11, 25, 14, 3, 5, 123000), "en", utc(2025, 11, 25, 14, 3, 5, 123000)),
        ("25/11/2025 14:03:05,123", "fr", utc(2025, 11, 25, 14, 3, 5, 123000)),
        ("05/11/2025 14:03:05", "fr", utc(2025, 11, 5, 14, 3, 5)),
        ("11/25/2025 2:03:05.123 PM", "en", utc(2025, 11, 25, 14, 3, 5, 123000)),
        ("11/05/2025 2:03:05 AM", "en", utc(2025, 11, 5, 2, 3, 5)),
        ("2025-11-25 14:03:05.123456", "en", utc(2025, 11, 25, 14, 3, 5, 123000)),
        (45986.5, "en", utc(2025, 11, 25, 12)),
    ],
)
def test_times_arrive_as_date_cells_serials_or_text_in_the_exports_language(
    cell: Cell, language: str, expected: datetime
) -> None:
    header = fx.EXECUTIONS_FR if language == "fr" else fx.EXECUTIONS_EN
    direction = "Achat" if language == "fr" else "Buy"
    data = fx.executions(
        fx.fill(time=cell, direction=direction), fx.fill(exchange_id="2"), header=header
    )
    assert fx.parse(data).trades["timestamp"][0] == expected


def test_float_noise_on_excel_serials_rounds_back_to_the_millisecond() -> None:
    times = [datetime(2025, 11, 25, 14, 3, 5, ms * 1000) for ms in (0, 1, 123, 499, 500, 999)]
    rows = [fx.fill(time=t, exchange_id=str(i)) for i, t in enumerate(times)]
    data = fx.workbook({"Executions": [fx.EXECUTIONS_EN, *rows]}, noise_seed=1)
    got = fx.parse(data).trades["timestamp"].to_list()
    assert got == [t.replace(tzinfo=UTC) for t in times]


@pytest.mark.parametrize(
    ("timezone", "local", "expected"),
    [
        # Europe: last Sunday of March, clocks 02:00 -> 03:00 (02:30 does not exist).
        (
            "Europe/Paris",
            datetime(2025, 3, 30, 1, 59, 59, 999000),
            utc(2025, 3, 30, 0, 59, 59, 999000),
        ),
        ("Europe/Paris", datetime(2025, 3, 30, 2, 30), utc(2025, 3, 30, 1, 30)),
        ("Europe/Paris", datetime(2025, 3, 30, 3, 0), utc(2025, 3, 30, 1, 0)),
        # Europe: last Sunday of October, 03:00 -> 02:00 (02:30 happens twice: earliest).
        ("Europe/Paris", datetime(2025, 10, 26, 2, 30), utc(2025, 10, 26, 0, 30)),
        ("Europe/Paris", datetime(2025, 10, 26, 3, 30), utc(2025, 10, 26, 2, 30)),
        # US: second Sunday of March, 02:00 -> 03:00.
        ("America/New_York", datetime(2025, 3, 9, 2, 30), utc(2025, 3, 9, 7, 30)),
        ("America/Chicago", datetime(2025, 3, 9, 2, 15), utc(2025, 3, 9, 8, 15)),
        ("America/New_York", datetime(2025, 3, 9, 3, 0), utc(2025, 3, 9, 7, 0)),
        # US: first Sunday of November, 02:00 -> 01:00 (01:30 twice: earliest, i.e. EDT).
        ("America/New_York", datetime(2025, 11, 2, 1, 30), utc(2025, 11, 2, 5, 30)),
        ("America/New_York", datetime(2025, 11, 2, 2, 0), utc(2025, 11, 2, 7, 0)),
        ("UTC", datetime(2025, 3, 30, 2, 30), utc(2025, 3, 30, 2, 30)),
    ],
)
def test_dst_changes_give_the_documented_utc_instant(
    timezone: str, local: datetime, expected: datetime
) -> None:
    assert to_utc(pl.Series([local]), timezone).to_list() == [expected]
    data = fx.executions(fx.fill(time=local), fx.fill(exchange_id="2"))
    assert fx.parse(data, timezone).trades["timestamp"][0] == expected


# ----------------------------------------------------------------------------- broken files


def one_line_error(data: bytes, name: str = "trades.xlsx") -> str:
    with pytest.raises(SourceFormatError) as caught:
        fx.parse(data, name=name)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(name)
    return message


def test_a_truncated_workbook_is_a_one_line_error() -> None:
    data, _ = fx.export(fills=200)
    message = one_line_error(atas_samples.truncated(data))
    assert "damaged, truncated or password-protected" in message
    assert message.endswith("export it again from ATAS as .xlsx")


def test_a_csv_renamed_to_xlsx_says_so() -> None:
    assert one_line_error(atas_samples.csv_renamed()) == (
        "trades.xlsx is not an Excel workbook (looks like CSV text); "
        "export it again from ATAS as .xlsx"
    )
    assert "(the file is empty)" in one_line_error(b"")


def test_a_workbook_without_atas_sheets_names_what_it_found() -> None:
    assert one_line_error(atas_samples.workbook_without_atas_sheets()) == (
        "trades.xlsx has no Executions or Journal sheet (found: Sheet1); "
        "is this an ATAS Trading Journal export?"
    )


@pytest.mark.parametrize(
    ("language", "sheet", "shown"),
    [("en", "Executions", "Exchange ID"), ("fr", "Exécutions", "ID d'échange")],
)
def test_a_missing_required_column_is_named_in_the_exports_language(
    language: str, sheet: str, shown: str
) -> None:
    data, _ = fx.export(fills=50, language=language, drop_columns=("exchange_id",))
    message = one_line_error(data)
    assert message.startswith(f"trades.xlsx sheet {sheet} has no '{shown}' column (found: ")
    assert message.endswith("); re-export with all columns visible")


# -------------------------------------------------------------------------- ids and notes


def test_ids_are_fnv1a_64_shifted_and_fixed_for_fixed_input() -> None:
    # Published FNV-1a 64-bit test vectors ("", "a", "foobar"), shifted right one bit.
    keys = pl.Series(["", "a", "foobar", None])
    assert stable_ids(keys).to_list() == [
        0xCBF29CE484222325 >> 1, 0xAF63DC4C8601EC8C >> 1, 0x85944171F73967E8 >> 1, None,
    ]  # fmt: skip
    assert trade_ids(pl.Series(["SIM-1042"]), pl.Series(["6100000001"])).to_list() == [
        5480983891895595357
    ]
    journal = pl.DataFrame(
        {"account": ["SIM-1042"], "instrument": ["MESZ5@CME_Ind"],
         "open_ts": [utc(2025, 11, 25, 14, 3, 5, 123000)], "open_volume": [-2]}
    )  # fmt: skip
    assert journal_ids(journal).to_list() == [2194039881152466653]


def _fnv1a_reference(key: str) -> int:
    value = 0xCBF29CE484222325
    for byte in key.encode():
        value = ((value ^ byte) * 0x100000001B3) % 2**64
    return value >> 1


@pytest.mark.parametrize(
    "keys",
    [
        ["ACC-1\x1f61000001", "ACC-2\x1f61000002", "ACC-9\x1f69999999"],  # one length
        ["A\x1f1", "ACCOUNT-LONG\x1f6100000001", "é\x1f日本", ""],  # ragged, non-ASCII
    ],
)
def test_ids_match_a_byte_by_byte_fnv1a_for_equal_and_ragged_keys(keys: list[str]) -> None:
    series = pl.Series(keys * 3).slice(1, len(keys) * 2)  # a slice: arrow offset != 0
    assert stable_ids(series).to_list() == [_fnv1a_reference(k) for k in series.to_list()]


def test_a_point_value_mismatch_is_a_note_not_an_error() -> None:
    header = fx.JOURNAL_EN
    opened, closed = datetime(2025, 11, 25, 14, 0), datetime(2025, 11, 25, 15, 0)
    rows: list[list[Cell]] = [
        [
            "SIM-1042",
            "MESZ5@CME_Ind",
            opened,
            6000.0,
            2,
            closed,
            6010.0,
            -2,
            10.0,
            40.0,
            1000.0,
            None,
        ],
        ["SIM-1042", "NQZ5@CME", opened, 21000.0, -1, closed, 20990.0, 1, 10.0, 40.0, 200.0, None],
    ]
    parsed = fx.parse(fx.workbook({"Journal": [header, *rows]}))
    assert parsed.journal.height == 2
    assert parsed.notes == [
        "MES: 1 of 1 closed journal trades imply a point value 10.000x the instrument table's 5 "
        "(median of those); check [instruments.MES] in tradelake.toml"
    ]


# ------------------------------------------------------------------------ number property


def _format(value: Decimal, style: str) -> str:
    english = f"{value:,.2f}"
    if style == "en":
        return english
    if style == "fr":
        return english.replace(",", "\u202f").replace(".", ",")
    if style == "de":
        return english.replace(",", "X").replace(".", ",").replace("X", ".")
    return f"  {value:.2f}\u00a0"


@settings(max_examples=150, deadline=None)
@given(
    st.decimals(min_value=-10_000_000, max_value=10_000_000, places=2, allow_nan=False),
    st.sampled_from(["en", "fr", "de", "plain"]),
)
def test_numbers_in_any_locale_parse_to_their_value(value: Decimal, style: str) -> None:
    assert parse_numbers([_format(value, style)], french=style == "fr") == [float(value)]


@pytest.mark.parametrize(
    ("text", "french", "expected"),
    [
        ("1,234", False, 1234.0), ("1,234", True, 1.234), ("0,62", False, 0.62),
        ("1.234.567", False, 1234567.0), ("−12,5", True, -12.5), ("N/A", False, None),
        ("-", False, None), ("€ 1 234,50", True, 1234.5), ("abc", False, None),
    ],
)  # fmt: skip
def test_number_text_edge_cases(text: str, french: bool, expected: float | None) -> None:
    assert parse_numbers([text], french=french) == [expected]


def test_parse_workbook_accepts_an_instrument_table_override() -> None:
    data, truth = fx.export(fills=100)
    table = InstrumentTable({"MES": {"point_value": 50.0}})
    parsed = parse_workbook(data, name="x.xlsx", timezone="UTC", instruments=table)
    assert parsed.trades.height == truth.fills.height
    assert any(note.startswith("MES: ") and "0.100x" in note for note in parsed.notes)


def test_a_text_cell_past_the_type_sample_is_read_not_dropped() -> None:
    """fastexcel guesses column types from the first 1,000 rows and nulls a later cell that
    does not fit; the parser must notice and read the sheet with types from every row."""
    start = datetime(2025, 11, 25, 14, 0)
    rows = [
        fx.fill(exchange_id=str(6100000000 + i), time=start + timedelta(seconds=i))
        for i in range(1500)
    ]
    rows[1200][4] = "6012.50"  # price as text
    rows[1300][5] = "2025-11-25 14:30:00"  # time as text
    rows[1400][3] = "3"  # volume as text
    parsed = fx.parse(fx.executions(*rows))
    assert parsed.trades.height == 1500
    assert parsed.quarantine["trades_raw"].count == 0
    by_id = {r["exchange_id"]: r for r in parsed.trades.iter_rows(named=True)}
    assert by_id["6100001200"]["price"] == 6012.5
    assert by_id["6100001300"]["timestamp"] == utc(2025, 11, 25, 14, 30)
    assert by_id["6100001400"]["qty"] == 3


def test_absurd_volumes_are_quarantined_by_rule_with_their_original_text() -> None:
    """Issue 10 item 11: 10^15 contracts passed; >= 2^63 read "qty is missing", value lost."""
    data = fx.executions(
        fx.fill(exchange_id="1"),
        fx.fill(exchange_id="2", volume=10**15),
        fx.fill(exchange_id="3", volume="9223372036854775808"),  # 2^63, as text
        fx.fill(exchange_id="4", volume=1e20),  # a number cell
    )
    parsed, trades, _ = fx.parse_valid(data)

    assert trades["exchange_id"].to_list() == ["1"]
    frame = parsed.quarantine["trades_raw"].frame().sort("rule")
    rows = frame.select("exchange_id", "qty", "volume", "rule").rows()
    by_id = {row[0]: row for row in rows}
    assert sorted(by_id) == ["2", "3", "4"]
    assert {row[3] for row in rows} == {"qty_out_of_bounds"}
    assert by_id["3"][2] == "9223372036854775808"  # the cell text, as it was
    assert float(by_id["4"][2]) == 1e20
    assert by_id["2"][1] == "1000000000000000"  # within Int64: the typed value, exact
    reasons = dict(frame.select("exchange_id", "reason").rows())
    assert "beyond any number of contracts" in reasons["3"]
    assert reasons["2"] == (
        "qty 1000000000000000 is beyond ±10000 contracts for MES; if it is real, raise "
        "[instruments.MES] max_qty in tradelake.toml"
    )
    assert "qty is missing" not in " ".join(reasons.values())


def test_generated_cme_fills_fall_in_globex_sessions() -> None:
    """No fill on a Saturday, on a Sunday before 17:00 Chicago, after 16:00 on a Friday or in
    the daily 16:00-17:00 halt (the demo once booked 1,614 fills on a Saturday)."""
    fills = atas_samples.simulate_fills(4000, seed=7)
    local = fills.select(pl.col("timestamp").dt.convert_time_zone("America/Chicago").alias("t"))
    local = local.select(
        pl.col("t").dt.weekday().alias("day"),  # Monday 1 ... Sunday 7
        (pl.col("t").dt.hour().cast(pl.Int32) * 60 + pl.col("t").dt.minute()).alias("minute"),
    )
    closed = local.filter(
        (pl.col("day") == 6)
        | ((pl.col("day") == 7) & (pl.col("minute") < 17 * 60))
        | ((pl.col("day") == 5) & (pl.col("minute") >= 16 * 60))
        | (pl.col("minute").is_between(16 * 60, 17 * 60, closed="left"))
    )
    assert closed.height == 0
    assert local.filter(pl.col("day") == 7).height > 0  # it does trade Sunday evening
    assert fills["timestamp"].max() - fills["timestamp"].min() > timedelta(days=2)
    # 16:59:59 on a Friday waits for Sunday 17:00 CDT (22:00 UTC before the US fall-back).
    friday = int(datetime(2025, 10, 24, 21, 59, 59, tzinfo=UTC).timestamp() * 1000)
    sunday = datetime(2025, 10, 26, 22, 0, tzinfo=UTC)
    assert atas_samples.globex_open_at(friday) == int(sunday.timestamp() * 1000)


def test_writing_a_large_export_reports_how_far_it_is() -> None:
    """The demo's bar moves within one export: rows laid out, then every 2,000 rows written."""
    seen: list[float] = []
    atas_samples.write_workbook(BytesIO(), fills=4500, seed=5, progress=seen.append)
    assert seen[0] == pytest.approx(0.2)
    assert len(seen) >= 3 and seen == sorted(seen) and seen[-1] <= 1.0
