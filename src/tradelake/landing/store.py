"""The landing zone: raw bytes exactly as received, content-addressed, append-only.

Layout (DESIGN §4)::

    <root>/<source>/<YYYY>/<MM>/<DD>/<sha256>.<ext>     the object, bytes as received
    <root>/_manifest/<sha256>.json                       one manifest row per object
    <root>/_ledger/<sha256>.<manifest digest>            the row's digest, recorded when it landed
    <root>/_ledger/_sealed.json                          "every row here has a ledger entry"

The manifest is append-only by construction: each row is its own write-once object, so the same
code works on a local disk and on S3 (which cannot append). The object is written before its
manifest row, so the manifest never names a missing object; a crash between the two leaves an
orphan that the next ``put`` of the same bytes adopts. The same bytes land once: ``put`` of known
bytes returns the existing object with ``created=False``.

Each row carries ``digest``, a sha256 over its other fields, and a second write-once object, the
ledger entry, carries the same digest in its key. A replay checks both (:mod:`.verify`), so an
edited, deleted or orphaned manifest row is found before anything is derived from it. Rows
written before digests existed (``digest == ""``) still read; ``tradelake landing seal`` records
their digests once.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from tradelake.errors import LandingError
from tradelake.landing.backend import LandingBackend, open_backend
from tradelake.redaction import redact_data

MANIFEST_PREFIX = "_manifest"
LEDGER_PREFIX = "_ledger"
SEALED_KEY = f"{LEDGER_PREFIX}/_sealed.json"
_DIGEST_DOMAIN = b"tradelake manifest row v1\n"
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
    digest: str = ""  # manifest_digest() of the other fields; "" in rows landed before digests

    def to_json(self) -> str:
        row = asdict(self)
        row["ingest_ts"] = self.ingest_ts.isoformat()
        return json.dumps(row, sort_keys=True)

    def with_digest(self) -> LandingObject:
        """This row with its digest filled in (what ``put`` writes)."""
        return replace(self, digest=manifest_digest(json.loads(self.to_json())))

    @classmethod
    def from_json(cls, text: str | builtins.bytes) -> LandingObject:
        """Parse a manifest row; anything that is not one raises ``ValueError``, ``KeyError`` or
        ``TypeError`` (callers turn them into a :class:`LandingError` naming the key)."""
        row: dict[str, Any] = json.loads(text)
        row["ingest_ts"] = datetime.fromisoformat(row["ingest_ts"])
        return cls(**row)


def manifest_digest(row: dict[str, Any]) -> str:
    """sha256 over a manifest row's fields except ``digest``, in canonical JSON.

    It is computed from the row as stored (parsed JSON), so a reader recomputes exactly what the
    writer did. Without a secret anyone can recompute it: on its own it catches accidents and
    naive edits; the ledger entry written beside it catches an edit that recomputed it too.
    """
    fields = {name: value for name, value in row.items() if name != "digest"}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(_DIGEST_DOMAIN + canonical.encode()).hexdigest()


def ledger_key(landing_id: str, digest: str) -> str:
    """The ledger entry recording that ``landing_id``'s manifest row had ``digest``."""
    return f"{LEDGER_PREFIX}/{landing_id}.{digest}"


@dataclass(frozen=True)
class PutResult:
    """The landed object and whether this call stored it (False: the bytes were known)."""

    obj: LandingObject
    created: bool


class LandingStore:
    """Append-only, content-addressed raw storage on a pluggable backend."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.backend: LandingBackend = open_backend(url, storage_options)
        self._seal_checked = False

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
            self._ensure_ledger(existing)
            return PutResult(existing, created=False)
        self._seal_new_zone()
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
        ).with_digest()
        self._write(obj.key, data)
        if not self._write(_manifest_key(landing_id), obj.to_json().encode()):
            # Another writer landed the same bytes between our check and our write.
            winner = self._manifest_row(landing_id)
            if winner is None:
                raise LandingError(f"manifest row for {landing_id} vanished; check {self.url}.")
            self._ensure_ledger(winner)
            return PutResult(winner, created=False)
        self._ensure_ledger(obj)
        return PutResult(obj, created=True)

    def get(self, landing_id: str) -> bytes:
        """The exact bytes of a landed object, verified against their sha256."""
        obj = self.describe(landing_id)
        data = self.read_key(obj.key, f"{obj.original_name} ({landing_id[:12]})")
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
        rows = [self.read_manifest(key) for key in self._manifest_keys()]
        if source is not None:
            rows = [row for row in rows if row.source == source]
        return sorted(rows, key=lambda row: (row.ingest_ts, row.landing_id))

    def read_key(self, key: str, what: str | None = None) -> bytes:
        """The bytes under ``key``; a missing or unreadable key is a one-line ``LandingError``
        (``what``: the file's name for people, e.g. ``"a.xlsx (1f2e...)"``)."""
        try:
            return self.backend.read(key)
        except FileNotFoundError:
            subject = f"{what}: landing object {key}" if what else key
            raise LandingError(
                f"{subject} is missing from {self.url}; restore it from backup, then run "
                "`tradelake landing verify`."
            ) from None
        except OSError as exc:
            raise self._unreadable(key, exc) from exc

    def read_manifest(self, key: str) -> LandingObject:
        """The manifest row stored at ``key``; a corrupt one is a one-line ``LandingError``."""
        return self._parse_manifest(key, self.read_key(key))

    def _parse_manifest(self, key: str, text: bytes) -> LandingObject:
        try:
            return LandingObject.from_json(text)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise LandingError(
                f"manifest row {key} in {self.url} is corrupt ({type(exc).__name__}: {exc}); "
                "restore it from backup, then run `tradelake landing verify`."
            ) from None

    def _manifest_keys(self) -> Iterator[str]:
        return (k for k in self.backend.keys(MANIFEST_PREFIX) if k.endswith(".json"))

    def _manifest_row(self, landing_id: str) -> LandingObject | None:
        key = _manifest_key(landing_id)
        try:
            text = self.backend.read(key)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._unreadable(key, exc) from exc
        return self._parse_manifest(key, text)

    def _unreadable(self, key: str, exc: OSError) -> LandingError:
        return LandingError(
            f"cannot read {key} in {self.url} ({exc}); check the disk or the bucket's "
            "rights, then run `tradelake landing verify`."
        )

    def _ensure_object(self, obj: LandingObject, data: bytes) -> None:
        if not self.backend.exists(obj.key):
            self._write(obj.key, data)

    def _ensure_ledger(self, obj: LandingObject) -> None:
        """Record a digest-bearing row's digest (again after a crash between row and entry).
        Rows landed before digests are left to ``tradelake landing seal``, an explicit act."""
        if obj.digest and obj.digest == manifest_digest(json.loads(obj.to_json())):
            self._write(ledger_key(obj.landing_id, obj.digest), b"")

    def _seal_new_zone(self) -> None:
        """Mark a zone that starts empty as sealed: from then on every manifest row must have a
        ledger entry, so stripping a row's digest and its entry cannot pass for an old row."""
        if self._seal_checked:
            return
        self._seal_checked = True
        if self.backend.exists(SEALED_KEY) or next(self._manifest_keys(), None) is not None:
            return
        self._write(SEALED_KEY, seal_record())

    def _write(self, key: str, data: bytes) -> bool:
        check_key(key)
        try:
            return self.backend.create(key, data)
        except OSError as exc:
            raise LandingError(f"could not write {key} to {self.url}: {exc}") from exc


def seal_record(now: datetime | None = None) -> bytes:
    """The content of the zone's seal marker (when it was sealed, for people reading it)."""
    return json.dumps({"sealed_at": (now or datetime.now(UTC)).isoformat()}).encode()


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
    """The first folder of a key is a source name, the manifest or the ledger folder."""
    return first in (MANIFEST_PREFIX, LEDGER_PREFIX) or bool(
        _SOURCE_RE.fullmatch(first) and ".." not in first
    )


def _manifest_key(landing_id: str) -> str:
    return f"{MANIFEST_PREFIX}/{landing_id}.json"


def _object_key(source: str, ts: datetime, landing_id: str, name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower().lstrip(".")
    ext = f".{suffix}" if suffix.isalnum() else ""
    return f"{source}/{ts:%Y}/{ts:%m}/{ts:%d}/{landing_id}{ext}"
