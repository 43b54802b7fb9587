"""positions, pnl daily --by and stats --by as a user runs them: values, totals, one-line
refusals of unknown options and notices for empty results."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fixtures.atas import EXECUTIONS_EN, fill, ingest_export, workbook
from tradelake.cli import app

RUNNER = CliRunner()


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """UTC export, MES ($5/pt), $0.62 a contract.

    SIM-1: buy 3 @6000 (Mon 14:00), buy 2 @6004 (Mon 14:01), sell 4 @6006 (Mon 14:02):
    FIFO closes 3@6000 (+18 pts) and 1@6004 (+2): +20 pts = $100 gross on Monday's session,
    1 @6004 left open. SIM-2: buy 2 @6002 (Tue 14:00), sell 5 @6008 (Tue 14:05): closes 2
    (+12 pts = $60) and flips to short 3 @6008. The last MES fill is 6008: SIM-1 open P&L
    (6008 - 6004) x 1 x 5 = $20, SIM-2 0.
    """
    home = tmp_path_factory.mktemp("queries") / "home"
    home.mkdir()
    rows = [
        fill(account="SIM-1", direction="Buy", volume=3, price=6000.0,
             time=datetime(2025, 11, 24, 14, 0), exchange_id="E1", commission=1.86),
        fill(account="SIM-1", direction="Buy", volume=2, price=6004.0,
             time=datetime(2025, 11, 24, 14, 1), exchange_id="E2", commission=1.24),
        fill(account="SIM-1", direction="Sell", volume=4, price=6006.0,
             time=datetime(2025, 11, 24, 14, 2), exchange_id="E3", commission=2.48),
        fill(account="SIM-2", direction="Buy", volume=2, price=6002.0,
             time=datetime(2025, 11, 25, 14, 0), exchange_id="E4", commission=1.24),
        fill(account="SIM-2", direction="Sell", volume=5, price=6008.0,
             time=datetime(2025, 11, 25, 14, 5), exchange_id="E5", commission=3.10),
    ]  # fmt: skip
    data = workbook({"Executions": [list(EXECUTIONS_EN), *rows]})
    ingest_export(home, "hand.xlsx", data, "UTC")
    return home


def invoke(home: Path, *args: str) -> Any:
    result = RUNNER.invoke(app, [*args, "--home", str(home)])
    return result


def test_positions_json_has_fifo_average_mark_and_open_pnl(book: Path) -> None:
    result = invoke(book, "positions", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["account"], r["symbol"], r["qty"]) for r in rows] == [
        ("SIM-1", "MESZ5", 1),
        ("SIM-2", "MESZ5", -3),
    ]
    one, two = rows
    assert (one["avg_price"], one["mark_price"], one["open_pnl"]) == (6004.0, 6008.0, 20.0)
    assert (two["avg_price"], two["open_pnl"]) == (6008.0, 0.0)
    assert one["mark_ts"].startswith("2025-11-25T14:05:00")
    assert one["opened_ts"].startswith("2025-11-24T14:00:00")
    assert two["opened_ts"].startswith("2025-11-25T14:05:00")  # opened by the flip
    assert isinstance(one["held_s"], int) and one["held_s"] > 86_400


def test_positions_filters_and_refusals(book: Path) -> None:
    rows = json.loads(invoke(book, "positions", "--json", "--account", "SIM-2").stdout)
    assert [r["account"] for r in rows] == ["SIM-2"]
    table = invoke(book, "positions", "--instrument", "MESZ5")
    assert table.exit_code == 0
    assert "SIM-1" in table.stdout and "marked at each contract's last fill price" in table.output
    unknown = invoke(book, "positions", "--account", "SIM-9")
    assert unknown.exit_code == 1
    assert "--account 'SIM-9': no fill has it; the data has SIM-1, SIM-2" in unknown.output


def test_pnl_daily_by_week_account_and_day_with_totals(book: Path) -> None:
    # Monday: gross 100, commission 5.58, net 94.42 (SIM-1); Tuesday: gross 60, commission
    # 4.34, net 55.66 (SIM-2); both in ISO week 48 of 2025.
    week = json.loads(invoke(book, "pnl", "daily", "--by", "week", "--json").stdout)
    assert [(r["week"], r["currency"], r["net_pnl"], r["sessions"]) for r in week] == [
        ("2025-W48", "USD", 150.08, 2),
        ("total", "USD", 150.08, 2),
    ]
    accounts = json.loads(invoke(book, "pnl", "daily", "--by", "account", "--json").stdout)
    assert [(r["account"], r["gross_pnl"], r["commission"]) for r in accounts] == [
        ("SIM-1", 100.0, 5.58),
        ("SIM-2", 60.0, 4.34),
        ("total", 160.0, 9.92),
    ]
    detail = json.loads(invoke(book, "pnl", "daily", "--json").stdout)
    assert round(sum(r["net_pnl"] for r in detail), 2) == accounts[-1]["net_pnl"] == 150.08
    table = invoke(book, "pnl", "daily")
    assert (
        "note: total net 150.08 USD (gross 160.00, commission 9.92) over 2 sessions; "
        "--by day|week|month|account|instrument for subtotals" in " ".join(table.output.split())
    )
    days = invoke(book, "pnl", "daily", "--by", "day", "--account", "SIM-2")
    assert days.exit_code == 0
    assert "2025-11-25" in days.stdout and "2025-11-24" not in days.stdout


def test_unknown_by_is_refused_in_one_line_and_empty_filters_say_so(book: Path) -> None:
    for args in (("pnl", "daily", "--by", "year"), ("stats", "--by", "minute")):
        result = invoke(book, *args)
        assert result.exit_code == 1, args
        (line,) = result.output.strip().splitlines()
        assert "is not a grouping; use one of" in line
    empty = invoke(book, "pnl", "daily", "--account", "SIM-1", "--from", "2025-12-01")
    assert empty.exit_code == 0
    assert empty.output.strip() == "note: no P&L rows for account SIM-1 from 2025-12-01"
    as_json = invoke(book, "pnl", "daily", "--account", "SIM-1", "--from", "2025-12-01", "--json")
    assert json.loads(as_json.stdout) == []
    unknown = invoke(book, "pnl", "daily", "--instrument", "ESZ5")
    assert unknown.exit_code == 1 and "the data has MESZ5" in unknown.output


def test_stats_by_weekday_shows_day_names(book: Path) -> None:
    # SIM-1 is still open; SIM-2's round trip closed (by the flip) on Tuesday.
    rows = json.loads(invoke(book, "stats", "--by", "weekday", "--json").stdout)
    assert [(r["key"], r["trades"]) for r in rows] == [("Tuesday", 1)]
