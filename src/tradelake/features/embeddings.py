"""Embedding matrices out of the feature store, cached beside it for fast similarity search.

Reading a million ``FLOAT[128]`` rows out of DuckDB into one numpy matrix takes about a second
(Arrow ``FixedSizeList`` → a flat float32 buffer, no Python loop); the same matrix as an ``.npy``
file memory-maps in microseconds. So the first search after the table changes writes, in
``<features>.embeddings/``::

    <table>-<selection>-<fingerprint>.f32.npy     the (n, dim) float32 matrix
    <table>-<selection>-<fingerprint>.rows.arrow  id + requested columns, same row order
                                                  (Arrow IPC, memory-mapped: taking the k
                                                  best rows reads only those)
    <table>.stamps.json                           DuckDB file stamp -> fingerprint, per selection

and later searches map those files without opening DuckDB at all.

Why a cached file can be trusted: the *fingerprint* hashes the selection (table, columns,
filter) with the row count and an XOR of ``hash(id, version)`` over the selected rows (about
25 ms for a million rows; the natural key is unique in a latest table, so no terms cancel).
Any new, removed or re-versioned row gives a new file name, and the content of a
``(id, version)`` never changes. The fingerprint is recomputed only when the DuckDB file's
stamp (inode, size, mtime of the file and its WAL, taken *before* reading) differs from the
one recorded with it, so a refresh of other tables costs one scan, not a rebuild. Files are
written to temporary names and renamed; stale ones of the same selection are deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from tradelake import atomic_files
from tradelake.errors import FeatureStoreError
from tradelake.features.store import FeatureStore

logger = logging.getLogger("tradelake.features")
ABSENT = "absent"


@dataclass(frozen=True)
class EmbeddingSet:
    """Row ``i`` of ``matrix`` (possibly memory-mapped) belongs to row ``i`` of ``rows``."""

    rows: pa.Table
    matrix: NDArray[np.float32]
    fingerprint: str

    def __len__(self) -> int:
        return int(self.matrix.shape[0])


def cache_dir(store: FeatureStore) -> Path:
    """Where the caches of ``store`` live (beside its DuckDB file)."""
    return store.path.with_name(store.path.name + ".embeddings")


def load_embeddings(
    store: FeatureStore,
    *,
    table: str = "img_signals",
    id_column: str = "frame_id",
    column: str = "embedding",
    columns: Sequence[str] = (),
    where: tuple[str, list[Any]] | None = None,
    use_cache: bool = True,
) -> EmbeddingSet:
    """Embeddings of ``table`` with their ids and ``columns``, rows passing ``where``.

    ``where`` is a SQL condition with ``?`` parameters (e.g. one model version); rows with a NULL
    embedding are skipped. A table that does not exist yet gives an empty set.
    """
    condition, params = where or ("TRUE", [])
    condition = f"({condition}) AND {column} IS NOT NULL"
    selection = json.dumps([table, id_column, column, [*columns], condition, params], default=str)
    key = hashlib.sha256(selection.encode()).hexdigest()[:12]
    stamp = _stamp(store.catalog_path)
    if use_cache and stamp is not None:
        known = _read_stamps(store, table).get(key, {})
        if known.get("stamp") == stamp and _cached(store, table, key, known.get("fingerprint")):
            return _read_cache(store, table, key, str(known["fingerprint"]))
    con = store.connect(read_only=True)
    try:
        fingerprint = _fingerprint(con, table, id_column, condition, params, selection)
        if use_cache and _cached(store, table, key, fingerprint):
            _remember(store, table, key, stamp, fingerprint)
            return _read_cache(store, table, key, fingerprint)
        selected = ", ".join([id_column, *columns, column])
        arrow = (
            pa.table({id_column: pa.array([], pa.string()), column: pa.array([], pa.float32())})
            if fingerprint == ABSENT
            else con.sql(
                f'SELECT {selected} FROM "{table}" WHERE {condition}', params=params
            ).to_arrow_table()
        )
    except duckdb.Error as exc:
        raise FeatureStoreError(f"cannot read {table}.{column} from {store.path}: {exc}") from exc
    finally:
        con.close()
    found = EmbeddingSet(arrow.drop_columns([column]), _matrix(arrow.column(column)), fingerprint)
    if use_cache and fingerprint != ABSENT:
        _write_cache(store, table, key, found)
        _remember(store, table, key, stamp, fingerprint)
    return found


def _fingerprint(
    con: duckdb.DuckDBPyConnection,
    table: str,
    id_column: str,
    condition: str,
    params: list[Any],
    selection: str,
) -> str:
    try:
        rows = con.execute(
            f'SELECT count(*), bit_xor(hash({id_column}, version)) FROM "{table}" '
            f"WHERE {condition}",
            params,
        ).fetchall()  # fetch to the end: DuckDB 2 blocks the connection on an open result
    except duckdb.CatalogException:
        return ABSENT
    return hashlib.sha256(f"{selection}|{rows}".encode()).hexdigest()[:16]


def _matrix(column: pa.ChunkedArray) -> NDArray[np.float32]:
    """A ``FixedSizeList<float>`` (or list) column → ``(n, dim)`` float32, one copy per chunk."""
    n = len(column)
    if n == 0:
        return np.empty((0, 0), np.float32)
    first = column.chunk(0)
    dim = first.type.list_size if pa.types.is_fixed_size_list(first.type) else len(first[0])
    out = np.empty((n, dim), np.float32)
    row = 0
    for chunk in column.chunks:
        flat = chunk.flatten().to_numpy(zero_copy_only=False)
        if flat.size != len(chunk) * dim:
            raise FeatureStoreError(
                f"embeddings have mixed lengths (expected {dim}); the table contract is broken"
            )
        out[row : row + len(chunk)] = flat.reshape(len(chunk), dim)
        row += len(chunk)
    return out


def _stamp(path: Path) -> str | None:
    """Identity of the published catalog (the store's state); None when there is no store yet."""
    parts = []
    for candidate in (path, path.with_name(path.name + ".wal")):
        try:
            st = candidate.stat()
        except FileNotFoundError:
            if candidate == path:
                return None
            continue
        parts.append(f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def _paths(store: FeatureStore, table: str, key: str, fingerprint: str) -> tuple[Path, Path]:
    base = cache_dir(store) / f"{table}-{key}-{fingerprint}"
    return base.with_name(base.name + ".f32.npy"), base.with_name(base.name + ".rows.arrow")


def _cached(store: FeatureStore, table: str, key: str, fingerprint: Any) -> bool:
    if not isinstance(fingerprint, str) or fingerprint == ABSENT:
        return False
    return all(p.exists() for p in _paths(store, table, key, fingerprint))


def _read_cache(store: FeatureStore, table: str, key: str, fingerprint: str) -> EmbeddingSet:
    matrix_path, rows_path = _paths(store, table, key, fingerprint)
    matrix = np.load(matrix_path, mmap_mode="r", allow_pickle=False)
    rows = pa.ipc.open_file(pa.memory_map(str(rows_path), "r")).read_all()
    return EmbeddingSet(rows, matrix, fingerprint)


def _write_cache(store: FeatureStore, table: str, key: str, found: EmbeddingSet) -> None:
    """Write both files atomically, then drop this selection's older ones (best effort)."""
    matrix_path, rows_path = _paths(store, table, key, found.fingerprint)
    folder = matrix_path.parent
    try:
        with (
            atomic_files.replacing(rows_path) as tmp,
            pa.OSFile(str(tmp), "wb") as sink,
            pa.ipc.new_file(sink, found.rows.schema) as out,
        ):
            out.write_table(found.rows)
        with atomic_files.replacing(matrix_path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, found.matrix, allow_pickle=False)
        for old in folder.glob(f"{table}-{key}-*"):
            if old not in (matrix_path, rows_path):
                old.unlink(missing_ok=True)
    except OSError as exc:
        # The cache only saves time; a read-only or full disk must not fail the search.
        logger.warning("embedding cache not written to %s (%s)", folder, exc)


def _stamps_path(store: FeatureStore, table: str) -> Path:
    return cache_dir(store) / f"{table}.stamps.json"


def _read_stamps(store: FeatureStore, table: str) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(_stamps_path(store, table).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember(
    store: FeatureStore, table: str, key: str, stamp: str | None, fingerprint: str
) -> None:
    if stamp is None:
        return
    target = _stamps_path(store, table)
    stamps = _read_stamps(store, table)
    stamps[key] = {"stamp": stamp, "fingerprint": fingerprint}
    try:
        atomic_files.write_text(target, json.dumps(stamps, sort_keys=True))
    except OSError as exc:
        logger.warning("embedding cache stamp not written to %s (%s)", target, exc)
