"""Row validation: each rule quarantines with a reason naming the value; the rest pass as-is."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tradelake.errors import ConfigError, ValidationError
from tradelake.instruments import InstrumentTable
from tradelake.staging.quarantine import Quarantine
from tradelake.staging.validate import check_contract, validate_frame
from tradelake.tables import ATAS_JOURNAL, TRADES_RAW, TableSpec

NOW = datetime(2025, 12, 1, tzinfo=UTC)
TABLE = InstrumentTable()


def trades(*changes: dict[str, Any]) -> pl.DataFrame:
    """One TRADES_RAW row per ``changes`` dict, each a valid MES buy unless changed."""
    base = {
        "trade_id": 1, "account": "SIM-1042", "instrument": "MESZ5@CME_Ind", "symbol": "MESZ5",
        "root": "MES", "exchange": "CME", "timestamp": datetime(2025, 11, 25, 14, 3, tzinfo=UTC),
        "side": "buy", "qty": 2, "price": 6012.25, "commission": 1.24, "exchange_id": "E1",
        "order_id": None, "extra": None,
    }  # fmt: skip
    rows = [
        base | {"trade_id": i + 1, "exchange_id": f"E{i + 1}"} | c for i, c in enumerate(changes)
    ]
    return pl.DataFrame(rows, schema=dict(TRADES_RAW.content))


def journal(*changes: dict[str, Any]) -> pl.DataFrame:
    base = {
        "journal_id": 1, "account": "SIM-1042", "instrument": "NQZ5@CME", "symbol": "NQZ5",
        "root": "NQ", "exchange": "CME", "open_ts": datetime(2025, 11, 25, 14, tzinfo=UTC),
        "open_price": 21000.0, "open_volume": -1, "close_price": 20990.0, "close_volume": 1,
        "close_ts": datetime(2025, 11, 25, 15, tzinfo=UTC), "price_pnl": 10.0,
        "profit_ticks": 40.0, "pnl": 200.0, "comment": None, "extra": None,
    }  # fmt: skip
    rows = [base | {"journal_id": i + 1} | c for i, c in enumerate(changes)]
    return pl.DataFrame(rows, schema=dict(ATAS_JOURNAL.content))


def run(spec: TableSpec, frame: pl.DataFrame) -> tuple[pl.DataFrame, Quarantine]:
    quarantine = Quarantine(spec.name)
    return validate_frame(spec, frame, quarantine, TABLE, now=NOW), quarantine


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"price": -5.0}, "price must be > 0 (got -5.0)"),
        ({"price": 5012.13}, "price 5012.13 not on the 0.25 tick grid of MES"),
        ({"qty": 0}, "qty must not be 0"),
        ({"qty": -2}, "side buy does not match the sign of qty -2"),
        ({"commission": -0.5}, "commission must be >= 0 (got -0.5)"),
        ({"commission": None}, "commission is missing"),
        ({"exchange_id": None}, "exchange_id is missing"),
        (
            {"timestamp": datetime(1970, 1, 1, tzinfo=UTC)},
            "timestamp 1970-01-01 outside 2000-01-01..now+1 day",
        ),
        (
            {"timestamp": datetime(2025, 12, 3, tzinfo=UTC)},
            "timestamp 2025-12-03 outside 2000-01-01..now+1 day",
        ),
        (
            {"root": "ZZ", "symbol": "ZZZ5"},
            "unknown instrument root ZZ: add [instruments.ZZ] to tradelake.toml",
        ),
    ],
)
def test_each_trade_rule_quarantines_with_a_reason_naming_the_value(
    change: dict[str, Any], reason: str
) -> None:
    passed, quarantine = run(TRADES_RAW, trades({}, change, {}))
    assert passed["exchange_id"].to_list() == ["E1", "E3"]
    assert quarantine.by_reason() == {reason: 1}
    assert quarantine.frame()["trade_id"].to_list() == ["2"]


@pytest.mark.parametrize(
    ("root", "price"),
    [("ZN", 112.515625), ("ZB", 118.96875), ("CL", 61.37), ("6J", 0.0065005), ("6E", 1.16385)],
)
def test_prices_on_fine_or_binary_tick_grids_pass(root: str, price: float) -> None:
    passed, quarantine = run(TRADES_RAW, trades({"root": root, "price": price}))
    assert quarantine.count == 0 and passed["price"].to_list() == [price]


def test_the_first_failing_rule_names_the_row() -> None:
    _, quarantine = run(TRADES_RAW, trades({"price": -5.01, "qty": 0, "commission": -1.0}))
    assert quarantine.by_reason() == {"price must be > 0 (got -5.01)": 1}
    assert quarantine.by_rule() == {"price_not_positive": 1}  # the stable key DQ counts by


def test_an_exact_duplicate_keeps_the_first_copy() -> None:
    frame = trades({}, {}, {})
    frame = pl.concat([frame, frame.slice(1, 1)])
    passed, quarantine = run(TRADES_RAW, frame)
    assert passed["exchange_id"].to_list() == ["E1", "E2", "E3"]
    assert quarantine.by_reason() == {"exact duplicate of an earlier row": 1}


def test_a_repeated_trade_id_with_different_content_quarantines_every_copy() -> None:
    frame = trades({}, {}, {"trade_id": 2, "exchange_id": "E2", "price": 6012.5}, {})
    passed, quarantine = run(TRADES_RAW, frame)
    assert passed["exchange_id"].to_list() == ["E1", "E4"]
    reason = "duplicate trade_id within the file (exchange_id E2 repeated with different content)"
    assert quarantine.by_reason() == {reason: 2}


def test_a_clean_frame_passes_unchanged_in_order() -> None:
    frame = trades({}, {"side": "sell", "qty": -1}, {"order_id": "O1", "extra": '{"a":"b"}'})
    passed, quarantine = run(TRADES_RAW, frame)
    assert_frame_equal(passed, frame)
    assert quarantine.count == 0


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"open_price": 0.0}, "open_price must be > 0 (got 0.0)"),
        ({"open_volume": 0}, "open_volume must not be 0"),
        (
            {"close_price": None},
            "close_ts and close_price must both be set (closed) or both empty (open)",
        ),
        (
            {"close_ts": datetime(2025, 11, 25, 13, tzinfo=UTC)},
            "close_ts 2025-11-25 13:00:00.000000+00:00 "
            "is before open_ts 2025-11-25 14:00:00.000000+00:00",
        ),
        ({"close_volume": 0}, "close_volume must not be 0"),
        ({"instrument": None}, "instrument is missing"),
        ({"root": "XX"}, "unknown instrument root XX: add [instruments.XX] to tradelake.toml"),
    ],
)
def test_each_journal_rule_quarantines_with_a_reason(change: dict[str, Any], reason: str) -> None:
    passed, quarantine = run(ATAS_JOURNAL, journal({}, change))
    assert passed["journal_id"].to_list() == [1]
    assert quarantine.by_reason() == {reason: 1}


def test_an_open_position_passes_with_empty_close_fields() -> None:
    closing = dict.fromkeys(("close_ts", "close_price", "close_volume", "price_pnl", "pnl"))
    passed, quarantine = run(ATAS_JOURNAL, journal(closing | {"profit_ticks": None}))
    assert passed.height == 1 and quarantine.count == 0


def test_a_row_that_passes_the_rules_but_breaks_the_contract_is_a_bug() -> None:
    with pytest.raises(ValidationError) as caught:
        check_contract(TRADES_RAW, trades({"side": "BUY"}))
    message = str(caught.value)
    assert "\n" not in message and message.startswith("trades_raw rows that passed validation")
    assert "side" in message
    with pytest.raises(ValidationError, match="frame has no column"):
        run(TRADES_RAW, trades({}).drop("extra"))


def test_a_table_without_rules_gets_only_its_structural_contract() -> None:
    spec = TableSpec("feed_x", {"key": pl.Utf8(), "value": pl.Float64()}, ("key",), "key")
    frame = pl.DataFrame({"key": ["a", "a", None], "value": [1.0, -1.0, None]})
    passed, quarantine = run(spec, frame)
    assert_frame_equal(passed, frame)
    assert quarantine.count == 0
    with pytest.raises(ValidationError):
        run(spec, frame.with_columns(pl.col("value").cast(pl.Int64)))


def test_quantities_and_prices_beyond_a_roots_bounds_are_quarantined_by_rule() -> None:
    table = InstrumentTable({"MES": {"max_qty": 50, "max_price": 20_000.0}})
    frame = trades(
        {"qty": 50},
        {"qty": 51},
        {"qty": -51, "side": "sell"},
        {"price": 20_000.25},
        {"qty": 10**15},
    )
    quarantine = Quarantine(TRADES_RAW.name)

    valid = validate_frame(TRADES_RAW, frame, quarantine, table, now=NOW)

    assert valid["exchange_id"].to_list() == ["E1"]
    got = quarantine.frame().select("exchange_id", "qty", "rule").rows()
    assert got == [
        ("E2", "51", "qty_out_of_bounds"),
        ("E3", "-51", "qty_out_of_bounds"),
        ("E4", "2", "price_out_of_bounds"),
        ("E5", "1000000000000000", "qty_out_of_bounds"),
    ]
    assert quarantine.frame()["reason"][2] == (
        "price 20000.25 is above 20000.0 for MES; if it is real, raise [instruments.MES] "
        "max_price in tradelake.toml"
    )
    assert run(TRADES_RAW, trades({"qty": 10_000}))[0].height == 1  # the default bound holds
    assert run(TRADES_RAW, trades({"qty": 10_001}))[1].by_rule() == {"qty_out_of_bounds": 1}


def test_journal_volumes_and_prices_are_bounded_too() -> None:
    _, quarantine = run(
        ATAS_JOURNAL,
        journal({"open_volume": -20_000}, {"close_volume": 20_000}, {"open_price": 2e7}),
    )
    assert quarantine.by_rule() == {
        "close_volume_out_of_bounds": 1,
        "open_price_out_of_bounds": 1,
        "open_volume_out_of_bounds": 1,
    }


@pytest.mark.parametrize("bad", [0, -5, 1.5, "10", True])
def test_a_bound_that_is_not_a_positive_whole_number_is_a_config_error(bad: Any) -> None:
    with pytest.raises(ConfigError, match=r"\[instruments.ES\] max_qty .* must be a whole number"):
        InstrumentTable({"ES": {"max_qty": bad}})


@pytest.mark.parametrize(
    ("broken", "phrase"),
    [
        (lambda f: f.with_columns(side=pl.lit("BUY")), "'side' is not in ['buy', 'sell']"),
        (lambda f: f.with_columns(qty=pl.lit(0, pl.Int64)), "'qty' is not != 0 in 2 rows"),
        (lambda f: f.with_columns(price=pl.lit(-1.0)), "'price' is not > 0 in 2 rows"),
        (lambda f: f.with_columns(commission=pl.lit(-0.5)), "'commission' is not >= 0 in 2 rows"),
        (lambda f: f.with_columns(account=pl.lit(None, pl.Utf8)), "'account' is null in 2 rows"),
        (lambda f: f.with_columns(trade_id=pl.lit(7, pl.Int64)), "'trade_id' is not unique"),
        (lambda f: f.with_columns(qty=pl.col("qty").cast(pl.Int32)), "column 'qty' is Int32, not"),
        (lambda f: f.select(reversed(f.columns)), "(names and order)"),
    ],
)
def test_the_contract_names_each_way_a_frame_breaks_it(broken: Any, phrase: str) -> None:
    good = trades({}, {"side": "sell"})
    check_contract(TRADES_RAW, good)  # nullable columns (order_id, extra) may be null
    with pytest.raises(ValidationError) as caught:
        check_contract(TRADES_RAW, broken(good))
    assert phrase in str(caught.value), str(caught.value)


def test_the_contract_check_needs_no_pandas() -> None:
    """The contract is polars only: an ingest process never imports pandas or pandera for it
    (about 1 s of CPU per process when it did, issue 12 item 13)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from tradelake.staging.validate import check_contract\n"
        "from tradelake.tables import TRADES_RAW\n"
        "import polars as pl\n"
        "check_contract(TRADES_RAW, pl.DataFrame(schema=dict(TRADES_RAW.content)))\n"
        "assert not {'pandas', 'pandera'} & set(sys.modules), sorted(sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
