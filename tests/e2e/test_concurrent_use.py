"""Concurrent use, as users cause it: two ``tradelake ingest`` processes and a reader at once,
a ``replay`` killed with SIGKILL, a data home moved elsewhere (issue 10, items 4, 5, 8, 9).
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from e2e.helpers import assert_same_tables, json_out, run_cli, snapshot
from fixtures.atas import export
from tradelake.errors import TransientError
from tradelake.features import catalog
from tradelake.jobs.ingest import ingest_paths
from tradelake.platform import Platform
from tradelake.write_lock import LOCK_FILE, WriteLock, WriteLockTimeout

TZ = "Europe/Paris"

# Reads in a loop until told to stop; records every answer and every failure.
READER = """
import json, sys, time
from pathlib import Path
from tradelake.platform import Platform
home, stop, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
counts, failures = [], []
while not stop.exists():
    try:
        platform = Platform.open(home)
        counts.append(platform.sql("SELECT count(*) FROM trades").item())
        platform.daily_pnl()
    except Exception as exc:
        failures.append(f"{type(exc).__name__}: {exc}")
    time.sleep(0.005)
out.write_text(json.dumps({"counts": counts, "failures": failures}))
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADELAKE_")}
    env.update(extra)
    return env


def _start(args: list[str], **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(**env),
    )


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def test_two_ingests_and_a_reader_side_by_side_serve_both_files_and_never_fail(
    home: Path, tmp_path: Path
) -> None:
    first, truth0 = export(fills=300, seed=61, timezone=TZ)
    Platform.open(home).ingest([_write(tmp_path, "base.xlsx", first)], tz=TZ)
    a, truth_a = export(fills=600, seed=62, timezone=TZ)
    b, truth_b = export(fills=600, seed=63, timezone=TZ)
    paths = [_write(tmp_path, "a.xlsx", a), _write(tmp_path, "b.xlsx", b)]
    stop, out = tmp_path / "stop", tmp_path / "reads.json"
    reader = _start(["-c", READER, str(home), str(stop), str(out)])
    # Hold the home's lock until both have started and wait for it, so their writes really
    # overlap (the old code had no such lock: they raced for the DuckDB file and one failed).
    fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        ingests = [
            _start(
                ["-m", "tradelake", "ingest", str(p), "--home", str(home), "--tz", TZ, "--json"],
                TRADELAKE_FEATURES__LOCK_TIMEOUT="120",
            )
            for p in paths
        ]
        errors: list[list[str]] = [[], []]
        readers = [
            threading.Thread(target=lambda p=p, e=e: e.extend(iter(p.stderr.readline, "")))
            for p, e in zip(ingests, errors, strict=True)
        ]
        for thread in readers:
            thread.start()
        deadline = time.monotonic() + 60
        while not all(any("waiting for" in line for line in e) for e in errors):
            assert time.monotonic() < deadline, errors
            time.sleep(0.05)
    finally:
        os.close(fd)
    outputs = []
    for process, thread, error in zip(ingests, readers, errors, strict=True):
        assert process.stdout is not None
        stdout = process.stdout.read()
        process.wait(timeout=120)
        thread.join(timeout=30)
        outputs.append((stdout, "".join(error)))
    stop.touch()
    reader.communicate(timeout=60)

    for process, (stdout, stderr) in zip(ingests, outputs, strict=True):
        assert process.returncode == 0, stderr
        assert [r["status"] for r in json.loads(stdout)] == ["ingested"]
    assert all(f"to finish writing {home}" in stderr for _, stderr in outputs)
    total = truth0.fills.height + truth_a.fills.height + truth_b.fills.height
    assert Platform.open(home).sql("SELECT count(*) FROM trades").item() == total
    reads = json.loads(out.read_text())
    assert reads["failures"] == []
    counts = reads["counts"]
    assert len(counts) >= 5 and counts == sorted(counts)  # committed states, in order
    one = truth0.fills.height
    allowed = {one, one + truth_a.fills.height, one + truth_b.fills.height, total}
    assert set(counts) <= allowed and counts[-1] == total
    # Both files are marked done, so a repeat is a duplicate and changes nothing.
    again = run_cli("ingest", *map(str, paths), "--home", str(home), "--tz", TZ, "--json")
    assert [r["status"] for r in json_out(again)] == ["duplicate", "duplicate"]
    assert Platform.open(home).sql("SELECT count(*) FROM trades").item() == total


def test_a_writer_that_waits_too_long_gives_up_with_one_line(home: Path, tmp_path: Path) -> None:
    data, _ = export(fills=200, seed=64, timezone=TZ)
    path = _write(tmp_path, "x.xlsx", data)
    held = WriteLock(home / LOCK_FILE, timeout_s=0)
    with held.held():
        result = run_cli(
            "ingest", str(path), "--home", str(home), "--tz", TZ,
            env={"TRADELAKE_FEATURES__LOCK_TIMEOUT": "0.3"},
        )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"waiting for pid {os.getpid()}" in result.stderr
    assert "still being written" in result.stderr and "lock_timeout" in result.stderr
    assert not (home / "features.catalog.json").exists()  # nothing staged, nothing served
    assert issubclass(WriteLockTimeout, TransientError)
    # Once the lock is free the same ingest goes through.
    assert Platform.open(home).ingest([path], tz=TZ).ok


def _ingest_two(home: Path, tmp_path: Path) -> dict[str, pl.DataFrame]:
    original, _ = export(fills=300, seed=65, timezone=TZ)
    corrected, _ = export(fills=300, seed=65, timezone=TZ, correction="price")
    platform = Platform.open(home)
    platform.ingest([_write(tmp_path, "o.xlsx", original)], tz=TZ)
    platform.ingest([_write(tmp_path, "c.xlsx", corrected)], tz=TZ)
    return snapshot(home)


@pytest.mark.parametrize("point", ["replay_before_publish", "replay_after_publish"])
def test_a_replay_killed_at_its_switch_leaves_a_working_store(
    home: Path, tmp_path: Path, point: str
) -> None:
    before = _ingest_two(home, tmp_path)
    killed = run_cli("replay", "--home", str(home), env={"TRADELAKE_CRASH_AT": point})
    assert killed.returncode == 137
    assert_same_tables(before, snapshot(home))
    # The next writer finds staging where the published store reads it, and goes on.
    extra, truth = export(fills=200, seed=66, timezone=TZ)
    platform = Platform.open(home)
    count = platform.sql("SELECT count(*) FROM trades").item()
    platform.ingest([_write(tmp_path, "e.xlsx", extra)], tz=TZ)
    assert platform.sql("SELECT count(*) FROM trades").item() == count + truth.fills.height
    published = catalog.read(platform.features.catalog_path)
    assert published is not None and published.staging_root == (home / "staging").resolve()


def test_replay_killed_at_random_moments_never_breaks_queries(home: Path, tmp_path: Path) -> None:
    before = _ingest_two(home, tmp_path)
    started = time.monotonic()
    assert run_cli("replay", "--home", str(home)).returncode == 0
    duration = time.monotonic() - started
    assert_same_tables(before, snapshot(home))
    rng = random.Random(7)
    # Late in the run is where a swap happens; kill there most often.
    for fraction in (0.7, 0.85, 0.95):
        process = _start(["-m", "tradelake", "replay", "--home", str(home)])
        time.sleep(duration * fraction * rng.uniform(0.95, 1.05))
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        assert_same_tables(before, snapshot(home))
    published = catalog.read(home / "features.catalog.json")
    assert published is not None
    kept = {published.staging_root, *map(Path, published.retired)}
    abandoned = [p for p in home.glob("staging.*") if p.is_dir() and p not in kept]
    assert len(abandoned) <= 1  # a killed replay's, deleted by the next replay
    assert run_cli("replay", "--home", str(home)).returncode == 0
    assert_same_tables(before, snapshot(home))
    final = catalog.read(home / "features.catalog.json")
    assert final is not None
    kept = {final.staging_root, *map(Path, final.retired)}
    assert [p for p in home.glob("staging.*") if p.is_dir() and p not in kept] == []


def test_a_data_home_moved_elsewhere_still_answers_and_ingests(home: Path, tmp_path: Path) -> None:
    before = _ingest_two(home, tmp_path)
    assert run_cli("replay", "--home", str(home)).returncode == 0  # staging is a link now
    moved = tmp_path / "elsewhere" / "home"
    shutil.copytree(home, moved, symlinks=True)
    shutil.rmtree(home)
    assert_same_tables(before, snapshot(moved))
    text = (moved / "features.catalog.json").read_text()
    assert str(home) not in text and str(tmp_path) not in text
    extra, truth = export(fills=200, seed=67, timezone=TZ)
    platform = Platform.open(moved)
    assert platform.sql("SELECT count(*) FROM data_quality").item() == 4  # 2 files x 2 tables
    count = platform.sql("SELECT count(*) FROM trades").item()
    platform.ingest([_write(tmp_path, "m.xlsx", extra)], tz=TZ)
    assert platform.sql("SELECT count(*) FROM trades").item() == count + truth.fills.height


def test_a_long_running_writer_follows_a_replay_done_by_another_process(
    home: Path, tmp_path: Path
) -> None:
    """``tradelake run`` keeps one Platform (and its staging) for days; replays happen."""
    _ingest_two(home, tmp_path)
    assert run_cli("replay", "--home", str(home)).returncode == 0  # staging is a link now
    running = Platform.open(home)
    env = running.ingest_env  # what the scheduler holds on to
    assert run_cli("replay", "--home", str(home)).returncode == 0
    count = running.sql("SELECT count(*) FROM trades").item()
    extra, truth = export(fills=200, seed=68, timezone=TZ)
    with running.writing():
        (result,) = ingest_paths(env, [_write(tmp_path, "w.xlsx", extra)], timezone=TZ)
    assert result.status == "ingested"
    running.refresh()
    assert running.sql("SELECT count(*) FROM trades").item() == count + truth.fills.height
