"""init, sql (read-only), watch and help, as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from e2e.helpers import json_out, run_cli
from fixtures.atas import export


def test_init_writes_a_commented_config_and_refuses_to_clobber(home: Path) -> None:
    first = run_cli("init", "--home", str(home))
    assert first.returncode == 0, first.stderr
    text = (home / "tradelake.toml").read_text()
    assert "[sources.atas]" in text and "timezone" in text and text.count("#") > 5
    assert (home / "input").is_dir()
    second = run_cli("init", "--home", str(home))
    assert second.returncode == 1 and "--force" in second.stderr
    assert "Traceback" not in second.stderr


def test_sql_is_read_only_and_prints_json(home: Path) -> None:
    data, truth = export(fills=200, seed=41)
    (home / "a.xlsx").write_bytes(data)
    assert run_cli("ingest", str(home / "a.xlsx"), "--home", str(home)).returncode == 0
    count = run_cli("sql", "SELECT count(*) AS n FROM trades", "--home", str(home), "--json")
    assert json_out(count) == [{"n": truth.fills.height}]
    write = run_cli("sql", "CREATE TABLE hack AS SELECT 1", "--home", str(home))
    assert write.returncode == 1
    assert "read-only" in write.stderr.lower() and "Traceback" not in write.stderr
    after = run_cli("sql", "SELECT count(*) AS n FROM trades", "--home", str(home), "--json")
    assert json_out(after) == [{"n": truth.fills.height}]


def test_quality_lists_each_file_and_table_with_rejections_by_rule(home: Path) -> None:
    clean, _ = export(fills=200, seed=42)
    messy, _ = export(fills=300, seed=43, mess=True)
    (home / "clean.xlsx").write_bytes(clean)
    (home / "messy.xlsx").write_bytes(messy)
    assert run_cli("ingest", str(home / "clean.xlsx"), "--home", str(home)).returncode == 0
    assert run_cli("ingest", str(home / "messy.xlsx"), "--home", str(home)).returncode == 0
    every = json_out(run_cli("quality", "--home", str(home), "--json"))
    assert {(r["original_name"], r["table_name"]) for r in every} == {
        (name, table) for name in ("clean.xlsx", "messy.xlsx")
        for table in ("trades_raw", "atas_journal")
    }  # fmt: skip
    rejected = json_out(run_cli("quality", "--rejected", "--home", str(home), "--json"))
    assert rejected and {r["original_name"] for r in rejected} == {"messy.xlsx"}
    for row in rejected:
        assert isinstance(row["quarantined_by_rule"], dict)  # an object, not JSON in a string
        assert sum(row["quarantined_by_rule"].values()) == row["quarantined"] > 0
    people = run_cli("quality", "--home", str(home), "--last", "2")
    assert people.returncode == 0 and "messy.xlsx" in people.stdout


def test_commands_without_a_store_say_what_to_do(home: Path) -> None:
    result = run_cli("pnl", "daily", "--home", str(home))
    assert result.returncode == 1
    assert "tradelake ingest" in result.stderr and "Traceback" not in result.stderr


def test_help_lists_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    commands = ("ingest", "watch", "replay", "pnl", "stats", "quality", "sql", "demo", "pull")
    for command in (*commands, "status"):
        assert command in result.stdout


@pytest.mark.slow
def test_watch_ingests_a_dropped_file_once_and_stops_on_sigterm(home: Path) -> None:
    data, truth = export(fills=150, seed=42)
    inbox = home / "input"
    inbox.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradelake", "watch", "--home", str(home), "--settle", "0.3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        (inbox / "drop.xlsx").write_bytes(data)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (home / "staging" / "_state").exists():
            time.sleep(0.2)
        time.sleep(1.5)  # several more polls: the file must not be ingested again
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.count("drop.xlsx") == 1, out
    count = run_cli("sql", "SELECT count(*) AS n FROM trades", "--home", str(home), "--json")
    assert json_out(count) == [{"n": truth.fills.height}]


def test_untrusted_file_names_are_printed_escaped(home: Path) -> None:
    name = "evil\x1b[2J\x1b]0;pwned\x07\nline.xlsx"
    path = home / name
    path.write_bytes(b"a,b\n1,2\n")  # a CSV renamed .xlsx: refused, so its name is printed
    wide = {"COLUMNS": "300"}

    people = run_cli("ingest", str(path), "--home", str(home), env=wide)

    assert people.returncode == 2
    shown = people.stdout + people.stderr
    assert "\x1b" not in shown and "\x07" not in shown and "\nline" not in shown
    assert "evil\\x1b[2J\\x1b]0;pwned\\x07\\nline.xlsx" in people.stderr  # the error line
    assert "evil\\x1b[2J" in people.stdout  # the table
    machine = run_cli("ingest", str(path), "--home", str(home), "--json", env=wide)
    assert "\x1b" not in machine.stdout and "\\u001b[2J" in machine.stdout
    (row,) = json.loads(machine.stdout)
    assert row["path"] == str(path)  # JSON escapes, and the name is kept exactly


def test_a_folder_named_like_an_export_fails_the_ingest_with_one_line(home: Path) -> None:
    (home / "x.xlsx").mkdir()

    result = run_cli("ingest", str(home / "x.xlsx"), "--home", str(home))

    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {home / 'x.xlsx'} is a folder, not a file; pass the export "
                      "itself (or the folder that holds it)."]  # fmt: skip
    assert "Traceback" not in result.stderr


# Another writer: it holds the data home's write lock (tradelake.write_lock) until told to stop.
LOCK_HOLDER = (
    "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
    "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.readline()"
)


@pytest.mark.slow
def test_watch_waits_for_a_busy_store_and_goes_on(home: Path) -> None:
    """Issue 10 item 6: a file arriving while another process holds the store is retried."""
    data, truth = export(fills=150, seed=44)
    (home / "tradelake.toml").write_text(
        "[watch]\nsettle_s = 0.2\nretry_s = 0.5\n[features]\nlock_timeout = 0.3\n"
    )
    inbox = home / "input"
    inbox.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(home / ".tradelake.lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradelake", "watch", "--home", str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    lines: list[str] = []
    stdout = proc.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")))
    reader.start()
    try:
        (inbox / "drop.xlsx").write_bytes(data)
        _wait_for(lambda: sum("not ingested yet" in line for line in lines) >= 2)
        holder.communicate("\n", timeout=30)  # the other process closes the store
        _wait_for(lambda: _has_trades(home))
    finally:
        holder.kill()
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=30)[1]
        reader.join(timeout=10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    waits = [line for line in lines if "not ingested yet" in line]
    assert all("drop.xlsx" in line and "trying again in 0.5 s" in line for line in waits), waits
    count = run_cli("sql", "SELECT count(*) AS n FROM trades", "--home", str(home), "--json")
    assert json_out(count) == [{"n": truth.fills.height}]


def _wait_for(condition: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _has_trades(home: Path) -> bool:
    result = run_cli("sql", "SELECT count(*) AS n FROM trades", "--home", str(home), "--json")
    return result.returncode == 0 and json_out(result)[0]["n"] > 0
