"""Landing and staging both on S3 (moto's server on 127.0.0.1): ingest -> refresh -> pnl daily
answers exactly what the same run on local folders answers, and the crash-safety guarantees
of the local path hold with the bucket in the loop."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from e2e.helpers import assert_same_tables, json_out, run_cli, snapshot
from fixtures.atas import export
from fixtures.moto import free_port, moto_endpoint

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

from tradelake.platform import Platform
from tradelake.staging.mirror import INDEX, MARKERS

pytestmark = pytest.mark.s3
TZ = "Europe/Paris"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_endpoint() as url:
        yield url


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def bucket(endpoint: str) -> str:
    import boto3

    name = f"desk-{free_port()}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An English export, its corrected re-export (new versions) and a French one."""
    folder = tmp_path_factory.mktemp("exports")
    files = {
        "en": export(fills=300, seed=31, timezone=TZ, mess=True)[0],
        "en_fixed": export(fills=300, seed=31, timezone=TZ, mess=True, correction="price")[0],
        "fr": export(fills=200, seed=32, language="fr", timezone=TZ, mess=True)[0],
    }
    paths = {}
    for key, data in files.items():
        paths[key] = folder / f"{key}.xlsx"
        paths[key].write_bytes(data)
    return paths


@pytest.fixture(scope="module")
def local_run(exports: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: the same ingests into a home with local landing and staging."""
    home = tmp_path_factory.mktemp("local-home")
    _ingest_all(Platform.open(home), exports)
    return home


def s3_home(path: Path, endpoint: str, bucket: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "tradelake.toml").write_text(
        f'[landing]\nurl = "s3://{bucket}/landing"\n'
        f'[staging]\nurl = "s3://{bucket}/staging"\n'
        f'[s3]\nendpoint_url = "{endpoint}"\n',
        encoding="utf-8",
    )
    return path


def _ingest_all(platform: Platform, exports: dict[str, Path]) -> None:
    first = platform.ingest([exports["en"], exports["fr"]], tz=TZ)
    second = platform.ingest([exports["en_fixed"]], tz=TZ)
    assert [f.status for f in [*first.files, *second.files]] == ["ingested"] * 3


def bucket_files(endpoint: str, bucket: str) -> dict[str, str]:
    """Every staged object in the bucket: key under ``staging/`` -> ETag (an MD5 of its bytes)."""
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="staging/")
    return {
        o["Key"].removeprefix("staging/"): o["ETag"].strip('"')
        for page in pages
        for o in page.get("Contents", [])
    }


def local_files(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not p.name.endswith(".tmp")
    }


def working_copy_md5s(root: Path) -> dict[str, str]:
    return {
        rel: hashlib.md5((root / rel).read_bytes()).hexdigest()
        for rel in local_files(root) - {INDEX}
    }


def test_ingest_refresh_pnl_on_s3_equals_local_folders(
    exports: dict[str, Path], local_run: Path, endpoint: str, bucket: str, tmp_path: Path
) -> None:
    home = s3_home(tmp_path / "writer", endpoint, bucket)
    _ingest_all(Platform.open(home), exports)
    assert_same_tables(snapshot(local_run), snapshot(home))

    # The bucket holds what the local path stages, file for file, and its markers.
    staged = bucket_files(endpoint, bucket)
    expected = local_files(local_run / "staging")
    assert set(staged) == expected and any(k.startswith(MARKERS) for k in staged)
    assert not (home / "landing").exists()  # landing went to the bucket too

    # A second home sharing only the bucket refreshes from it; `pnl daily` (the CLI) agrees.
    reader = s3_home(tmp_path / "reader", endpoint, bucket)
    env = dict(AWS_ENV)
    refreshed = run_cli("refresh", "--home", str(reader), env=env)
    assert refreshed.returncode == 0, refreshed.stderr
    assert local_files(reader / "staging") - {INDEX} == expected
    from_s3 = run_cli("pnl", "daily", "--home", str(reader), "--json", env=env)
    from_local = run_cli("pnl", "daily", "--home", str(local_run), "--json")
    assert from_s3.returncode == 0, from_s3.stderr
    rows = json_out(from_s3)
    assert rows == json_out(from_local) and len(rows) > 3
    assert_same_tables(snapshot(local_run), snapshot(reader))


def test_redrop_changes_nothing_in_the_bucket(
    exports: dict[str, Path], endpoint: str, bucket: str, tmp_path: Path
) -> None:
    home = s3_home(tmp_path / "home", endpoint, bucket)
    Platform.open(home).ingest([exports["en"]], tz=TZ)
    before, tables = bucket_files(endpoint, bucket), snapshot(home)
    again = Platform.open(home).ingest([exports["en"]], tz=TZ)
    assert [f.status for f in again.files] == ["duplicate"]
    assert bucket_files(endpoint, bucket) == before
    assert_same_tables(tables, snapshot(home))


def test_replay_from_s3_landing_rebuilds_the_same_tables(
    exports: dict[str, Path], endpoint: str, bucket: str, tmp_path: Path
) -> None:
    home = s3_home(tmp_path / "home", endpoint, bucket)
    platform = Platform.open(home)
    _ingest_all(platform, exports)
    before, staged = snapshot(home), bucket_files(endpoint, bucket)
    # Something in the bucket that replay does not derive from landing goes away.
    stray = "trades_raw/month=1999-01/source=atas/part-stray.parquet"
    pl.DataFrame({"x": [1]}).write_parquet(tmp_path / "stray.parquet")
    platform.staging_mirror.fs.put_file(  # type: ignore[union-attr]
        str(tmp_path / "stray.parquet"), f"{bucket}/staging/{stray}"
    )

    result = Platform.open(home).replay()
    assert result.objects == 3
    assert_same_tables(before, snapshot(home))
    assert bucket_files(endpoint, bucket) == staged  # same keys, same bytes; the stray is gone


@pytest.mark.slow
@pytest.mark.parametrize(
    "point",
    # After the local commit but before any push, and between the push's data and its markers.
    # The other crash points of an ingest are local, covered by tests/e2e/test_ingest_cli.py
    # and the kill -9 trials; here each point costs five CLI runs.
    ["after_marker", "mirror_before_markers"],
)
def test_crash_mid_stage_then_rerun_equals_a_clean_run(
    point: str, exports: dict[str, Path], local_run: Path, endpoint: str, tmp_path: Path
) -> None:
    """Killed (``os._exit``) at a point of the ingest or of the push to the bucket; the rerun
    yields the tables of a clean run, and the bucket the files of one. The working copy is
    also deleted after the crash (a lost container): the bucket alone must be enough."""
    files = [str(exports["en"]), str(exports["fr"])]
    clean_bucket, bucket = f"clean-{free_port()}", f"crash-{free_port()}"
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    for name in (clean_bucket, bucket):
        client.create_bucket(Bucket=name)
    clean = s3_home(tmp_path / "clean", endpoint, clean_bucket)
    assert run_cli("ingest", *files, "--home", str(clean), "--tz", TZ, env=AWS_ENV).returncode == 0

    for lose_working_copy in (False, True):
        home = s3_home(tmp_path / f"crashed-{lose_working_copy}", endpoint, bucket)
        crash_env = {**AWS_ENV, "TRADELAKE_CRASH_AT": point}
        crashed = run_cli("ingest", *files, "--home", str(home), "--tz", TZ, env=crash_env)
        assert crashed.returncode == 137, (point, crashed.stderr)
        if lose_working_copy:
            shutil.rmtree(home / "staging")
        rerun = run_cli("ingest", *files, "--home", str(home), "--tz", TZ, env=AWS_ENV)
        assert rerun.returncode == 0, (point, rerun.stderr)
        assert_same_tables(snapshot(clean), snapshot(home))
        # Landing times differ between the two homes (and are in the rows): compare names, and
        # the bucket's bytes with the crashed home's own working copy.
        staged = bucket_files(endpoint, bucket)
        assert staged.keys() == bucket_files(endpoint, clean_bucket).keys(), point
        assert staged == working_copy_md5s(home / "staging"), point
        for obj in client.list_objects_v2(Bucket=bucket).get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])  # landing too: a fresh start
