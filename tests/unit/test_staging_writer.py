from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from tradelake.landing import LandingStore
from tradelake.staging import Quarantine, StagingWriter
from tradelake.staging.recent import RecentParts
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
    assert len(writer.files("trades_raw")) == 1  # one file per (object, month): both in November
    files = [str(p) for p in writer.files("trades_raw")]
    assert all("month=2025-11" in f and "source=atas" in f for f in files)


def test_partitions_span_what_the_table_says_and_older_spans_stay_readable(
    tmp_path: Path,
) -> None:
    writer = StagingWriter(tmp_path / "staging")
    landing = LandingStore(str(tmp_path / "landing"))
    frame = _fills([5000.0, 5001.0, 5002.0], ["e1", "e2", "e3"]).with_columns(
        timestamp=pl.Series(
            [datetime(2025, 10, 31, 23, tzinfo=UTC), datetime(2025, 11, 1, tzinfo=UTC),
             datetime(2025, 11, 30, tzinfo=UTC)]
        )
    )  # fmt: skip
    monthly = landing.put(b"m", source="atas", name="m.xlsx").obj
    writer.stage(TRADES_RAW, frame, monthly, Quarantine("trades_raw"))
    daily_spec = replace(TRADES_RAW, partition="day")  # e.g. files staged before the change
    daily = landing.put(b"d", source="atas", name="d.xlsx").obj
    writer.stage(daily_spec, frame.with_columns(price=pl.lit(4000.0)), daily, Quarantine("t"))
    folders = sorted(p.parent.parent.name for p in writer.files("trades_raw"))
    assert folders == [
        "date=2025-10-31", "date=2025-11-01", "date=2025-11-30", "month=2025-10", "month=2025-11",
    ]  # fmt: skip
    assert writer.read("trades_raw").height == 6


def test_quarantine_keeps_rows_and_reasons(tmp_path: Path) -> None:
    writer = StagingWriter(tmp_path / "staging")
    obj = LandingStore(str(tmp_path / "landing")).put(b"q", source="atas", name="q.xlsx").obj
    quarantine = Quarantine("trades_raw")
    rows = pl.DataFrame({"Price": ["abc"], "Volume": ["1"]})
    quarantine.add(rows, "price: not a number 'abc'", rule="unparseable")
    result = writer.stage(TRADES_RAW, _fills([5000.0], ["e1"]), obj, quarantine)
    assert result.quarantined == 1
    assert result.quarantine_reasons == {"price: not a number 'abc'": 1}
    assert result.quarantine_rules == {"unparseable": 1}
    bad = writer.quarantined("trades_raw")
    assert bad.select("Price", "rule", "reason", "landing_id").row(0) == (
        "abc",
        "unparseable",
        "price: not a number 'abc'",
        obj.landing_id,
    )


def test_processed_marker(tmp_path: Path) -> None:
    writer = StagingWriter(tmp_path)
    assert not writer.is_processed("abc")
    writer.mark_processed("abc", {"trades_raw": 3})
    assert writer.is_processed("abc")


def _columns() -> list[str]:
    return list(TRADES_RAW.schema)


def test_rows_just_staged_are_read_back_from_memory_while_the_file_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = StagingWriter(tmp_path / "staging")
    _stage(tmp_path, writer, _fills([100.0, 101.0], ["e1", "e2"]), b"one")
    files = writer.files("trades_raw")
    expected = pl.read_parquet(files).sort("exchange_id")
    reads: list[object] = []
    real = pl.read_parquet
    monkeypatch.setattr(pl, "read_parquet", lambda *a, **k: reads.append(a) or real(*a, **k))

    got = writer.read_files(files, _columns()).sort("exchange_id")
    assert got.equals(expected) and reads == []  # all from memory

    # Another process rewrites one partition: that file is read from disk, the other is not.
    other = StagingWriter(tmp_path / "staging")
    _stage(tmp_path, other, _fills([100.0, 101.0], ["e1", "e2"]), b"one")
    got = writer.read_files(files, _columns()).sort("exchange_id")
    assert got.equals(expected) and len(reads) == 1


def test_remembered_rows_are_bounded_oldest_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = pl.DataFrame({"x": list(range(10))})  # 80 bytes
    recent = RecentParts(max_bytes=small.estimated_size() * 2 + 40)
    paths = [tmp_path / f"{i}.parquet" for i in range(4)]
    for i, path in enumerate(paths):
        frame = small if i < 3 else pl.DataFrame({"x": list(range(30))})
        frame.write_parquet(path)
        recent.remember(path, frame)  # the last one is larger than the bound: not kept
    disk: list[object] = []
    real = pl.read_parquet
    monkeypatch.setattr(
        pl, "read_parquet", lambda files, **k: disk.append(files) or real(files, **k)
    )
    assert recent.read(paths[1:3], ["x"]).height == 20 and disk == []
    # The first file went out when the third came in (3 x 80 > 200), the big one never came in.
    assert recent.read([paths[0], paths[3]], ["x"]).height == 40
    assert disk == [[str(paths[0]), str(paths[3])]]


def test_writes_behind_land_on_flush_and_a_closing_block_writes_in_place(tmp_path: Path) -> None:
    writer = StagingWriter(tmp_path / "staging")
    landing = LandingStore(str(tmp_path / "landing"))
    first = landing.put(b"one", source="atas", name="a.xlsx").obj
    second = landing.put(b"two", source="atas", name="b.xlsx").obj
    with writer.writing_behind():
        writer.stage(TRADES_RAW, _fills([100.0], ["e1"]), first, Quarantine("trades_raw"))
        writer.mark_processed(first.landing_id, {})
        assert writer.is_processed(first.landing_id)  # deferred, but known
        assert len(writer.files("trades_raw")) == 1  # in flight counts
        assert writer.flush() == {}
        # Written, but marked only when the block ends (after the refresh that serves it).
        assert Path(writer.files("trades_raw")[0]).exists()
        assert not (writer.root / "_state" / "processed" / f"{first.landing_id}.json").exists()
        assert writer.is_processed(first.landing_id)
        # The block is ending (another thread still staging): that stage writes in place.
        behind = writer._behind
        assert behind is not None
        behind.closed = True
        result = writer.stage(TRADES_RAW, _fills([101.0], ["e2"]), second, Quarantine("t"))
        assert all(Path(f).exists() for f in result.files)
        writer.mark_processed(second.landing_id, {})
        assert (writer.root / "_state" / "processed" / f"{second.landing_id}.json").exists()
    assert writer.read("trades_raw").height == 2
    assert (writer.root / "_state" / "processed" / f"{first.landing_id}.json").exists()


def test_a_block_left_by_an_error_writes_no_deferred_marker(tmp_path: Path) -> None:
    """A refresh that fails inside the block leaves the object unmarked: staged again next."""
    writer = StagingWriter(tmp_path / "staging")
    obj = LandingStore(str(tmp_path / "landing")).put(b"one", source="atas", name="a.xlsx").obj
    with pytest.raises(RuntimeError, match="refresh failed"), writer.writing_behind():
        writer.stage(TRADES_RAW, _fills([100.0], ["e1"]), obj, Quarantine("trades_raw"))
        writer.mark_processed(obj.landing_id, {})
        raise RuntimeError("refresh failed")
    assert writer.read("trades_raw").height == 1
    assert not writer.is_processed(obj.landing_id)
