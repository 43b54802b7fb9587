"""The landing zone: raw bytes exactly as received, content-addressed, append-only.

Layout (DESIGN §4)::

    <root>/<source>/<YYYY>/<MM>/<DD>/<sha256>.<ext>     the object, bytes as received
    <root>/_manifest/<sha256>.json                       one manifest row per object

The manifest is append-only by construction: each row is its own write-once object, so the same
code works on a local disk and on S3 (which cannot append). The object is written before its
manifest row, so the manifest never names a missing object; a crash between the two leaves an
orphan that the next ``put`` of the same bytes adopts. The same bytes land once: ``put`` of known
bytes returns the existing object with ``created=False``.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from tradelake.errors import LandingError
from tradelake.landing.backend import LandingBackend, open_backend
from tradelake.redaction import redact_data

MANIFEST_PREFIX = "_manifest"
_SOURCE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_LANDING_ID_RE = re.compile(r"[0-9a-f]{64}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class LandingObject:
    """One manifest row: what was received, from whom, when, and where it is kept."""

    landing_id: str
    source: str
    original_name: str
    ingest_ts: datetime
    bytes: int
    content_type: str
    key: str
    attributes: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        row = asdict(self)
        row["ingest_ts"] = self.ingest_ts.isoformat()
        return json.dumps(row, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | builtins.bytes) -> LandingObject:
        row: dict[str, Any] = json.loads(text)
        row["ingest_ts"] = datetime.fromisoformat(row["ingest_ts"])
        return cls(**row)


@dataclass(frozen=True)
class PutResult:
    """The landed object and whether this call stored it (False: the bytes were known)."""

    obj: LandingObject
    created: bool


class LandingStore:
    """Append-only, content-addressed raw storage on a pluggable backend."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.backend: LandingBackend = open_backend(url, storage_options)

    @property
    def url(self) -> str:
        return self.backend.url

    def put(
        self,
        data: bytes,
        source: str,
        name: str,
        content_type: str = "application/octet-stream",
        now: datetime | None = None,
        attributes: dict[str, str] | None = None,
    ) -> PutResult:
        """Land ``data`` once; re-landing the same bytes is a no-op returning the first object.

        ``attributes`` are kept in the manifest row with the first landing (e.g. the time zone
        the producer used) so a replay parses the object exactly as the first ingest did.
        """
        check_source(source)
        landing_id = hashlib.sha256(data).hexdigest()
        existing = self._manifest_row(landing_id)
        if existing is not None:
            self._ensure_object(existing, data)
            return PutResult(existing, created=False)
        ingest_ts = (now or datetime.now(UTC)).astimezone(UTC)
        obj = LandingObject(
            landing_id=landing_id,
            source=source,
            original_name=PurePosixPath(name.replace("\\", "/")).name,
            ingest_ts=ingest_ts,
            bytes=len(data),
            content_type=content_type,
            key=_object_key(source, ingest_ts, landing_id, name),
            attributes=redact_data(dict(attributes or {})),
        )
        self._write(obj.key, data)
        if not self._write(_manifest_key(landing_id), obj.to_json().encode()):
            # Another writer landed the same bytes between our check and our write.
            winner = self._manifest_row(landing_id)
            if winner is None:
                raise LandingError(f"manifest row for {landing_id} vanished; check {self.url}.")
            return PutResult(winner, created=False)
        return PutResult(obj, created=True)

    def get(self, landing_id: str) -> bytes:
        """The exact bytes of a landed object, verified against their sha256."""
        obj = self.describe(landing_id)
        data = self.backend.read(obj.key)
        if hashlib.sha256(data).hexdigest() != landing_id:
            raise LandingError(
                f"landing object {obj.key} does not match its sha256; restore it from backup."
            )
        return data

    def describe(self, landing_id: str) -> LandingObject:
        """The manifest row of a landed object."""
        if not _LANDING_ID_RE.fullmatch(landing_id):
            raise LandingError(
                f"{landing_id!r} is not a landing id; use the 64 hex characters of a sha256."
            )
        row = self._manifest_row(landing_id)
        if row is None:
            raise LandingError(f"no landing object {landing_id} in {self.url}.")
        return row

    def list(self, source: str | None = None) -> list[LandingObject]:
        """Every manifest row, oldest first (the order replay must follow)."""
        rows = [LandingObject.from_json(self.backend.read(key)) for key in self._manifest_keys()]
        if source is not None:
            rows = [row for row in rows if row.source == source]
        return sorted(rows, key=lambda row: (row.ingest_ts, row.landing_id))

    def _manifest_keys(self) -> Iterator[str]:
        return (k for k in self.backend.keys(MANIFEST_PREFIX) if k.endswith(".json"))

    def _manifest_row(self, landing_id: str) -> LandingObject | None:
        try:
            return LandingObject.from_json(self.backend.read(_manifest_key(landing_id)))
        except FileNotFoundError:
            return None

    def _ensure_object(self, obj: LandingObject, data: bytes) -> None:
        if not self.backend.exists(obj.key):
            self._write(obj.key, data)

    def _write(self, key: str, data: bytes) -> bool:
        check_key(key)
        try:
            return self.backend.create(key, data)
        except OSError as exc:
            raise LandingError(f"could not write {key} to {self.url}: {exc}") from exc


def check_source(source: str) -> str:
    """``source`` if it is a safe landing source name, else a :class:`LandingError` that says
    what is allowed.

    The source becomes the first folder of every object key (and a ``source=`` folder in
    staging), so ``..``, a slash or a control character would write outside the landing root
    or put escape codes on a terminal.
    """
    if not isinstance(source, str) or not _SOURCE_RE.fullmatch(source) or ".." in source:
        raise LandingError(
            f"landing source {source!r} is not allowed; use 1-128 letters, digits, '_', '.', ':'"
            " or '-', starting with a letter or digit, without '/' or '..' (e.g. 'rss:ecb')."
        )
    return source


def check_key(key: str) -> str:
    """``key`` if it is a relative object key that stays inside the landing root."""
    parts = key.split("/")
    if (
        not key
        or "\\" in key
        or _CONTROL_RE.search(key)
        or any(part in ("", ".", "..") for part in parts)
        or not _safe_first_folder(parts[0])
    ):
        raise LandingError(
            f"landing key {key!r} would leave the landing folder or is malformed; keys are "
            "relative paths of safe names (a bug in the caller: report it)."
        )
    return key


def _safe_first_folder(first: str) -> bool:
    """The first folder of a key is a source name or the manifest folder."""
    return first == MANIFEST_PREFIX or bool(_SOURCE_RE.fullmatch(first) and ".." not in first)


def _manifest_key(landing_id: str) -> str:
    return f"{MANIFEST_PREFIX}/{landing_id}.json"


def _object_key(source: str, ts: datetime, landing_id: str, name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower().lstrip(".")
    ext = f".{suffix}" if suffix.isalnum() else ""
    return f"{source}/{ts:%Y}/{ts:%m}/{ts:%d}/{landing_id}{ext}"
