"""Round trips, daily P&L and session dates: hand-computed cases plus a deque-FIFO reference."""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradelake.analytics.pnl import (
    DAILY_PNL_SCHEMA,
    ROUND_TRIP_SCHEMA,
    daily_pnl,
    open_positions,
    pnl_report,
    round_trips,
)
from tradelake.analytics.sessions import session_date
from tradelake.errors import ConfigError
from tradelake.instruments import InstrumentTable

SPECS = InstrumentTable()
TRADE_SCHEMA: dict[str, pl.DataType] = {
    "trade_id": pl.Int64(),
    "account": pl.Utf8(),
    "symbol": pl.Utf8(),
    "root": pl.Utf8(),
    "timestamp": pl.Datetime("us", "UTC"),
    "qty": pl.Int64(),
    "price": pl.Float64(),
    "commission": pl.Float64(),
}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def trades(*rows: tuple[Any, ...]) -> pl.DataFrame:
    """Rows of (trade_id, account, symbol, root, UTC ISO time, qty, price, commission)."""
    fixed = [(r[0], r[1], r[2], r[3], utc(r[4]), *r[5:]) for r in rows]
    return pl.DataFrame(fixed, schema=TRADE_SCHEMA, orient="row")


# --- session dates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts", "tz", "opens", "expected"),
    [
        # CME, November (CST = UTC-6)
        ("2025-11-04T22:59:00", "America/Chicago", time(17), date(2025, 11, 4)),  # Tue 16:59
        ("2025-11-04T23:00:00", "America/Chicago", time(17), date(2025, 11, 5)),  # Tue 17:00
        ("2025-11-04T23:30:00", "America/Chicago", time(17), date(2025, 11, 5)),  # Tue 17:30
        ("2025-11-02T23:00:00", "America/Chicago", time(17), date(2025, 11, 3)),  # Sun 17:00
        ("2025-11-07T23:30:00", "America/Chicago", time(17), date(2025, 11, 10)),  # Fri 17:30
        ("2025-11-08T15:00:00", "America/Chicago", time(17), date(2025, 11, 10)),  # Sat
        # US DST began Sunday 2026-03-08: 22:00 UTC is 17:00 CDT on Monday, 16:00 CST on Friday
        ("2026-03-09T22:00:00", "America/Chicago", time(17), date(2026, 3, 10)),
        ("2026-03-09T21:59:00", "America/Chicago", time(17), date(2026, 3, 9)),
        ("2026-03-06T22:30:00", "America/Chicago", time(17), date(2026, 3, 6)),
        # Eurex opens 01:10 Berlin: the local calendar date; EU DST ended Sunday 2025-10-26
        ("2025-10-27T00:30:00", "Europe/Berlin", time(1, 10), date(2025, 10, 27)),
        ("2025-10-26T23:30:00", "Europe/Berlin", time(1, 10), date(2025, 10, 27)),  # Mon 00:30
        ("2025-07-01T23:30:00", "Europe/Berlin", time(1, 10), date(2025, 7, 2)),  # CEST 01:30
        ("2025-10-25T10:00:00", "Europe/Berlin", time(1, 10), date(2025, 10, 27)),  # Saturday
    ],
)
def test_session_date(ts: str, tz: str, opens: time, expected: date) -> None:
    frame = pl.DataFrame({"ts": [utc(ts)]}, schema={"ts": pl.Datetime("us", "UTC")})
    assert frame.select(session_date("ts", tz, opens)).item() == expected


# --- hand-computed round trips ---------------------------------------------------------------


def test_flip_closes_the_round_trip_and_opens_the_next_with_the_remainder() -> None:
    fills = trades(
        (1, "A", "MESZ5", "MES", "2025-11-04T15:00:00", 2, 5000.00, 1.24),
        (2, "A", "MESZ5", "MES", "2025-11-04T15:01:00", -5, 5001.00, 3.10),
        (3, "A", "MESZ5", "MES", "2025-11-04T15:03:30", 3, 4990.00, 1.86),
    )
    result = round_trips(fills, SPECS)
    assert result.schema == pl.Schema(ROUND_TRIP_SCHEMA)
    first, second = result.to_dicts()
    assert first["round_trip_id"] == "A|MESZ5|1"
    assert first["direction"] == "long"
    assert (first["qty"], first["max_position"], first["fills"]) == (2, 2, 2)
    assert (first["entry_price"], first["exit_price"]) == (5000.0, 5001.0)
    assert first["gross_pnl"] == pytest.approx(10.0)  # 1 point x 2 x $5
    assert first["commission"] == pytest.approx(1.24 + 3.10 * 2 / 5)
    assert first["net_pnl"] == pytest.approx(10.0 - 2.48)
    assert first["duration_s"] == 60.0
    assert second["round_trip_id"] == "A|MESZ5|2"
    assert second["direction"] == "short"
    assert (second["qty"], second["max_position"], second["fills"]) == (3, 3, 2)
    assert (second["entry_price"], second["exit_price"]) == (5001.0, 4990.0)
    assert second["gross_pnl"] == pytest.approx(165.0)  # 11 points x 3 x $5
    assert second["commission"] == pytest.approx(3.10 * 3 / 5 + 1.86)
    assert second["open_ts"] == utc("2025-11-04T15:01:00")
    assert second["duration_s"] == 150.0
    assert open_positions(fills, SPECS).is_empty()


def test_fifo_matches_oldest_lots_first_across_sessions() -> None:
    # ES ($50/point): buy 1 @5000, buy 2 @5003, sell 2 @5004 (closes 1@5000 and 1@5003:
    # +4 +1 = 5 points = $250), then sell 1 @5001 after the 17:00 CT open (1@5003: -2 = -$100).
    # Average cost would say +$200 / -$50 instead.
    fills = trades(
        (10, "A", "ESZ5", "ES", "2025-11-04T14:00:00", 1, 5000.0, 2.0),
        (11, "A", "ESZ5", "ES", "2025-11-04T14:05:00", 2, 5003.0, 4.0),
        (12, "A", "ESZ5", "ES", "2025-11-04T22:00:00", -2, 5004.0, 4.0),  # Tue 16:00 CT
        (13, "A", "ESZ5", "ES", "2025-11-04T23:30:00", -1, 5001.0, 2.0),  # Tue 17:30 CT
    )
    (trip,) = round_trips(fills, SPECS).to_dicts()
    assert trip["gross_pnl"] == pytest.approx(150.0)
    assert trip["entry_price"] == pytest.approx(5002.0)
    assert trip["exit_price"] == pytest.approx(5003.0)
    assert trip["max_position"] == 3 and trip["qty"] == 3 and trip["fills"] == 4
    assert trip["session_date"] == date(2025, 11, 5)
    daily = daily_pnl(fills, SPECS)
    assert daily["gross_pnl"].to_list() == pytest.approx([250.0, -100.0])
    assert daily["commission"].to_list() == pytest.approx([10.0, 2.0])
    assert daily["round_trips"].to_list() == [0, 1]


def test_daily_pnl_realises_a_carried_position_in_the_session_it_closes() -> None:
    # Monday 2025-11-03, CST. Buy 2 MES @5000.00 at 16:30 CT (Monday session); sell 1 @5002.00
    # at 17:30 CT Monday (Tuesday session); sell 1 @4999.00 Tuesday 09:00 CT (Tuesday session).
    # $0.62 per contract. Monday: gross 0, commission 1.24. Tuesday: (2.00 - 1.00) x $5 = $5.00
    # gross, commission 1.24, net 3.76, one round trip closed.
    fills = trades(
        (1, "ACC", "MESZ5", "MES", "2025-11-03T22:30:00", 2, 5000.00, 1.24),
        (2, "ACC", "MESZ5", "MES", "2025-11-03T23:30:00", -1, 5002.00, 0.62),
        (3, "ACC", "MESZ5", "MES", "2025-11-04T15:00:00", -1, 4999.00, 0.62),
    )
    daily = daily_pnl(fills, SPECS)
    assert daily.schema == pl.Schema(DAILY_PNL_SCHEMA)
    assert daily.to_dicts() == [
        {
            "session_date": date(2025, 11, 3),
            "account": "ACC",
            "instrument": "MESZ5",
            "gross_pnl": 0.0,
            "commission": 1.24,
            "net_pnl": -1.24,
            "fills": 1,
            "round_trips": 0,
        },
        {
            "session_date": date(2025, 11, 4),
            "account": "ACC",
            "instrument": "MESZ5",
            "gross_pnl": pytest.approx(5.0),
            "commission": pytest.approx(1.24),
            "net_pnl": pytest.approx(3.76),
            "fills": 2,
            "round_trips": 1,
        },
    ]


def test_open_positions_report_the_fifo_lots_left() -> None:
    fills = trades(
        (1, "A", "MESZ5", "MES", "2025-11-04T15:00:00", 1, 5000.0, 0.62),
        (2, "A", "MESZ5", "MES", "2025-11-04T15:01:00", 2, 5006.0, 1.24),
        (3, "A", "MESZ5", "MES", "2025-11-04T15:02:00", -2, 5010.0, 1.24),
        (4, "B", "FDAXZ5", "FDAX", "2025-11-04T09:00:00", -3, 24000.0, 6.0),
        (5, "B", "FDAXZ5", "FDAX", "2025-11-04T09:05:00", -1, 24010.0, 2.0),
    )
    assert open_positions(fills, SPECS).to_dicts() == [
        {
            "account": "A",
            "symbol": "MESZ5",
            "root": "MES",
            "qty": 1,
            "avg_price": pytest.approx(5006.0),
            "opened_ts": utc("2025-11-04T15:00:00"),
        },
        {
            "account": "B",
            "symbol": "FDAXZ5",
            "root": "FDAX",
            "qty": -4,
            "avg_price": pytest.approx(24002.5),
            "opened_ts": utc("2025-11-04T09:00:00"),
        },
    ]
    assert round_trips(fills, SPECS).is_empty()
    # Selling 2 @5010 realises lots 1@5000 and 1@5006 without closing the round trip:
    # (10 + 4) points x $5 = $70 counts in the session although no round trip closed.
    daily = daily_pnl(fills, SPECS)
    assert daily["gross_pnl"].to_list() == pytest.approx([70.0, 0.0])
    assert daily["round_trips"].to_list() == [0, 0]


def test_equal_timestamps_are_ordered_by_trade_id() -> None:
    fills = trades(
        (8, "A", "MESZ5", "MES", "2025-11-04T15:00:00", 1, 5000.0, 0.0),
        (7, "A", "MESZ5", "MES", "2025-11-04T15:00:00", -1, 5001.0, 0.0),
    )
    (trip,) = round_trips(fills, SPECS).to_dicts()
    assert (trip["round_trip_id"], trip["direction"]) == ("A|MESZ5|7", "short")
    assert trip["entry_price"] == 5001.0


def test_large_point_values_keep_cent_precision_next_to_other_instruments() -> None:
    # 6J is $12.5M per point: 4 contracts, 10 ticks of 0.0000005 = $250.00 exactly.
    busy = [(i, "A", "ESZ5", "ES", "2025-11-04T15:00:00", 1, 6000.0 + i, 0.0) for i in range(500)]
    fills = trades(
        *busy,
        (900, "A", "6JZ5", "6J", "2025-11-04T15:00:00", 4, 0.0067050, 0.0),
        (901, "A", "6JZ5", "6J", "2025-11-04T15:10:00", -4, 0.0067100, 0.0),
    )
    trip = round_trips(fills, SPECS).filter(pl.col("symbol") == "6JZ5")
    assert trip["gross_pnl"].item() == pytest.approx(250.0, abs=1e-6)


def test_zero_quantity_fills_are_ignored_and_unknown_roots_stop() -> None:
    fills = trades(
        (1, "A", "MESZ5", "MES", "2025-11-04T15:00:00", 1, 5000.0, 0.62),
        (2, "A", "MESZ5", "MES", "2025-11-04T15:01:00", 0, 5001.0, 0.0),
        (3, "A", "MESZ5", "MES", "2025-11-04T15:02:00", -1, 5002.0, 0.62),
    )
    assert round_trips(fills, SPECS)["fills"].to_list() == [2]
    unknown = trades((1, "A", "XYZZ5", "XYZ", "2025-11-04T15:00:00", 1, 1.0, 0.0))
    with pytest.raises(ConfigError, match=r"XYZ.*\[instruments\.<ROOT>\]"):
        daily_pnl(unknown, SPECS)


def test_empty_trades_give_empty_frames_with_the_contract_schema() -> None:
    empty = pl.DataFrame(schema=TRADE_SCHEMA)
    report = pnl_report(empty, SPECS)
    assert report.round_trips.schema == pl.Schema(ROUND_TRIP_SCHEMA)
    assert report.daily.schema == pl.Schema(DAILY_PNL_SCHEMA)
    assert report.round_trips.is_empty() and report.daily.is_empty()
    assert report.open_positions.is_empty()


# --- reference FIFO (plain deque) against the vectorised one -------------------------------


@dataclass
class _Trip:
    account: str
    symbol: str
    open_id: int
    direction: int
    open_ts: datetime
    opened: int = 0
    open_notional: float = 0.0
    close_notional: float = 0.0
    gross: float = 0.0
    commission: float = 0.0
    max_position: int = 0
    fills: set[int] = field(default_factory=set)
    close_ts: datetime | None = None


def _reference_session(ts: datetime, tz: str, opens: time) -> date:
    local = ts.astimezone(ZoneInfo(tz))
    day = local.date()
    if opens >= time(12) and local.time() >= opens:
        day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


_Result = tuple[list[_Trip], dict[tuple[Any, ...], float], dict[tuple[str, str], tuple[Any, ...]]]


def _reference(rows: list[dict[str, Any]]) -> _Result:
    """Deque FIFO, fill by fill: closed trips, gross P&L per (session, account, symbol) and
    open positions as (account, symbol) -> (qty, average price of the lots left, opened)."""
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_key[(row["account"], row["symbol"])].append(row)
    trips: list[_Trip] = []
    daily: dict[tuple[Any, ...], float] = defaultdict(float)
    still_open: dict[tuple[str, str], tuple[Any, ...]] = {}
    for (account, symbol), fills in by_key.items():
        lots: deque[list[float]] = deque()
        position, trip = 0, None
        for fill in sorted(fills, key=lambda r: (r["timestamp"], r["trade_id"])):
            spec = SPECS.get(fill["root"])
            assert spec is not None
            session = _reference_session(fill["timestamp"], spec.exchange_tz, spec.session_open)
            key = (session, account, symbol)
            daily[key] += 0.0
            remaining, per_unit = fill["qty"], fill["commission"] / abs(fill["qty"])
            while remaining:
                side = 1 if remaining > 0 else -1
                if position == 0 or side * position > 0:
                    if trip is None:
                        trip = _Trip(account, symbol, fill["trade_id"], side, fill["timestamp"])
                    lots.append([abs(remaining), fill["price"]])
                    position += remaining
                    trip.opened += abs(remaining)
                    trip.open_notional += abs(remaining) * fill["price"]
                    trip.commission += abs(remaining) * per_unit
                    trip.max_position = max(trip.max_position, abs(position))
                    trip.fills.add(fill["trade_id"])
                    remaining = 0
                    continue
                assert trip is not None
                take = min(abs(remaining), abs(position))
                trip.commission += take * per_unit
                trip.close_notional += take * fill["price"]
                trip.fills.add(fill["trade_id"])
                left = take
                while left:
                    lot = lots[0]
                    n = min(lot[0], left)
                    pnl = (fill["price"] - lot[1]) * n * (1 if position > 0 else -1)
                    trip.gross += pnl * spec.point_value
                    daily[key] += pnl * spec.point_value
                    lot[0] -= n
                    left -= n
                    if lot[0] == 0:
                        lots.popleft()
                position += side * take
                remaining -= side * take
                if position == 0:
                    trip.close_ts = fill["timestamp"]
                    trips.append(trip)
                    trip = None
        if trip is not None:
            cost = sum(units * price for units, price in lots)
            still_open[(account, symbol)] = (position, cost / abs(position), trip.open_ts)
    return trips, daily, still_open


_CONTRACTS = [
    ("MESZ5", "MES", 5000.0, 0.25),
    ("6JZ5", "6J", 0.0067, 5e-7),
    ("FDAXZ5", "FDAX", 24e3, 0.5),
]

fill_rows = st.lists(
    st.tuples(
        st.sampled_from(["A", "B"]),
        st.sampled_from(_CONTRACTS),
        st.integers(0, 3000),  # minutes: many share a timestamp, some cross 17:00 CT
        st.integers(-4, 4).filter(bool),
        st.integers(-40, 40),
        st.sampled_from([0.0, 0.62, 1.0]),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(fill_rows, st.randoms(use_true_random=False))
def test_vectorised_fifo_matches_the_deque_reference(
    generated: list[tuple[Any, ...]], rnd: Any
) -> None:
    start = datetime(2025, 11, 3, 12, tzinfo=UTC)
    ids = list(range(1, len(generated) + 1))
    rnd.shuffle(ids)  # trade ids do not follow row order; equal timestamps tie-break on them
    rows = [
        {
            "trade_id": trade_id,
            "account": account,
            "symbol": symbol,
            "root": root,
            "timestamp": start + timedelta(minutes=minute // 20 * 20),
            "qty": qty,
            "price": base + ticks * tick,
            "commission": per_contract * abs(qty),
        }
        for trade_id, (
            account,
            (symbol, root, base, tick),
            minute,
            qty,
            ticks,
            per_contract,
        ) in zip(ids, generated, strict=True)
    ]
    report = pnl_report(pl.DataFrame(rows, schema=TRADE_SCHEMA), SPECS)
    expected, expected_daily, expected_open = _reference(rows)

    got = {row["round_trip_id"]: row for row in report.round_trips.to_dicts()}
    assert len(got) == len(expected)
    for trip in expected:
        row = got[f"{trip.account}|{trip.symbol}|{trip.open_id}"]
        assert row["direction"] == ("long" if trip.direction > 0 else "short")
        assert (row["qty"], row["max_position"]) == (trip.opened, trip.max_position)
        assert row["fills"] == len(trip.fills)
        assert (row["open_ts"], row["close_ts"]) == (trip.open_ts, trip.close_ts)
        assert row["entry_price"] == pytest.approx(trip.open_notional / trip.opened)
        assert row["exit_price"] == pytest.approx(trip.close_notional / trip.opened)
        assert row["gross_pnl"] == pytest.approx(trip.gross, abs=1e-6)
        assert row["commission"] == pytest.approx(trip.commission, abs=1e-9)

    daily = {(r["session_date"], r["account"], r["instrument"]): r for r in report.daily.to_dicts()}
    assert set(daily) == set(expected_daily)
    for key, gross in expected_daily.items():
        assert daily[key]["gross_pnl"] == pytest.approx(gross, abs=1e-6)
    assert report.daily["fills"].sum() == len(rows)
    assert report.daily["round_trips"].sum() == len(expected)
    assert report.daily["commission"].sum() == pytest.approx(sum(r["commission"] for r in rows))

    still_open = {(r["account"], r["symbol"]): r for r in report.open_positions.to_dicts()}
    assert set(still_open) == set(expected_open)
    for key, (qty, avg_price, opened_ts) in expected_open.items():
        assert (still_open[key]["qty"], still_open[key]["opened_ts"]) == (qty, opened_ts)
        assert still_open[key]["avg_price"] == pytest.approx(avg_price)
    order = ["account", "symbol", "open_ts"]
    assert report.round_trips.select(order).equals(report.round_trips.select(order).sort(order))
