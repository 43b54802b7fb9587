"""The ATAS path as a user runs it: ``tradelake ingest`` → tables they can trust."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.helpers import (
    assert_same_tables,
    json_out,
    run_cli,
    snapshot,
    staged_files,
)
from fixtures.atas import export
from tradelake.platform import Platform
from tradelake.sources import atas_samples

TZ = "Europe/Paris"


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A messy English export, its corrected re-export, a French export and broken files."""
    folder = tmp_path_factory.mktemp("exports")
    files = {
        "en": export(fills=600, seed=21, timezone=TZ, mess=True)[0],
        "en_fixed": export(fills=600, seed=21, timezone=TZ, mess=True, correction="price")[0],
        "fr": export(fills=400, seed=22, language="fr", timezone=TZ, mess=True)[0],
        "csv": atas_samples.csv_renamed("en"),
        "truncated": atas_samples.truncated(export(fills=50, seed=5)[0]),
    }
    paths = {}
    for key, data in files.items():
        paths[key] = folder / f"{key}.xlsx"
        paths[key].write_bytes(data)
    return paths


def test_ingest_reports_each_file_and_exit_code(exports: dict[str, Path], home: Path) -> None:
    result = run_cli(
        "ingest", str(exports["en"]), str(exports["csv"]), str(exports["truncated"]),
        str(exports["fr"]), "--home", str(home), "--tz", TZ, "--json",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    rows = {Path(r["path"]).stem: r for r in json_out(result)}
    assert [rows[k]["status"] for k in ("en", "csv", "truncated", "fr")] == [
        "ingested", "error", "error", "ingested",
    ]  # fmt: skip
    assert rows["en"]["rows"] > 600 and rows["en"]["quarantined"] > 0
    for broken in ("csv", "truncated"):
        error = rows[broken]["error"]
        assert "\n" not in error and f"{broken}.xlsx" in error
    assert "CSV" in rows["csv"]["error"]
    assert len(rows["en"]["landing_id"]) == 64

    again = run_cli("ingest", str(exports["en"]), "--home", str(home), "--json")
    assert again.returncode == 0
    assert json_out(again)[0]["status"] == "duplicate"

    pnl = run_cli("pnl", "daily", "--home", str(home), "--json")
    rows_pnl = json_out(pnl)
    assert pnl.returncode == 0 and rows_pnl
    assert set(rows_pnl[0]) == {
        "session_date", "account", "instrument", "gross_pnl", "commission", "net_pnl",
        "fills", "round_trips",
    }  # fmt: skip
    for row in rows_pnl:
        # each amount is rounded to cents on its own, so the identity holds to a cent
        assert row["net_pnl"] == pytest.approx(row["gross_pnl"] - row["commission"], abs=0.011)


def test_same_file_twenty_times_gives_the_same_tables(exports: dict[str, Path], home: Path) -> None:
    platform = Platform.open(home)
    first = platform.ingest([exports["en"]], tz=TZ)
    assert [r.status for r in first.files] == ["ingested"]
    tables, files = snapshot(home), staged_files(home)
    for _ in range(19):
        report = Platform.open(home).ingest([exports["en"]], tz=TZ)
        assert [r.status for r in report.files] == ["duplicate"]
    assert_same_tables(tables, snapshot(home))
    assert staged_files(home) == files
    assert len(Platform.open(home).landing.list()) == 1


def test_corrected_reexport_becomes_version_two(exports: dict[str, Path], home: Path) -> None:
    platform = Platform.open(home)
    platform.ingest([exports["en"]], tz=TZ)
    before = platform.sql("SELECT count(*) AS n FROM trades").item()
    report = platform.ingest([exports["en_fixed"]], tz=TZ)
    assert report.files[0].tables["trades_raw"].staged == 1  # only the corrected fill
    versions = platform.sql(
        "SELECT version, count(*) AS n FROM staging.trades_raw GROUP BY 1 ORDER BY 1"
    ).rows()
    assert versions == [(1, before), (2, 1)]
    assert platform.sql("SELECT count(*) FROM trades").item() == before
    assert platform.sql("SELECT max(version) FROM trades").item() == 2


def test_replay_rebuilds_identical_tables(exports: dict[str, Path], home: Path) -> None:
    platform = Platform.open(home)
    platform.ingest([exports["en"], exports["fr"], exports["csv"]], tz=TZ)
    platform.ingest([exports["en_fixed"]], tz=TZ)
    before = snapshot(home)
    result = run_cli("replay", "--home", str(home), "--json")
    assert result.returncode == 0, result.stderr
    payload = json_out(result)
    assert payload["objects"] == 4 and len(payload["errors"]) == 1  # the CSV stays an error
    assert_same_tables(before, snapshot(home))


CRASH_POINTS = (
    "after_landing",
    "after_stage:trades_raw",
    "after_stage:atas_journal",
    "after_marker",
    "before_refresh",
)


@pytest.mark.slow
def test_crash_anywhere_then_rerun_equals_a_clean_run(
    exports: dict[str, Path], tmp_path: Path
) -> None:
    files = [str(exports["en"]), str(exports["fr"])]
    clean = tmp_path / "clean"
    assert run_cli("ingest", *files, "--home", str(clean), "--tz", TZ).returncode == 0
    expected = snapshot(clean)
    for point in CRASH_POINTS:
        home = tmp_path / point.replace(":", "_")
        crashed = run_cli(
            "ingest", *files, "--home", str(home), "--tz", TZ,
            env={"TRADELAKE_CRASH_AT": point},
        )  # fmt: skip
        assert crashed.returncode == 137, (point, crashed.stderr)
        rerun = run_cli("ingest", *files, "--home", str(home), "--tz", TZ)
        assert rerun.returncode == 0, (point, rerun.stderr)
        assert_same_tables(expected, snapshot(home))
        assert staged_files(home) == staged_files(clean), point


@pytest.mark.slow
def test_sigkill_during_ingest_then_rerun_equals_a_clean_run(
    exports: dict[str, Path], tmp_path: Path
) -> None:
    """A real SIGKILL at several moments (not only at named points)."""
    import signal
    import subprocess
    import sys
    import time

    files = [str(exports["en"]), str(exports["fr"]), str(exports["en_fixed"])]
    clean = tmp_path / "clean"
    assert run_cli("ingest", *files, "--home", str(clean), "--tz", TZ).returncode == 0
    expected = snapshot(clean)
    for delay in (0.8, 1.6, 2.4):
        home = tmp_path / f"kill-{delay}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "tradelake", "ingest", *files, "--home", str(home), "--tz", TZ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        rerun = run_cli("ingest", *files, "--home", str(home), "--tz", TZ)
        assert rerun.returncode == 0, rerun.stderr
        assert_same_tables(expected, snapshot(home))
        assert list(home.rglob(".*.tmp")) == []  # what the kill left half-written is swept


def test_progress_counts_files_in_folders_and_reports_each_stage(tmp_path: Path) -> None:
    """Two arguments, one a folder of two exports: three files, each read, parsed and staged,
    then the refresh (what the bar shows: it once read 6/2 for two folders)."""
    home, folder = tmp_path / "home", tmp_path / "drop" / "sub"
    folder.mkdir(parents=True)
    (tmp_path / "drop" / "a.xlsx").write_bytes(export(fills=60, seed=71)[0])
    for name, seed in (("b.xlsx", 72), ("c.xlsx", 73)):
        (folder / name).write_bytes(export(fills=60, seed=seed)[0])
    done: list[str] = []
    steps: list[str] = []
    report = Platform.open(home).ingest(
        [tmp_path / "drop" / "a.xlsx", folder],
        tz="UTC",
        progress=done.append,
        stages=lambda label, _fraction: steps.append(label),
    )
    assert [r.status for r in report.files] == ["ingested"] * 3
    assert [Path(p).name for p in done] == ["a.xlsx", "b.xlsx", "c.xlsx"]
    assert steps == [
        *(f"{step} {name}" for name in ("a.xlsx", "b.xlsx", "c.xlsx")
          for step in ("reading", "parsing", "staging")),
        "refreshing the feature store", "writing staged files",
    ]  # fmt: skip
