"""The Airflow task callables without Airflow: each is one Platform call, and its summary (the
task's XCom) carries what the CLI would print as a warning or an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.atas import export
from tradelake.airflow import tasks


def test_ingest_input_reports_the_fallback_zone_warning_and_is_a_no_op_the_second_time(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRADELAKE_SOURCES__ATAS__TIMEZONE", raising=False)
    (home / "input").mkdir()
    (home / "input" / "a.xlsx").write_bytes(export(fills=60, seed=81)[0])

    first = tasks.ingest_input(str(home))
    assert first["files"] == {"ingested": 1}
    (warning,) = first["warnings"]
    assert warning.startswith("a.xlsx: no time zone is configured for ATAS"), warning
    assert "trades" in first["refreshed"]

    again = tasks.ingest_input(str(home))
    assert again == {"files": {"duplicate": 1}, "refreshed": [], "warnings": []}


def test_ingest_input_fails_the_task_naming_the_file_that_failed(home: Path) -> None:
    (home / "input").mkdir()
    (home / "input" / "broken.xlsx").write_bytes(b"account;price\nA;1\n")
    with pytest.raises(tasks.TaskFailed, match=r"1 files failed: .*broken\.xlsx"):
        tasks.ingest_input(str(home))
