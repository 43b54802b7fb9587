"""The S3 landing path against moto's S3 server on 127.0.0.1 (started and stopped here)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest

from fixtures.moto import free_port, moto_endpoint

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

from tradelake.landing import LandingStore  # noqa: E402

pytestmark = pytest.mark.s3


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_endpoint() as url:
        yield url


@pytest.fixture
def store(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> LandingStore:
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"landing-{free_port()}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    options = {"client_kwargs": {"endpoint_url": s3_endpoint}, "skip_instance_cache": True}
    return LandingStore(f"s3://{bucket}/raw", options)


def test_s3_put_get_list_and_dedup(store: LandingStore) -> None:
    first = store.put(b"workbook bytes", source="atas", name="a.xlsx")
    again = store.put(b"workbook bytes", source="atas", name="a-copy.xlsx")
    assert first.created and not again.created
    digest = hashlib.sha256(b"workbook bytes").hexdigest()
    assert store.get(digest) == b"workbook bytes"
    assert [o.landing_id for o in store.list()] == [digest]
    assert first.obj.key.startswith("atas/") and first.obj.key.endswith(f"{digest}.xlsx")


def test_s3_conditional_put_refuses_overwrite(store: LandingStore) -> None:
    obj = store.put(b"original", source="atas", name="o.xlsx").obj
    assert store.backend.create(obj.key, b"forged") is False
    assert store.get(obj.landing_id) == b"original"


def test_s3_verification_catches_deleted_and_edited_rows(store: LandingStore) -> None:
    from tradelake.landing.verify import verify_landing

    a = store.put(b"export A", source="atas", name="a.xlsx", attributes={"timezone": "UTC"}).obj
    b = store.put(b"export B", source="atas", name="b.xlsx").obj
    clean = verify_landing(store, deep=True)
    assert clean.ok and clean.sealed_zone and len(clean.rows) == 2

    fs, root = store.backend.fs, store.backend.root  # type: ignore[attr-defined]
    row = json.loads(fs.cat_file(f"{root}/_manifest/{a.landing_id}.json"))
    row["attributes"]["timezone"] = "America/New_York"
    fs.pipe_file(f"{root}/_manifest/{a.landing_id}.json", json.dumps(row).encode())
    fs.rm(f"{root}/_manifest/{b.landing_id}.json")
    fs.invalidate_cache()

    lines = verify_landing(store).lines()
    assert len(lines) == 2
    assert (
        lines[0].startswith(f"a.xlsx ({a.landing_id[:12]}): manifest row") and "altered" in lines[0]
    )
    assert (
        lines[1].startswith(f"landing object {b.key}: its manifest row") and "deleted" in lines[1]
    )
