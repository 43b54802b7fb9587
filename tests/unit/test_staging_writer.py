from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from tradelake.landing import LandingStore
from tradelake.staging import Quarantine, StagingWriter
from tradelake.tables import TRADES_RAW


def _fills(prices: list[float], ids: list[str]) -> pl.DataFrame:
    n = len(prices)
    return pl.DataFrame(
        {
            "trade_id": [hash(i) & 0xFFFF for i in ids],
            "account": ["A1"] * n,
            "instrument": ["MESZ5@CME"] * n,
            "symbol": ["MESZ5"] * n,
            "root": ["MES"] * n,
            "exchange": ["CME"] * n,
            "timestamp": [datetime(2025, 11, 3 + i % 2, 15, 0, tzinfo=UTC) for i in range(n)],
            "side": ["buy"] * n,
            "qty": [1] * n,
            "price": prices,
            "commission": [0.62] * n,
            "exchange_id": ids,
            "order_id": [None] * n,
            "extra": ["{}"] * n,
        },
        schema_overrides={"order_id": pl.Utf8},
    )


def _stage(tmp: Path, writer: StagingWriter, frame: pl.DataFrame, payload: bytes) -> int:
    obj = LandingStore(str(tmp / "landing")).put(payload, source="atas", name="x.xlsx").obj
    return writer.stage(TRADES_RAW, frame, obj, Quarantine("trades_raw")).staged


def test_versions_identical_rows_add_nothing_corrections_bump(tmp_path: Path) -> None:
    writer = StagingWriter(tmp_path / "staging")
    assert _stage(tmp_path, writer, _fills([5000.0, 5001.0], ["e1", "e2"]), b"v1") == 2
    # Re-export: e1 identical, e2 corrected, e3 new.
    staged = _stage(tmp_path, writer, _fills([5000.0, 5001.25, 5002.0], ["e1", "e2", "e3"]), b"v2")
    assert staged == 2
    rows = writer.read("trades_raw").sort(["exchange_id", "version"])
    assert rows.select("exchange_id", "version", "price").rows() == [
        ("e1", 1, 5000.0),
        ("e2", 1, 5001.0),
        ("e2", 2, 5001.25),
        ("e3", 1, 5002.0),
    ]
    assert set(rows["source"]) == {"atas"} and rows["landing_id"].n_unique() == 2


def test_restaging_the_same_object_is_idempotent(tmp_path: Path) -> None:
    writer = StagingWriter(tmp_path / "staging")
    frame = _fills([5000.0, 5001.0], ["e1", "e2"])
    _stage(tmp_path, writer, frame, b"same")
    before = writer.read("trades_raw")
    _stage(tmp_path, writer, frame, b"same")  # e.g. re-run after a crash before the marker
    after = writer.read("trades_raw")
    assert before.sort("exchange_id").equals(after.sort("exchange_id"))
    assert len(writer.files("trades_raw")) == 2  # one file per date partition
    files = [str(p) for p in writer.files("trades_raw")]
    assert all("date=2025-11-0" in f and "source=atas" in f for f in files)


def test_quarantine_keeps_rows_and_reasons(tmp_path: Path) -> None:
    writer = StagingWriter(tmp_path / "staging")
    obj = LandingStore(str(tmp_path / "landing")).put(b"q", source="atas", name="q.xlsx").obj
    quarantine = Quarantine("trades_raw")
    quarantine.add(pl.DataFrame({"Price": ["abc"], "Volume": ["1"]}), "price: not a number 'abc'")
    result = writer.stage(TRADES_RAW, _fills([5000.0], ["e1"]), obj, quarantine)
    assert result.quarantined == 1
    assert result.quarantine_reasons == {"price: not a number 'abc'": 1}
    bad = writer.quarantined("trades_raw")
    assert bad.select("Price", "reason", "landing_id").row(0) == (
        "abc",
        "price: not a number 'abc'",
        obj.landing_id,
    )


def test_processed_marker(tmp_path: Path) -> None:
    writer = StagingWriter(tmp_path)
    assert not writer.is_processed("abc")
    writer.mark_processed("abc", {"trades_raw": 3})
    assert writer.is_processed("abc")
