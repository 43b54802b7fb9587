"""Staging on an object store (``[staging] url = "s3://bucket/staging"``): a local working copy
kept in sync with the bucket, which is the copy every data home shares.

Why a working copy rather than reading and writing Parquet on S3 directly: the writer's
guarantees (temp file + rename, writes behind, replay's staging generations) are filesystem
ones, and the feature store points DuckDB views at staged files, which DuckDB 2.0 can only read
from S3 through ``httpfs``, an extension it downloads at run time. So the writer and the store
keep working on a local folder (``[staging] cache``) and this module moves the files:

- :meth:`StagingMirror.pull`, when a writing command starts (under the data home's write lock):
  downloads what changed in the bucket since the last sync (another home's ingest, a replay)
  and removes locally what the bucket no longer has.
- :meth:`StagingMirror.push`, when it ends: uploads what changed locally, data first
  (partition, quarantine and quality files), the processed markers
  (``_state/processed/<landing_id>.json``) last, then deletes in the bucket what was removed
  locally. A PUT is atomic (an object is whole or absent), and a landing object's marker is
  its commit record in the bucket as on disk: a reader that sees the marker sees every file of
  that object. Partition files are named after the landing id, so uploading one again (a
  re-run) replaces it with the same bytes.

Crash safety is the local path's plus one rule: nothing is ever deleted in the bucket that the
sync index does not say was pushed and then removed locally. A crash before or during a push
leaves the files unsynced locally (or, if the working copy is lost, unstaged: the landing
objects have no marker in the bucket and the next ingest stages them again, identically).

The sync index (``_state/mirror.json`` in the working copy) records, per file, the digest the
two sides shared at the last sync and the local size and mtime then, so each side's changes are
found without hashing every file. It lives inside the working copy, so deleting that folder
deletes the index too and the next pull downloads everything. One data home writes a bucket
prefix at a time (the write lock is a local file); any number may pull from it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradelake import atomic_files
from tradelake.errors import StagingError

INDEX = "_state/mirror.json"
MARKERS = "_state/processed/"
CHUNK = 64
"""Files read into memory per batch of uploads or downloads."""


@dataclass(frozen=True)
class _Entry:
    """One file as both sides had it at the last sync."""

    digest: str
    size: int
    mtime_ns: int

    def unchanged(self, stat: os.stat_result | None) -> bool:
        return stat is not None and (stat.st_size, stat.st_mtime_ns) == (self.size, self.mtime_ns)


@dataclass(frozen=True)
class SyncResult:
    """What one pull or push moved."""

    downloaded: int = 0
    uploaded: int = 0
    removed_local: int = 0
    removed_remote: int = 0


class StagingMirror:
    """Keeps the staging working copy ``local`` and the object store prefix ``url`` in sync."""

    def __init__(self, url: str, storage_options: Mapping[str, Any], local: Path) -> None:
        import fsspec  # here: a home with local staging never needs it

        protocol = url.split("://", 1)[0]
        try:
            self.fs = fsspec.filesystem(protocol, **dict(storage_options))
        except ImportError as exc:
            raise StagingError(
                f"staging URL {url} needs an extra package ({exc}); "
                "install it with: pip install 'tradelake[s3]'"
            ) from exc
        self.url = url.rstrip("/")
        self.root = str(self.fs._strip_protocol(self.url)).rstrip("/")
        self.local = local

    def pull(self) -> SyncResult:
        """Bring the working copy up to the bucket: new or changed files downloaded, files the
        bucket deleted removed; local changes not yet pushed are kept (the bucket wins where
        both changed a file: one home writes a prefix at a time)."""
        remote, index, local = self._remote(), self._load(), self._local()
        fetch: list[tuple[str, str]] = []
        for rel, info in remote.items():
            entry = index.get(rel)
            digest = self._remote_digest(info)
            if entry is not None and entry.digest == digest:
                continue
            stat = local.get(rel)
            if stat is not None and _file_md5(self.local / rel) == digest:
                index[rel] = _entry(digest, stat)
                continue
            fetch.append((rel, digest))
        for batch in _chunks(fetch):
            bodies = self._cat([self._path(rel) for rel, _ in batch])
            for rel, digest in batch:
                target = self.local / rel
                with atomic_files.replacing(target) as tmp:
                    tmp.write_bytes(bodies[self._path(rel)])
                index[rel] = _entry(digest, target.stat())
        removed = 0
        for rel in [r for r in index if r not in remote]:
            entry = index.pop(rel)
            if entry.unchanged(local.get(rel)):
                (self.local / rel).unlink(missing_ok=True)
                removed += 1
        self._save(index)
        return SyncResult(downloaded=len(fetch), removed_local=removed)

    def push(
        self, *, exact: bool = False, before_markers: Callable[[], None] | None = None
    ) -> SyncResult:
        """Upload what changed locally (markers last) and delete in the bucket what was removed
        locally since the last sync. ``exact=True`` (after a replay, whose new generation has no
        sync index) also deletes every object the working copy does not have.
        ``before_markers`` runs between the data files and the markers (a crash test's hook)."""
        remote, index, local = self._remote(), self._load(), self._local()
        changed: list[tuple[str, str]] = []
        for rel, stat in local.items():
            entry = index.get(rel)
            if entry is not None and entry.unchanged(stat):
                continue
            digest = _file_md5(self.local / rel)
            if rel in remote and self._remote_digest(remote[rel]) == digest:
                index[rel] = _entry(digest, stat)
            else:
                changed.append((rel, digest))
        data = [c for c in changed if not c[0].startswith(MARKERS)]
        markers = [c for c in changed if c[0].startswith(MARKERS)]
        for files in (data, markers):  # every data file before any marker
            if files is markers and before_markers is not None:
                before_markers()
            for batch in _chunks(files):
                self._pipe({self._path(rel): (self.local / rel).read_bytes() for rel, _ in batch})
                for rel, digest in batch:
                    index[rel] = _entry(digest, local[rel])
        gone = {rel for rel in index if rel not in local}
        if exact:
            gone |= {rel for rel in remote if rel not in local}
        doomed = sorted(rel for rel in gone if rel in remote)
        if doomed:
            self._rm([self._path(rel) for rel in doomed])
        for rel in gone:
            index.pop(rel, None)
        self._save(index)
        return SyncResult(uploaded=len(changed), removed_remote=len(doomed))

    def _path(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def _remote(self) -> dict[str, dict[str, Any]]:
        """Every object under the prefix, by path relative to it (a fresh listing: the bucket
        may have changed since this process last looked)."""
        self.fs.invalidate_cache(self.root)
        try:
            found = self.fs.find(self.root, detail=True)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StagingError(
                f"cannot list {self.url} ({exc}); check the bucket, [s3] endpoint_url and the "
                "AWS credentials of this process"
            ) from exc
        prefix = len(self.root) + 1
        return {
            str(self.fs._strip_protocol(path))[prefix:]: {**info, "name": path}
            for path, info in found.items()
            if info.get("type", "file") == "file"
        }

    def _remote_digest(self, info: Mapping[str, Any]) -> str:
        """The MD5 of an object: its ETag for a single-part upload, else its bytes hashed (a
        multipart ETag is not an MD5; a test double's listing has no ETag)."""
        etag = str(info.get("ETag") or info.get("etag") or "").strip('"').lower()
        if etag and "-" not in etag:
            return etag
        return hashlib.md5(self._cat([info["name"]])[info["name"]]).hexdigest()

    def _local(self) -> dict[str, os.stat_result]:
        """Every file of the working copy but temp files and the sync index."""
        if not self.local.is_dir():
            return {}
        files = {}
        for path in _walk(self.local):
            rel = path.relative_to(self.local).as_posix()
            if rel != INDEX:
                files[rel] = path.stat()
        return files

    def _load(self) -> dict[str, _Entry]:
        path = self.local / INDEX
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StagingError(
                f"the staging sync index {path} is unreadable ({exc}); delete it and the next "
                "command compares every file with the bucket again"
            ) from exc
        return {rel: _Entry(*values) for rel, values in body.items()}

    def _save(self, index: Mapping[str, _Entry]) -> None:
        body = {rel: [e.digest, e.size, e.mtime_ns] for rel, e in sorted(index.items())}
        atomic_files.write_text(self.local / INDEX, json.dumps(body, separators=(",", ":")))

    def _cat(self, paths: list[str]) -> dict[str, bytes]:
        try:
            bodies: dict[str, bytes] = self.fs.cat(paths, on_error="raise")
        except OSError as exc:
            raise StagingError(f"cannot download from {self.url} ({exc}); run again") from exc
        if len(paths) == 1 and not isinstance(bodies, dict):  # one path: fsspec returns bytes
            return {paths[0]: bodies}
        return bodies

    def _pipe(self, bodies: dict[str, bytes]) -> None:
        try:
            self.fs.pipe(bodies)
        except OSError as exc:
            raise StagingError(
                f"cannot upload staged files to {self.url} ({exc}); nothing was marked synced, "
                "so the next command uploads them again"
            ) from exc

    def _rm(self, paths: list[str]) -> None:
        try:
            self.fs.rm(paths)
        except OSError as exc:
            raise StagingError(f"cannot delete from {self.url} ({exc}); run again") from exc


def _entry(digest: str, stat: os.stat_result) -> _Entry:
    return _Entry(digest, stat.st_size, stat.st_mtime_ns)


def _walk(root: Path) -> Iterator[Path]:
    """Files under ``root`` (a symlink to a staging generation is followed), temp files aside."""
    for folder, _, names in os.walk(root, followlinks=True):
        for name in names:
            if not (name.startswith(".") and name.endswith(".tmp")):
                yield Path(folder) / name


def _file_md5(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "md5").hexdigest()


def _chunks(items: list[tuple[str, str]]) -> Iterable[list[tuple[str, str]]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
