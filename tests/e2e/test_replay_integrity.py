"""``tradelake replay`` cannot be fooled by a damaged landing zone: every problem is one line,
exit code 2, and staging and the feature store stay exactly as they were."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from e2e.helpers import assert_same_tables, json_out, run_cli, snapshot, staged_files
from fixtures.atas import export

TZ = "Europe/Paris"


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A data home with two small exports ingested, and the exports themselves."""
    folder = tmp_path_factory.mktemp("integrity")
    files = {}
    for name, seed in (("alpha", 31), ("beta", 32)):
        files[name] = folder / f"{name}.xlsx"
        files[name].write_bytes(export(fills=120, seed=seed, timezone=TZ)[0])
    home = folder / "home"
    done = run_cli(
        "ingest", str(files["alpha"]), str(files["beta"]), "--home", str(home), "--tz", TZ
    )
    assert done.returncode == 0, done.stderr
    return {"home": home, **files}


def manifest_rows(home: Path) -> dict[str, dict[str, object]]:
    """Manifest rows by original name."""
    rows = [json.loads(p.read_text()) for p in (home / "landing" / "_manifest").glob("*.json")]
    return {str(row["original_name"]): row for row in rows}


@contextmanager
def damaged(path: Path, content: bytes | None) -> Iterator[None]:
    """Replace (or, with None, delete) a landing file for the block, then put it back."""
    original = path.read_bytes()
    path.chmod(0o644)
    if content is None:
        path.unlink()
    else:
        path.write_bytes(content)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        path.write_bytes(original)
        path.chmod(0o444)


def refused_replay(home: Path) -> list[str]:
    """Run replay on a damaged zone: it must exit 2, change nothing, and print only lines."""
    before, files = snapshot(home), staged_files(home)
    result = run_cli("replay", "--home", str(home))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert_same_tables(before, snapshot(home))
    assert staged_files(home) == files
    assert not (home / "staging.replay").exists()
    return result.stderr.strip().splitlines()


def test_a_deleted_manifest_row_stops_replay(ingested: dict[str, Path]) -> None:
    home = ingested["home"]
    row = manifest_rows(home)["beta.xlsx"]
    with damaged(home / "landing" / "_manifest" / f"{row['landing_id']}.json", None):
        lines = refused_replay(home)
    assert len(lines) == 2
    assert lines[0].startswith(f"error: landing object {row['key']}: its manifest row")
    assert "was deleted" in lines[0] and "restore" in lines[0]
    assert (
        lines[1].startswith("error: replay refused: 1 problems")
        and "nothing was changed" in lines[1]
    )


def test_an_edited_time_zone_stops_replay(ingested: dict[str, Path]) -> None:
    home = ingested["home"]
    row = manifest_rows(home)["alpha.xlsx"]
    edited = dict(row, attributes={"timezone": "America/New_York"})
    path = home / "landing" / "_manifest" / f"{row['landing_id']}.json"
    with damaged(path, json.dumps(edited).encode()):
        lines = refused_replay(home)
    assert lines[0].startswith(f"error: alpha.xlsx ({str(row['landing_id'])[:12]}): manifest row")
    assert "was altered after it landed" in lines[0]


def test_a_corrupt_manifest_row_is_one_line(ingested: dict[str, Path]) -> None:
    home = ingested["home"]
    row = manifest_rows(home)["alpha.xlsx"]
    path = home / "landing" / "_manifest" / f"{row['landing_id']}.json"
    with damaged(path, b'{"landing_id": "trunc'):
        lines = refused_replay(home)
    assert len(lines) == 2
    assert lines[0].startswith(f"error: _manifest/{row['landing_id']}.json: is corrupt")


def test_a_deleted_object_is_one_line_naming_it(ingested: dict[str, Path]) -> None:
    home = ingested["home"]
    row = manifest_rows(home)["beta.xlsx"]
    with damaged(home / "landing" / str(row["key"]), None):
        lines = refused_replay(home)
    assert len(lines) == 2
    assert lines[0].startswith(
        f"error: beta.xlsx ({str(row['landing_id'])[:12]}): its landing object"
    )
    assert str(row["key"]) in lines[0]


def test_an_object_altered_during_replay_stops_it_before_the_swap(
    ingested: dict[str, Path],
) -> None:
    home = ingested["home"]
    row = manifest_rows(home)["beta.xlsx"]
    with damaged(home / "landing" / str(row["key"]), b"not the export"):
        lines = refused_replay(home)  # keys and rows verify; the bytes fail when read
    assert len(lines) == 1
    assert f"landing object {row['key']} does not match its sha256" in lines[0]
    assert lines[0].endswith("(replay stopped; nothing was changed)")


def test_verify_and_check_report_without_changing_anything(ingested: dict[str, Path]) -> None:
    home = ingested["home"]
    clean = run_cli("landing", "verify", "--home", str(home), "--json")
    assert clean.returncode == 0, clean.stderr
    assert json_out(clean) | {"url": ""} == {
        "url": "", "ok": True, "deep": True, "sealed": True, "objects": 2,
        "problems": [], "unsealed": [], "copies": [], "notes": [],
    }  # fmt: skip
    check = run_cli("replay", "--check", "--home", str(home))
    assert check.returncode == 0 and "landing verified" in check.stdout
    row = manifest_rows(home)["alpha.xlsx"]
    with damaged(home / "landing" / str(row["key"]), b"not the export"):
        deep = run_cli("landing", "verify", "--home", str(home), "--json")
        assert deep.returncode == 2
        [problem] = json_out(deep)["problems"]
        assert problem["subject"].startswith("alpha.xlsx") and "sha256" in problem["problem"]


def test_a_home_landed_before_digests_replays_then_seals(
    ingested: dict[str, Path], tmp_path: Path
) -> None:
    home = tmp_path / "legacy"
    done = run_cli("ingest", str(ingested["alpha"]), "--home", str(home), "--tz", TZ)
    assert done.returncode == 0
    shutil.rmtree(home / "landing" / "_ledger")  # as written before this change
    for path in (home / "landing" / "_manifest").glob("*.json"):
        row = json.loads(path.read_text())
        del row["digest"]
        path.chmod(0o644)
        path.write_text(json.dumps(row))
    before = snapshot(home)
    replayed = run_cli("replay", "--home", str(home))
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1 landing objects" in replayed.stdout
    assert (
        "note: 1 manifest rows" in replayed.stdout and "tradelake landing seal" in replayed.stdout
    )
    assert_same_tables(before, snapshot(home))

    assert run_cli("landing", "seal", "--home", str(home)).returncode == 0
    [path] = (home / "landing" / "_manifest").glob("*.json")
    row = json.loads(path.read_text())
    path.write_text(json.dumps(dict(row, attributes={"timezone": "UTC"})))
    assert "was altered after it landed" in refused_replay(home)[0]


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from tradelake import atomic_files
from tradelake.landing.local import LocalBackend
if sys.argv[2] == "landing":
    os.link = lambda *_: os.kill(os.getpid(), signal.SIGKILL)  # killed before the link
    LocalBackend(sys.argv[1]).create("atas/2026/01/01/" + "0" * 64 + ".xlsx", b"half")
with atomic_files.replacing(Path(sys.argv[1]) / "trades_raw" / "part-x.parquet") as tmp:
    tmp.write_bytes(b"half a file")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_temp_files_of_killed_writers_are_gone_after_the_next_ingest(
    ingested: dict[str, Path],
) -> None:
    home = ingested["home"]
    for root, kind in ((home / "landing", "landing"), (home / "staging", "staging")):
        killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(root), kind], check=False)
        assert killed.returncode < 0
    left = sorted(home.rglob(".*.tmp"))
    assert len(left) == 2
    before, files = snapshot(home), staged_files(home)
    again = run_cli("ingest", str(ingested["alpha"]), "--home", str(home), "--tz", TZ, "--json")
    assert again.returncode == 0, again.stderr
    assert [f["status"] for f in json_out(again)] == ["duplicate"]
    assert sorted(home.rglob(".*.tmp")) == []
    assert_same_tables(before, snapshot(home))
    assert staged_files(home) == files
    assert run_cli("landing", "verify", "--home", str(home)).returncode == 0
