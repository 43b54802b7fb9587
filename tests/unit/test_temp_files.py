"""Temp files a killed writer leaves behind are removed by the next run, and only those."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tradelake import atomic_files
from tradelake.landing import LandingStore

KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from tradelake import atomic_files
with atomic_files.replacing(Path(sys.argv[1])) as tmp:
    tmp.write_bytes(b"half a file")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def kill_a_writer(target: Path) -> list[Path]:
    """Run a writer that is SIGKILLed inside ``replacing``; return the temp files it left."""
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)], check=False)
    assert done.returncode == -signal.SIGKILL
    return sorted(target.parent.glob(".*.tmp"))


def test_a_killed_writers_temp_file_is_swept_and_the_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "staging" / "trades" / "part-x.parquet"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"previous content")
    left = kill_a_writer(target)
    assert len(left) == 1 and left[0].read_bytes() == b"half a file"
    assert atomic_files.sweep_temp_files([tmp_path / "staging"]) == left
    assert list(target.parent.iterdir()) == [target]
    assert target.read_bytes() == b"previous content"


def test_a_live_writers_temp_file_is_kept(tmp_path: Path) -> None:
    live = atomic_files.temp_path(tmp_path / "a.json")
    live.write_text("being written")
    assert atomic_files.sweep_temp_files([tmp_path]) == []
    assert live.exists()


def test_unnamed_or_recent_legacy_files_are_kept_old_ones_removed(tmp_path: Path) -> None:
    legacy_old = tmp_path / f".a.json.{'ab' * 16}.tmp"
    legacy_new = tmp_path / f".b.json.{'cd' * 16}.tmp"
    someone_elses = tmp_path / ".notes.tmp"
    for path in (legacy_old, legacy_new, someone_elses):
        path.write_text("x")
    hour_ago = time.time() - 2 * atomic_files.STALE_AFTER_S
    os.utime(legacy_old, (hour_ago, hour_ago))
    os.utime(someone_elses, (hour_ago, hour_ago))
    assert atomic_files.sweep_temp_files([tmp_path]) == [legacy_old]
    assert legacy_new.exists() and someone_elses.exists()


def test_the_local_landing_backend_sweeps_its_own_leftovers(tmp_path: Path) -> None:
    store = LandingStore(str(tmp_path / "landing"))
    obj = store.put(b"kept", source="atas", name="k.xlsx").obj
    object_path = tmp_path / "landing" / obj.key
    left = kill_a_writer(object_path.with_name("other.xlsx"))
    assert [Path(p) for p in store.backend.sweep_temp_files()] == left
    assert object_path.read_bytes() == b"kept"
    assert sorted(p.name for p in object_path.parent.iterdir()) == [object_path.name]
