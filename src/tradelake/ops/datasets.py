"""How each store's contents are named as OpenLineage datasets (one place, so every job and
``tradelake lineage`` agree).

The namespace says where (a URL of the store), the name says what:

======================  ===================================  ==============================
dataset                 namespace                            name
======================  ===================================  ==============================
landing object          landing URL (``file:///…/landing``)  ``<source>/<sha256>``
staging table           staging URL                          table (``trades_raw``)
feature table           ``duckdb://`` + store path           table (``daily_pnl``)
queue topic             ``queue://`` + backend               topic (``frames``, ``signals``)
alerts                  ``sqlite://`` + alerts file          ``alerts``, ``alerts/<alert_id>``
model                   MLflow tracking URI                  ``<model>/<version>``
feed endpoint           ``https://host``                     URL path (no query: keys live there)
dropped file            ``file://`` + folder                 file name
======================  ===================================  ==============================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from tradelake.ops.lineage import Dataset, RunHandle


def store_url(url: str | Path) -> str:
    """A store's location as a URL: ``s3://…`` as it is, a local path as ``file:///abs``."""
    text = str(url)
    if "://" in text:
        return text.rstrip("/")
    return Path(text).resolve().as_uri()


def landing_object(landing_url: str, source: str, landing_id: str) -> Dataset:
    """One landed object, named ``<source>/<landing_id>`` (its sha256: the bytes' identity)."""
    return Dataset(store_url(landing_url), f"{source}/{landing_id}")


def landing_zone(landing_url: str) -> Dataset:
    """The whole landing zone (what a replay reads)."""
    return Dataset(store_url(landing_url), "*")


def staging_tables(staging_url: str | Path, tables: Iterable[str]) -> list[Dataset]:
    namespace = store_url(staging_url)
    return [Dataset(namespace, table) for table in sorted(set(tables))]


def feature_tables(store_path: Path, tables: Iterable[str]) -> list[Dataset]:
    namespace = f"duckdb://{Path(store_path).resolve()}"
    return [Dataset(namespace, table) for table in sorted(set(tables))]


def topic(backend: str, name: str) -> Dataset:
    return Dataset(f"queue://{backend}", name)


def alerts(alerts_file: Path, alert_ids: Iterable[str] = ()) -> list[Dataset]:
    namespace = f"sqlite://{Path(alerts_file).resolve()}"
    return [Dataset(namespace, "alerts"), *(Dataset(namespace, f"alerts/{a}") for a in alert_ids)]


def model(tracking_uri: str, name: str, version: str) -> Dataset:
    return Dataset(tracking_uri, f"{name}/{version}")


def feed_endpoint(url: str) -> Dataset:
    """A provider's endpoint without its query string (where API keys travel)."""
    parts = urlsplit(url)
    return Dataset(f"{parts.scheme}://{parts.hostname or ''}", parts.path or "/")


def dropped_file(path: Path) -> Dataset:
    resolved = Path(path).resolve()
    return Dataset(resolved.parent.as_uri(), resolved.name)


class StagedFile(Protocol):
    """What a job reports per file (``jobs.ingest.FileResult``)."""

    @property
    def landing_id(self) -> str | None: ...

    @property
    def source(self) -> str | None: ...

    @property
    def tables(self) -> Mapping[str, Any]: ...


def record_files(
    run: RunHandle, landing_url: str, staging_url: str | Path, files: Iterable[StagedFile]
) -> None:
    """A run lands each file, then parses it back from landing into staging tables: the
    landing objects are its outputs and its inputs, the tables its outputs."""
    files = list(files)
    landed = [
        landing_object(landing_url, f.source, f.landing_id)
        for f in files
        if f.landing_id and f.source
    ]
    tables = {table for f in files for table in f.tables}
    run.reads(landed)
    run.writes([*landed, *staging_tables(staging_url, tables)])
