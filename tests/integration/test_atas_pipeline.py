"""The ATAS path through every layer, checked against hand-computed and generated truth."""

from __future__ import annotations

import json
import zipfile
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from fixtures.atas import EXECUTIONS_EN, export, fill, ingest_export, workbook
from tradelake.errors import ValidationError
from tradelake.jobs.watch import FolderWatcher
from tradelake.platform import Platform
from tradelake.staging import writer as writer_module


def test_daily_pnl_of_a_position_held_across_the_session_open(home: Path) -> None:
    """Hand-computed: MES point value 5 USD, commission 0.62 per fill, Chicago export.

    Buy 2 @ 6000.00 Mon 16:30 CT (Monday's session); sell 1 @ 6002.00 Mon 17:30 CT (after the
    17:00 open, so Tuesday's session); sell 1 @ 5999.00 Tue 09:00 CT (Tuesday's session).
    FIFO: lot 1 +2.00 × 5 = 10.00, lot 2 -1.00 × 5 = -5.00, both realised on Tuesday.
    """
    rows = [
        fill(direction="Buy", volume=2, price=6000.0, time=datetime(2025, 11, 24, 16, 30),
             exchange_id="E1", commission=0.62),
        fill(direction="Sell", volume=1, price=6002.0, time=datetime(2025, 11, 24, 17, 30),
             exchange_id="E2", commission=0.62),
        fill(direction="Sell", volume=1, price=5999.0, time=datetime(2025, 11, 25, 9, 0),
             exchange_id="E3", commission=0.62),
    ]  # fmt: skip
    data = workbook({"Executions": [list(EXECUTIONS_EN), *rows]})
    platform = ingest_export(home, "hand.xlsx", data, "America/Chicago")
    daily = platform.daily_pnl()
    assert daily.select("session_date", "gross_pnl", "commission", "net_pnl", "fills",
                        "round_trips").rows() == [
        (date(2025, 11, 24), 0.0, pytest.approx(0.62), pytest.approx(-0.62), 1, 0),
        (date(2025, 11, 25), pytest.approx(5.0), pytest.approx(1.24), pytest.approx(3.76), 2, 1),
    ]  # fmt: skip
    trip = platform.sql("SELECT * FROM round_trips").row(0, named=True)
    assert trip["direction"] == "long" and trip["gross_pnl"] == pytest.approx(5.0)
    assert trip["open_ts"].isoformat().startswith("2025-11-24T22:30:00")  # 16:30 CST = 22:30 UTC


def test_clean_export_reconciles_with_its_journal_and_matches_truth(home: Path) -> None:
    data, truth = export(fills=800, seed=31, timezone="America/New_York")
    platform = ingest_export(home, "clean.xlsx", data, "America/New_York")
    trades = platform.sql("SELECT exchange_id, timestamp, qty, price FROM trades")
    expected = truth.fills.select("exchange_id", "timestamp", "qty", "price")
    assert trades.sort("exchange_id").equals(expected.sort("exchange_id"))
    statuses = platform.sql("SELECT status, count(*) FROM journal_reconciliation GROUP BY 1").rows()
    assert statuses == [("matched", truth.journal.filter(pl.col("close_ts").is_not_null()).height)]
    # Realised P&L adds up across tables; commissions of still-open lots count in daily_pnl only.
    gross = platform.sql("SELECT sum(gross_pnl) FROM daily_pnl").item()
    assert gross == pytest.approx(platform.sql("SELECT sum(gross_pnl) FROM round_trips").item())
    commission = platform.sql("SELECT sum(commission) FROM daily_pnl").item()
    assert commission == pytest.approx(truth.fills["commission"].sum())


def test_bad_rows_are_quarantined_with_reasons_never_dropped(home: Path) -> None:
    data, truth = export(fills=500, seed=32, timezone="Europe/Paris", mess=True)
    platform = ingest_export(home, "messy.xlsx", data, "Europe/Paris")
    quarantined = platform.staging.quarantined("trades_raw")
    assert quarantined.height >= truth.rejects.filter(pl.col("table") == "trades_raw").height > 0
    assert quarantined["reason"].null_count() == 0
    staged = platform.sql("SELECT count(*) FROM staging.trades_raw").item()
    report_rows = Platform.open(home).staging.read("trades_raw").height
    assert staged == report_rows


def test_watcher_never_hands_out_a_half_written_workbook(tmp_path: Path) -> None:
    data, _ = export(fills=100, seed=33)
    target = tmp_path / "drop.xlsx"
    watcher = FolderWatcher(tmp_path, settle_s=0.5)
    target.write_bytes(data[: len(data) // 2])  # the copy is still running
    assert watcher.ready(now=0.0) == []
    assert watcher.ready(now=1.0) == []  # stable size but no zip end record yet
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(target)
    target.write_bytes(data)  # the copy finished
    assert watcher.ready(now=2.0) == []  # changed: wait for it to settle
    assert watcher.ready(now=3.0) == [target]
    assert watcher.ready(now=4.0) == []  # handed out once
    (tmp_path / "~$drop.xlsx").write_bytes(b"lock")
    assert watcher.ready(now=5.0) == [] and watcher.ready(now=6.0) == []


def test_a_journal_staged_early_is_removed_when_the_executions_sheet_fails(home: Path) -> None:
    """The Journal sheet is staged while Executions still loads; a broken Executions sheet
    must leave nothing of the file in staging, and the file's error says what to do."""
    data, truth = export(fills=300, seed=8, drop_columns=("price",))
    assert truth.journal.height > 0
    path = home / "no-price.xlsx"
    path.write_bytes(data)
    platform = Platform.open(home)
    report = platform.ingest([path], tz="UTC")
    assert [r.status for r in report.files] == ["error"]
    assert "'Price' column" in (report.files[0].error or "")
    assert not list(platform.staging.root.rglob("*.parquet"))
    assert platform.sql("SELECT count(*) FROM journal").item() == 0
    # The fixed re-export then goes through as a new file.
    good, _ = export(fills=300, seed=8)
    fixed = ingest_export(home, "fixed.xlsx", good, "UTC")
    assert fixed.sql("SELECT count(*) FROM journal").item() == truth.journal.height


def _tables(platform: Platform) -> dict[str, pl.DataFrame]:
    tables = {}
    for name in ("trades", "journal", "round_trips", "daily_pnl", "journal_reconciliation"):
        frame = platform.sql(f"SELECT * FROM {name}").drop("ingest_ts", strict=False)
        tables[name] = frame.sort(frame.columns, nulls_last=True)
    return tables


def test_a_correction_in_the_same_batch_versions_against_rows_still_being_written(
    tmp_path: Path,
) -> None:
    """Partitions are written behind: the second file of a batch must still see the first's
    rows (from memory), a file given twice is a duplicate, and the tables equal those of
    ingesting the files one call at a time."""
    original, _ = export(fills=400, seed=11, timezone="UTC")
    corrected, _ = export(fills=400, seed=11, timezone="UTC", correction="price")
    paths = []
    for name, data in (("a.xlsx", original), ("b.xlsx", corrected)):
        paths.append(tmp_path / name)
        paths[-1].write_bytes(data)

    together = Platform.open(tmp_path / "together")
    report = together.ingest([paths[0], paths[1], paths[0]], tz="UTC")
    assert [r.status for r in report.files] == ["ingested", "ingested", "duplicate"]
    versions = together.sql("SELECT version, count(*) AS n FROM trades GROUP BY 1 ORDER BY 1")
    assert versions.rows() == [(1, versions["n"][0]), (2, 1)]

    apart = Platform.open(tmp_path / "apart")
    for path in paths:
        assert apart.ingest([path], tz="UTC").ok
    left, right = _tables(together), _tables(apart)
    assert all(left[name].equals(right[name]) for name in left)


def test_a_partition_that_cannot_be_written_fails_its_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tradelake.errors import StagingError
    from tradelake.staging import writer

    good, _ = export(fills=300, seed=12, timezone="UTC")
    other, _ = export(fills=300, seed=13, timezone="UTC")
    paths = [tmp_path / "good.xlsx", tmp_path / "other.xlsx"]
    paths[0].write_bytes(good)
    paths[1].write_bytes(other)
    platform = Platform.open(tmp_path / "home")
    doomed = platform.landing.put(other, source="atas", name="other.xlsx").obj.landing_id
    real = writer._atomic_write

    def disk_full(target: Path, frame: pl.DataFrame) -> Path:
        if doomed in target.name and "trades_raw" in target.parts:
            raise StagingError(f"could not write {target}: [Errno 28] No space left on device")
        return real(target, frame)

    monkeypatch.setattr(writer, "_atomic_write", disk_full)
    report = platform.ingest(paths, tz="UTC")
    assert [r.status for r in report.files] == ["ingested", "error"]
    assert "No space left on device" in (report.files[1].error or "")
    assert not platform.staging.is_processed(doomed)
    # The refresh was planned from memory, then redone from what is on disk.
    on_disk = platform.staging.read("trades_raw")
    assert platform.sql("SELECT count(*) FROM trades").item() == on_disk.height
    assert doomed not in set(on_disk["landing_id"])

    monkeypatch.setattr(writer, "_atomic_write", real)
    again = platform.ingest(paths, tz="UTC")
    assert [r.status for r in again.files] == ["duplicate", "ingested"]
    clean = Platform.open(tmp_path / "clean")
    assert clean.ingest(paths, tz="UTC").ok
    left, right = _tables(platform), _tables(clean)
    assert all(left[name].equals(right[name]) for name in left)


def test_each_ingest_records_its_data_quality_result(home: Path) -> None:
    """DESIGN §5: rows in, passed and quarantined by rule, per landing object and table."""
    data, _ = export(fills=500, seed=33, timezone="UTC", mess=True)
    platform = ingest_export(home, "messy.xlsx", data, "UTC")
    quality = platform.sql("SELECT * FROM data_quality ORDER BY table_name")
    assert quality["table_name"].to_list() == ["atas_journal", "trades_raw"]
    for row in quality.iter_rows(named=True):
        quarantined = platform.staging.quarantined(row["table_name"])
        assert row["quarantined"] == quarantined.height > 0
        assert row["rows_in"] == row["passed"] + row["quarantined"]
        assert row["staged"] + row["unchanged"] == row["passed"]
        by_rule = quarantined.group_by("rule").len().rows()
        assert json.loads(row["quarantined_by_rule"]) == dict(by_rule)

    # The same file again adds no result; a corrected re-export says what changed.
    assert platform.ingest([home / "messy.xlsx"], tz="UTC").files[0].status == "duplicate"
    corrected, _ = export(fills=500, seed=33, timezone="UTC", mess=True, correction="price")
    platform = ingest_export(home, "corrected.xlsx", corrected, "UTC")
    quality = platform.sql(
        "SELECT original_name, staged, unchanged FROM data_quality "
        "WHERE table_name = 'trades_raw' ORDER BY ingest_ts"
    )
    assert quality["original_name"].to_list() == ["messy.xlsx", "corrected.xlsx"]
    assert quality.row(1)[1:] == (1, quality.row(0)[1] - 1)


def test_a_broken_table_contract_fails_the_file_and_stages_nothing(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staging checks the contract beside its writes; when it fails (a parser or rule bug), the
    file is an error, its staged rows are removed and it is not marked processed."""

    def broken(spec: object, frame: object) -> None:
        raise ValidationError("trades_raw rows break the table contract (test)")

    monkeypatch.setattr(writer_module, "check_contract", broken)
    data, truth = export(fills=300, seed=48)
    path = home / "x.xlsx"
    path.write_bytes(data)
    platform = Platform.open(home)
    report = platform.ingest([path])
    (result,) = report.files
    assert result.status == "error"
    assert "break the table contract (test)" in (result.error or "")
    assert platform.staging.files("trades_raw") == []
    assert platform.staging.files("atas_journal") == []
    assert platform.sql("SELECT count(*) FROM trades").item() == 0
    assert platform.sql("SELECT count(*) FROM round_trips").item() == 0
    monkeypatch.undo()
    (result,) = Platform.open(home).ingest([path]).files
    assert result.status == "ingested"
    assert platform.sql("SELECT count(*) FROM trades").item() == truth.fills.height
