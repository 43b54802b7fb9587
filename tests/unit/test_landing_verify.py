"""Landing integrity: manifest digests, the ledger, and what verification reports (local and
in-memory backends; S3 in tests/integration/test_landing_s3.py)."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradelake.errors import LandingError
from tradelake.landing import LandingStore
from tradelake.landing.store import SEALED_KEY, manifest_digest
from tradelake.landing.verify import seal_landing, verify_landing

DAY1 = datetime(2026, 3, 2, 9, tzinfo=UTC)
DAY2 = datetime(2026, 3, 3, 9, tzinfo=UTC)


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> LandingStore:
    if request.param == "local":
        return LandingStore(str(tmp_path / "landing"))
    return LandingStore("memory://verify-" + os.urandom(6).hex())


def overwrite(store: LandingStore, key: str, data: bytes) -> None:
    """What someone with file access does (no tradelake API can)."""
    backend = store.backend
    if hasattr(backend, "fs"):
        backend.fs.pipe_file(f"{backend.root}/{key}", data)
    else:
        path = Path(backend.url) / key
        path.chmod(0o644)
        path.write_bytes(data)


def delete(store: LandingStore, key: str) -> None:
    backend = store.backend
    if hasattr(backend, "fs"):
        backend.fs.rm(f"{backend.root}/{key}")
    else:
        (Path(backend.url) / key).unlink()


def two_exports(store: LandingStore) -> tuple[str, str]:
    a = store.put(
        b"export A", source="atas", name="a.xlsx", now=DAY1, attributes={"timezone": "Europe/Paris"}
    )
    b = store.put(
        b"export B", source="atas", name="b.xlsx", now=DAY2, attributes={"timezone": "Europe/Paris"}
    )
    return a.obj.landing_id, b.obj.landing_id


def edit_row(store: LandingStore, landing_id: str, **changes: object) -> dict[str, object]:
    key = f"_manifest/{landing_id}.json"
    row = json.loads(store.backend.read(key))
    row.update(changes)
    overwrite(store, key, json.dumps(row).encode())
    return row


def test_a_clean_zone_verifies_in_replay_order(store: LandingStore) -> None:
    a, b = two_exports(store)
    result = verify_landing(store, deep=True)
    assert result.ok and result.lines() == [] and result.notes() == []
    assert [row.landing_id for row in result.rows] == [a, b]
    assert result.sealed_zone  # a zone that started empty is sealed from its first put
    row = store.describe(a)
    assert row.digest == manifest_digest(json.loads(store.backend.read(f"_manifest/{a}.json")))
    assert store.backend.exists(f"_ledger/{a}.{row.digest}")


def test_an_edited_time_zone_is_detected(store: LandingStore) -> None:
    a, _ = two_exports(store)
    edit_row(store, a, attributes={"timezone": "America/New_York"})
    result = verify_landing(store)
    assert [p.subject for p in result.problems] == [f"a.xlsx ({a[:12]})"]
    assert "was altered after it landed (its digest no longer matches" in result.lines()[0]
    assert [row.original_name for row in result.rows] == ["b.xlsx"]


def test_an_edit_that_recomputes_or_strips_the_digest_is_caught_by_the_ledger(
    store: LandingStore,
) -> None:
    a, _ = two_exports(store)
    row = edit_row(store, a, attributes={"timezone": "America/New_York"}, digest="")
    assert "not the row the ledger recorded" in verify_landing(store).lines()[0]
    edit_row(store, a, digest=manifest_digest(row))
    assert "not the row the ledger recorded" in verify_landing(store).lines()[0]


def test_a_deleted_manifest_row_is_detected_with_its_object(store: LandingStore) -> None:
    a, b = two_exports(store)
    key = store.describe(a).key
    delete(store, f"_manifest/{a}.json")
    result = verify_landing(store)
    assert len(result.problems) == 1
    assert result.problems[0].subject == f"landing object {key}"
    assert "was deleted (the ledger recorded it)" in result.lines()[0]
    assert [row.landing_id for row in result.rows] == [b]


def test_a_deleted_row_with_its_object_is_found_by_the_ledger(store: LandingStore) -> None:
    a, _ = two_exports(store)
    delete(store, store.describe(a).key)
    delete(store, f"_manifest/{a}.json")
    assert verify_landing(store).problems[0].subject == f"landing id {a}"


def test_a_deleted_object_is_detected(store: LandingStore) -> None:
    _, b = two_exports(store)
    key = store.describe(b).key
    delete(store, key)
    result = verify_landing(store)
    assert result.lines() == [
        f"b.xlsx ({b[:12]}): its landing object {key} is missing (replay would drop this file); "
        "restore the object from backup, or ingest the original file again"
    ]
    with pytest.raises(LandingError, match=r"b\.xlsx .* is missing"):
        store.get(b)


def test_an_object_without_its_row_is_an_orphan_until_landed_again(store: LandingStore) -> None:
    two_exports(store)
    landing_id = hashlib.sha256(b"orphan").hexdigest()
    store.backend.create(f"atas/2026/03/01/{landing_id}.xlsx", b"orphan")  # crash before the row
    result = verify_landing(store)
    assert len(result.problems) == 1
    assert "has no manifest row" in result.lines()[0]
    assert "ingest the original file again" in result.lines()[0]
    store.put(b"orphan", source="atas", name="o.xlsx", now=DAY2)  # lands it under another day
    again = verify_landing(store)
    assert again.ok and len(again.rows) == 3
    assert again.copies == [f"atas/2026/03/01/{landing_id}.xlsx"]


def test_a_corrupt_row_is_one_line_naming_it(store: LandingStore) -> None:
    a, _ = two_exports(store)
    overwrite(store, f"_manifest/{a}.json", b'{"landing_id": ')
    with pytest.raises(LandingError) as raised:
        store.list()
    message = str(raised.value)
    assert f"_manifest/{a}.json" in message and "is corrupt" in message and "\n" not in message
    result = verify_landing(store)
    assert [p.subject for p in result.problems] == [f"_manifest/{a}.json"]


def test_deep_verification_reads_the_bytes(store: LandingStore) -> None:
    _, b = two_exports(store)
    overwrite(store, store.describe(b).key, b"export C")
    assert verify_landing(store).ok  # keys and rows only
    deep = verify_landing(store, deep=True)
    assert "does not match its sha256" in deep.lines()[0]


def test_a_stray_file_is_reported(store: LandingStore) -> None:
    two_exports(store)
    store.backend.create("atas/2026/03/02/notes.txt", b"hello")
    assert verify_landing(store).problems[0].subject == "atas/2026/03/02/notes.txt"


def legacy_zone(store: LandingStore) -> str:
    """A zone as written before digests: rows without ``digest``, no ledger, no seal."""
    row = {
        "landing_id": hashlib.sha256(b"old").hexdigest(),
        "source": "atas",
        "original_name": "old.xlsx",
        "ingest_ts": DAY1.isoformat(),
        "bytes": 3,
        "content_type": "application/octet-stream",
        "key": "",
        "attributes": {"timezone": "Europe/Paris"},
    }
    landing_id = str(row["landing_id"])
    row["key"] = f"atas/2026/03/02/{landing_id}.xlsx"
    store.backend.create(str(row["key"]), b"old")
    store.backend.create(f"_manifest/{landing_id}.json", json.dumps(row).encode())
    return landing_id


def test_a_legacy_zone_verifies_with_a_note_then_seals(store: LandingStore) -> None:
    old = legacy_zone(store)
    new = store.put(b"new", source="atas", name="new.xlsx", now=DAY2).obj
    assert new.digest  # new rows get digests; the zone is not marked sealed
    result = verify_landing(store, deep=True)
    assert result.ok and not result.sealed_zone
    assert [row.landing_id for row in result.unsealed] == [old]
    assert "1 manifest rows" in result.notes()[0] and "tradelake landing seal" in result.notes()[0]

    sealed = seal_landing(store)
    assert sealed.ok and sealed.sealed_zone and sealed.unsealed == []
    assert store.backend.exists(SEALED_KEY)
    edit_row(store, old, attributes={"timezone": "UTC"})
    assert "not the row the ledger recorded" in verify_landing(store).lines()[0]


def test_in_a_sealed_zone_a_stripped_row_is_not_taken_for_an_old_one(store: LandingStore) -> None:
    a, _ = two_exports(store)
    digest = store.describe(a).digest
    row = edit_row(store, a, digest="")
    delete(store, f"_ledger/{a}.{digest}")
    result = verify_landing(store)
    assert "has no ledger entry" in result.lines()[0] and result.problems[0].sealable
    assert manifest_digest(row) == result.to_seal[a]


def test_seal_refuses_to_bless_an_altered_row(store: LandingStore) -> None:
    legacy_zone(store)
    a = store.put(b"new", source="atas", name="new.xlsx", now=DAY2).obj.landing_id
    edit_row(store, a, attributes={"timezone": "UTC"})
    result = seal_landing(store)
    assert not result.ok and not store.backend.exists(SEALED_KEY)
    assert len(list(store.backend.keys("_ledger"))) == 1  # only the new row's own entry


def test_a_crash_between_row_and_ledger_entry_is_repaired_by_landing_again(
    store: LandingStore,
) -> None:
    a, _ = two_exports(store)
    delete(store, f"_ledger/{a}.{store.describe(a).digest}")
    assert verify_landing(store).problems[0].sealable
    store.put(b"export A", source="atas", name="a.xlsx")
    assert verify_landing(store).ok
