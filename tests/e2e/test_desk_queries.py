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
