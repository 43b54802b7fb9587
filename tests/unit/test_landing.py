from __future__ import annotations

import hashlib
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradelake.errors import LandingError
from tradelake.landing import LandingStore


def test_put_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    store = LandingStore(str(tmp_path / "landing"))
    first = store.put(
        b"hello", source="atas", name="in/a.xlsx", now=datetime(2026, 1, 2, tzinfo=UTC)
    )
    again = store.put(b"hello", source="atas", name="b.xlsx")

    digest = hashlib.sha256(b"hello").hexdigest()
    assert first.created and not again.created
    assert first.obj.landing_id == digest == again.obj.landing_id
    assert again.obj.original_name == "a.xlsx"  # the first landing wins
    assert first.obj.key == f"atas/2026/01/02/{digest}.xlsx"
    assert store.get(digest) == b"hello"
    assert [o.landing_id for o in store.list()] == [digest]


def test_objects_are_read_only_and_never_overwritten(tmp_path: Path) -> None:
    store = LandingStore(str(tmp_path))
    put = store.put(b"x", source="atas", name="x.xlsx")
    path = tmp_path / put.obj.key
    assert not os.stat(path).st_mode & stat.S_IWUSR
    assert store.backend.create(put.obj.key, b"other") is False
    assert path.read_bytes() == b"x"
    assert not hasattr(store, "delete")


def test_crash_between_object_and_manifest_is_adopted(tmp_path: Path) -> None:
    store = LandingStore(str(tmp_path))
    digest = hashlib.sha256(b"data").hexdigest()
    store.backend.create(f"atas/2026/01/01/{digest}.xlsx", b"data")  # object without manifest row
    result = store.put(b"data", source="atas", name="d.xlsx")
    assert result.created
    assert store.get(digest) == b"data"


def test_list_is_in_ingest_order_and_filters_by_source(tmp_path: Path) -> None:
    store = LandingStore(str(tmp_path))
    store.put(b"2", source="atas", name="2.xlsx", now=datetime(2026, 1, 2, tzinfo=UTC))
    store.put(b"1", source="fred", name="1.json", now=datetime(2026, 1, 1, tzinfo=UTC))
    assert [o.original_name for o in store.list()] == ["1.json", "2.xlsx"]
    assert [o.source for o in store.list("atas")] == ["atas"]


def test_tampered_object_is_detected(tmp_path: Path) -> None:
    store = LandingStore(str(tmp_path))
    obj = store.put(b"payload", source="atas", name="p.xlsx").obj
    path = tmp_path / obj.key
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    with pytest.raises(LandingError, match="does not match its sha256"):
        store.get(obj.landing_id)


def test_attributes_are_kept_with_the_first_landing(tmp_path: Path) -> None:
    store = LandingStore(str(tmp_path))
    store.put(b"a", source="atas", name="a.xlsx", attributes={"timezone": "Europe/Paris"})
    obj = store.put(b"a", source="atas", name="a.xlsx", attributes={"timezone": "UTC"}).obj
    assert obj.attributes == {"timezone": "Europe/Paris"}


def test_memory_backend_behaves_like_disk() -> None:
    store = LandingStore("memory://landing-test-" + os.urandom(4).hex())
    first = store.put(b"m", source="atas", name="m.xlsx")
    second = store.put(b"m", source="atas", name="m.xlsx")
    assert first.created and not second.created
    assert store.get(first.obj.landing_id) == b"m"
    assert len(store.list()) == 1


def test_bad_source_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LandingError, match="without '/'"):
        LandingStore(str(tmp_path)).put(b"x", source="a/b", name="x")


@pytest.mark.parametrize(
    "source", ["..", "../outside", "a/b", "a..b", "", ".hidden", "atas\n", "\x1b[31m", "a\\b"]
)
def test_unsafe_sources_are_refused_before_anything_is_written(tmp_path: Path, source: str) -> None:
    root = tmp_path / "landing"
    store = LandingStore(str(root))
    with pytest.raises(LandingError, match="letters, digits"):
        store.put(b"payload", source=source, name="x.json")
    assert sorted(p.name for p in tmp_path.rglob("*")) == []


@pytest.mark.parametrize("source", ["atas", "rss:ecb", "options:tradier", "screen:desk-1", "A.b_c"])
def test_the_sources_tradelake_uses_are_allowed(tmp_path: Path, source: str) -> None:
    put = LandingStore(str(tmp_path)).put(b"x", source=source, name="x.json")
    assert put.obj.key.startswith(f"{source}/")


def test_keys_and_ids_that_leave_the_root_are_refused(tmp_path: Path) -> None:
    store = LandingStore(str(tmp_path / "landing"))
    for key in ("../x", "atas/../../x", "/etc/x", "atas//x", "atas/\x1b.json", "a..b/x"):
        with pytest.raises(LandingError, match="would leave the landing folder"):
            store._write(key, b"x")
    with pytest.raises(LandingError, match="64 hex characters"):
        store.describe("../../etc/passwd")
    assert not (tmp_path / "x").exists() and not (tmp_path / "landing").exists()
