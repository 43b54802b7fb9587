"""The staging mirror's sync rules, on fsspec's in-memory filesystem (the test double)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tradelake.staging.mirror import INDEX, StagingMirror

PART = "trades_raw/month=2026-01/source=atas/part-a.parquet"
MARKER = "_state/processed/a.json"


@pytest.fixture
def url() -> str:
    return f"memory://mirror-{uuid.uuid4().hex}/staging"


def write(root: Path, rel: str, data: bytes) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(data)


def remote(mirror: StagingMirror) -> dict[str, bytes]:
    return {rel: mirror.fs.cat_file(info["name"]) for rel, info in mirror._remote().items()}


def test_push_uploads_data_before_markers_and_only_what_changed(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = StagingMirror(url, {}, tmp_path / "a")
    write(mirror.local, PART, b"rows")
    write(mirror.local, MARKER, b"{}")
    batches: list[list[str]] = []
    pipe = mirror.fs.pipe

    def spy(bodies: dict[str, bytes], **kwargs: Any) -> None:
        batches.append(sorted(bodies))
        pipe(bodies, **kwargs)

    monkeypatch.setattr(mirror.fs, "pipe", spy)
    assert mirror.push().uploaded == 2
    assert [[p.rsplit("/", 1)[1] for p in batch] for batch in batches] == [
        ["part-a.parquet"],
        ["a.json"],
    ]
    assert remote(mirror) == {PART: b"rows", MARKER: b"{}"}
    assert mirror.push().uploaded == 0  # nothing changed since
    assert INDEX not in remote(mirror)


def test_a_crash_before_the_markers_leaves_no_commit_and_the_next_push_finishes(
    url: str, tmp_path: Path
) -> None:
    mirror = StagingMirror(url, {}, tmp_path / "a")
    write(mirror.local, PART, b"rows")
    write(mirror.local, MARKER, b"{}")

    def crash() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mirror.push(before_markers=crash)
    assert remote(mirror) == {PART: b"rows"}
    assert mirror.push().uploaded == 1  # the part is in the bucket already: only the marker
    assert remote(mirror) == {PART: b"rows", MARKER: b"{}"}


def test_pull_fills_an_empty_copy_and_mirrors_deletes_both_ways(url: str, tmp_path: Path) -> None:
    writer = StagingMirror(url, {}, tmp_path / "writer")
    write(writer.local, PART, b"rows")
    write(writer.local, MARKER, b"{}")
    writer.push()

    reader = StagingMirror(url, {}, tmp_path / "reader")
    assert reader.pull().downloaded == 2
    assert (reader.local / PART).read_bytes() == b"rows"
    assert reader.pull().downloaded == 0

    (writer.local / PART).unlink()  # the writer unstaged it
    assert writer.push().removed_remote == 1
    write(reader.local, "news/part-local.parquet", b"not pushed yet")
    result = reader.pull()
    assert result.removed_local == 1 and not (reader.local / PART).exists()
    assert (reader.local / "news/part-local.parquet").exists()  # a local change is kept


def test_a_lost_working_copy_never_deletes_the_bucket(url: str, tmp_path: Path) -> None:
    mirror = StagingMirror(url, {}, tmp_path / "a")
    write(mirror.local, PART, b"rows")
    mirror.push()
    for path in sorted(mirror.local.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    assert mirror.push().removed_remote == 0
    assert mirror.pull().downloaded == 1 and (mirror.local / PART).read_bytes() == b"rows"


def test_an_exact_push_removes_what_the_copy_does_not_have(url: str, tmp_path: Path) -> None:
    old = StagingMirror(url, {}, tmp_path / "old")
    write(old.local, PART, b"rows")
    write(old.local, "trades_raw/month=1999-01/source=atas/part-gone.parquet", b"gone")
    old.push()
    generation = StagingMirror(url, {}, tmp_path / "new")  # a replay's fresh generation
    write(generation.local, PART, b"rows")
    assert generation.push(exact=True).removed_remote == 1
    assert remote(generation) == {PART: b"rows"}
