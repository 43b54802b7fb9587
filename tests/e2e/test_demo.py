"""tradelake demo tells its story: what went in, what was caught and why (planted, never a red
error line), one net total that `pnl daily` agrees with, the open positions, what to try."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from e2e.helpers import json_out, run_cli

FILLS = "300"


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo") / "home"


def test_demo_tells_what_was_caught_the_total_and_the_positions(demo_home: Path) -> None:
    result = run_cli("demo", "--home", str(demo_home), "--fills", FILLS, timeout=300)
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "error:" not in result.stderr and "error:" not in result.stdout
    assert "What the checks caught (problems planted in the demo data to show them):" in out
    assert (
        "journal-en (1).xlsx: the same bytes as journal-en.xlsx, dropped twice: recognised by "
        "content and not ingested again" in out
    )
    assert "journal-export.xlsx: a CSV file renamed to .xlsx: refused (" in out
    assert (
        "journal-en-corrected.xlsx: a corrected re-export of journal-en.xlsx: the 1 fill it "
        "changed became version 2" in out
    )
    assert re.search(
        r"quarantine: \d+ bad rows over the exports kept aside .* exact_duplicate", out
    )
    assert re.search(
        r"Reconciliation: all [\d,]+ closed trades of the ATAS Journal sheet match", out
    )
    net = re.search(r"Net total: (-?[\d,]+\.\d\d) USD", out)
    assert net, out
    daily = json_out(run_cli("pnl", "daily", "--home", str(demo_home), "--json"))
    assert float(net.group(1).replace(",", "")) == pytest.approx(
        sum(row["net_pnl"] for row in daily), abs=0.005
    )
    positions = json_out(run_cli("positions", "--home", str(demo_home), "--json"))
    if positions:
        assert f"{len(positions)} positions are still open (not in the net total)" in out
    else:
        assert "No open positions" in out
    assert "Try next: tradelake positions --home" in out
    assert "(needs pip install 'tradelake[stream]')" in out  # not eaten as rich markup


def test_demo_json_totals_agree_with_pnl_daily(demo_home: Path) -> None:
    """A second run on the same home: every export is a duplicate now, the story the same."""
    result = run_cli("demo", "--home", str(demo_home), "--fills", FILLS, "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    story = json_out(result)
    assert [f["status"] for f in story["files"]] == ["duplicate"] * 4 + ["error"]
    (total,) = story["totals"]
    by_day = json_out(run_cli("pnl", "daily", "--by", "day", "--home", str(demo_home), "--json"))
    assert by_day[-1] == total and total["day"] == "total"
    daily = json_out(run_cli("pnl", "daily", "--home", str(demo_home), "--json"))
    assert total["net_pnl"] == pytest.approx(sum(r["net_pnl"] for r in daily), abs=0.005)
    assert total["fills"] == sum(r["fills"] for r in daily)
    positions = json_out(run_cli("positions", "--home", str(demo_home), "--json"))
    assert [(p["account"], p["symbol"], p["qty"]) for p in story["open_positions"]] == [
        (p["account"], p["symbol"], p["qty"]) for p in positions
    ]
    assert story["reconciliation"] == {"matched": story["round_trips"]["closed"]}
