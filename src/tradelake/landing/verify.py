"""Check a landing zone before anything is derived from it, and seal rows landed before digests.

Replay trusts the manifest for what to parse and how (the ATAS time zone is a manifest
attribute), so a deleted row silently drops an export and an edited one silently shifts it.
:func:`verify_landing` lists every key once and reconciles the three write-once records:

- every manifest row parses, is stored under its own landing id, and its ``digest`` matches
  its fields (a row edited by hand, or by a script that did not know about digests);
- every row has exactly one ledger entry, ``_ledger/<landing id>.<digest>``, with its digest (an
  edit that also recomputed the digest; a row whose entry was deleted);
- every row's object exists (``deep=True``: and its bytes hash to the landing id);
- every object and every ledger entry has a manifest row (a deleted row).

What this does and does not prove. Everything here works without a secret and without any
overwrite or delete in the backend protocol, so it catches accidents, partial restores and
naive edits. Someone with write *and* delete access to the whole zone can still rewrite a row,
its digest and its ledger entry consistently, or delete an object with its row and entry: only
a keyed digest (an HMAC with a secret kept outside the zone, not built) or an external copy of
the ledger would catch that. Objects themselves are content-addressed: their bytes cannot be
changed without ``deep`` verification (and every replay read) noticing.

Zones written before digests existed still replay: their rows (``digest == ""``) without a ledger
entry are reported as *unsealed*, a note and not a problem, until ``tradelake landing seal``
records their digests (trust on first use). A zone that started empty under this code, or that
was sealed, carries ``_ledger/_sealed.json``; there, a row without a ledger entry is a problem,
so stripping a row's digest and its entry does not pass for an old row.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from tradelake.errors import LandingError
from tradelake.landing.store import (
    LEDGER_PREFIX,
    MANIFEST_PREFIX,
    SEALED_KEY,
    LandingObject,
    LandingStore,
    ledger_key,
    manifest_digest,
    seal_record,
)

_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the zone: what it concerns, what is wrong, what to do."""

    subject: str
    what: str
    fix: str
    sealable: bool = False  # `tradelake landing seal` may accept it (a row without its entry)

    def line(self) -> str:
        return f"{self.subject}: {self.what}; {self.fix}"


@dataclass
class Verification:
    """The outcome of :func:`verify_landing`; ``rows`` are in replay order when ``ok``."""

    url: str
    deep: bool
    sealed_zone: bool
    rows: list[LandingObject] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unsealed: list[LandingObject] = field(default_factory=list)
    copies: list[str] = field(default_factory=list)
    to_seal: dict[str, str] = field(default_factory=dict)  # landing id -> digest to record

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        return [problem.line() for problem in self.problems]

    def notes(self) -> list[str]:
        notes = []
        if self.unsealed:
            notes.append(
                f"{len(self.unsealed)} manifest rows in {self.url} were landed before manifest "
                "digests, so edits to them cannot be detected; run `tradelake landing seal` "
                "once to record their digests"
            )
        if self.copies:
            notes.append(
                f"{len(self.copies)} extra copies of landed objects (an object landed again "
                "after a crash, on another day) are ignored"
            )
        return notes

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ok": self.ok,
            "deep": self.deep,
            "sealed": self.sealed_zone,
            "objects": len(self.rows),
            "problems": [
                {"subject": p.subject, "problem": p.what, "fix": p.fix} for p in self.problems
            ],
            "unsealed": [row.landing_id for row in self.unsealed],
            "copies": self.copies,
            "notes": self.notes(),
        }


class LandingIntegrityError(LandingError):
    """The landing zone failed verification; ``problems`` has one line per problem."""

    def __init__(self, verification: Verification) -> None:
        self.verification = verification
        self.problems = verification.lines()
        super().__init__(
            f"landing zone {verification.url} failed verification ({len(self.problems)} "
            f"problems): {'; '.join(self.problems[:3])}"
        )


@dataclass
class _Listing:
    manifests: dict[str, str] = field(default_factory=dict)  # landing id -> key
    ledger: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    objects: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    sealed: bool = False
    strays: list[str] = field(default_factory=list)


def verify_landing(store: LandingStore, *, deep: bool = False) -> Verification:
    """Reconcile manifest rows, ledger entries and objects (see the module docstring).

    Read-only. ``deep=False`` reads every manifest row and lists every key; ``deep=True`` also
    reads every object and checks its sha256 and size (what a replay does as it goes).
    """
    listing = _list(store)
    result = Verification(store.url, deep, listing.sealed)
    result.problems.extend(
        Problem(key, "is not a landing object, manifest row or ledger entry", _MOVE_OUT)
        for key in listing.strays
    )
    for landing_id, key in sorted(listing.manifests.items()):
        row = _check_row(store, result, listing, landing_id, key)
        if row is not None:
            result.rows.append(row)
    for landing_id in sorted((set(listing.ledger) | set(listing.objects)) - set(listing.manifests)):
        result.problems.append(_missing_row(landing_id, listing))
    result.rows.sort(key=lambda row: (row.ingest_ts, row.landing_id))
    return result


def seal_landing(store: LandingStore) -> Verification:
    """Record the digest of every row that has no ledger entry, then mark the zone sealed.

    Refuses (returns the verification, nothing written) when anything else is wrong: sealing
    must not bless an edited row or paper over a missing object.
    """
    result = verify_landing(store)
    if any(not problem.sealable for problem in result.problems):
        return result
    for landing_id, digest in sorted(result.to_seal.items()):
        store.backend.create(ledger_key(landing_id, digest), b"")
    store.backend.create(SEALED_KEY, seal_record())
    return verify_landing(store)


def _list(store: LandingStore) -> _Listing:
    listing = _Listing()
    for key in store.backend.keys(""):
        top, _, rest = key.partition("/")
        if top == MANIFEST_PREFIX:
            stem = rest.removesuffix(".json")
            if rest.endswith(".json") and _is_sha256(stem):
                listing.manifests[stem] = key
            else:
                listing.strays.append(key)
        elif top == LEDGER_PREFIX:
            landing_id, _, digest = rest.partition(".")
            if key == SEALED_KEY:
                listing.sealed = True
            elif _is_sha256(landing_id) and _is_sha256(digest):
                listing.ledger[landing_id].add(digest)
            else:
                listing.strays.append(key)
        elif not top.startswith("_"):  # other "_" folders are reserved for the platform
            landing_id = PurePosixPath(key).name.split(".", 1)[0]
            if _is_sha256(landing_id):
                listing.objects[landing_id].append(key)
            else:
                listing.strays.append(key)
    return listing


def _check_row(
    store: LandingStore, result: Verification, listing: _Listing, landing_id: str, key: str
) -> LandingObject | None:
    """Check one manifest row against its ledger entry and its object; None if unusable."""
    try:
        text = store.read_key(key)
        row = LandingObject.from_json(text)
        stored: dict[str, Any] = json.loads(text)
    except LandingError as exc:
        result.problems.append(Problem(key, str(exc).split(";")[0], _RESTORE_ROW.format(key=key)))
        return None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        result.problems.append(
            Problem(key, f"is corrupt ({type(exc).__name__}: {exc})", _RESTORE_ROW.format(key=key))
        )
        return None
    subject = f"{row.original_name} ({landing_id[:12]})"
    problems = len(result.problems)
    computed = manifest_digest(stored)
    recorded = listing.ledger.get(landing_id, set())
    if row.landing_id != landing_id:
        result.problems.append(
            Problem(
                subject, f"{key} names landing id {row.landing_id}", _RESTORE_ROW.format(key=key)
            )
        )
    elif row.digest and row.digest != computed:
        result.problems.append(
            Problem(
                subject,
                f"manifest row {key} was altered after it landed (its digest no longer matches "
                "its fields)",
                _RESTORE_ROW.format(key=key),
            )
        )
    elif recorded and recorded != {computed}:
        result.problems.append(
            Problem(
                subject,
                f"manifest row {key} was altered after it landed (it is not the row the "
                "ledger recorded)",
                _RESTORE_ROW.format(key=key),
            )
        )
    elif not recorded and (row.digest or listing.sealed):
        result.to_seal[landing_id] = computed
        result.problems.append(
            Problem(
                subject,
                f"manifest row {key} has no ledger entry (deleted, or a crash while landing)",
                "if the row is genuine run `tradelake landing seal`; else restore "
                f"{LEDGER_PREFIX}/ from backup",
                sealable=True,
            )
        )
    elif not recorded:
        result.to_seal[landing_id] = computed
        result.unsealed.append(row)
    _check_object(store, result, listing, row, subject)
    result.copies.extend(k for k in listing.objects.get(landing_id, []) if k != row.key)
    return row if len(result.problems) == problems else None


def _check_object(
    store: LandingStore, result: Verification, listing: _Listing, row: LandingObject, subject: str
) -> None:
    if row.key not in listing.objects.get(row.landing_id, []):
        result.problems.append(
            Problem(
                subject,
                f"its landing object {row.key} is missing (replay would drop this file)",
                "restore the object from backup, or ingest the original file again",
            )
        )
        return
    if not result.deep:
        return
    try:
        data = store.read_key(row.key)
    except LandingError as exc:
        result.problems.append(Problem(subject, str(exc).split(";")[0], _RESTORE_OBJECT))
        return
    if hashlib.sha256(data).hexdigest() != row.landing_id or len(data) != row.bytes:
        result.problems.append(
            Problem(subject, f"landing object {row.key} does not match its sha256", _RESTORE_OBJECT)
        )


def _missing_row(landing_id: str, listing: _Listing) -> Problem:
    """An object or a ledger entry whose manifest row is gone. With a ledger entry the row was
    written and then deleted: only the original row (from backup) matches the entry."""
    objects = listing.objects.get(landing_id, [])
    key = f"{MANIFEST_PREFIX}/{landing_id}.json"
    if landing_id in listing.ledger:
        where = f"landing object {objects[0]}" if objects else f"landing id {landing_id}"
        return Problem(
            where,
            f"its manifest row {key} was deleted (the ledger recorded it), so replay would drop "
            "this file",
            f"restore {key} from backup",
        )
    return Problem(
        f"landing object {objects[0]}",
        f"has no manifest row {key} (a crash between landing and manifest, or a deleted row), "
        "so replay would drop it",
        f"ingest the original file again, or restore {key} from backup",
    )


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and set(text) <= _HEX


_RESTORE_ROW = "restore {key} from backup; replay would parse the file differently"
_RESTORE_OBJECT = "restore the object from backup, or ingest the original file again"
_MOVE_OUT = "move it out of the landing zone (only tradelake writes there)"
