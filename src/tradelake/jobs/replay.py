"""Rebuild staging and the feature store from landing alone.

Landing is the only source of truth; staging and the feature store are derived. Replay parses
every landing object again in manifest order (oldest first, the order versions were assigned
in) into a fresh staging folder and a fresh DuckDB file, and swaps them in only when complete,
so a crash during replay leaves the previous state untouched.

Before anything is written, the landing zone is verified (:func:`verify_landing`): a deleted,
edited or orphaned manifest row would otherwise drop or shift an export without a word. Any
problem raises :class:`LandingIntegrityError` (one line per problem) and changes nothing; an
object that turns out unreadable or altered while replaying raises a one-line ``LandingError``
and the half-built copy is removed, so staging and features stay as they were.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tradelake.features import FeatureStore
from tradelake.jobs.ingest import FileResult, IngestEnv, process_object
from tradelake.landing.verify import LandingIntegrityError, Verification, verify_landing
from tradelake.sources.base import get_source
from tradelake.staging import StagingWriter


@dataclass(frozen=True)
class ReplayResult:
    objects: int
    results: list[FileResult]
    notes: list[str] = field(default_factory=list)


def replay(
    env: IngestEnv,
    features: FeatureStore,
    *,
    progress: Callable[[str], None] | None = None,
    verified: Verification | None = None,
) -> ReplayResult:
    """Re-derive staging and features from landing; same inputs give the same tables.

    ``verified`` is a passing verification of ``env.landing`` made just before (the CLI shows
    its problems itself); without it the zone is verified here.
    """
    check = verified or verify_landing(env.landing)
    if not check.ok:
        raise LandingIntegrityError(check)
    staging_root = env.staging.root
    fresh_root = staging_root.with_name(staging_root.name + ".replay")
    shutil.rmtree(fresh_root, ignore_errors=True)
    fresh_env = IngestEnv(env.landing, StagingWriter(fresh_root), env.instruments)
    results = []
    try:
        for obj in check.rows:
            source = get_source(obj.attributes.get("kind") or obj.source.split(":", 1)[0])
            data = env.landing.get(obj.landing_id)
            results.append(process_object(fresh_env, obj, data, source, path=obj.original_name))
            if progress:
                progress(obj.original_name)
    except BaseException:
        shutil.rmtree(fresh_root, ignore_errors=True)
        raise
    _swap(fresh_root, staging_root)
    _reset_store(features)
    features.refresh()
    return ReplayResult(len(results), results, check.notes())


def _swap(fresh: Path, current: Path) -> None:
    old = current.with_name(current.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if current.exists():
        current.rename(old)
    fresh.rename(current)
    shutil.rmtree(old, ignore_errors=True)


def _reset_store(features: FeatureStore) -> None:
    path = features.path
    for candidate in (path, path.with_name(path.name + ".wal")):
        candidate.unlink(missing_ok=True)
    shutil.rmtree(features.tables_dir, ignore_errors=True)
