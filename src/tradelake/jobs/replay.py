"""Rebuild staging and the feature store from landing alone.

Landing is the only source of truth; staging and the feature store are derived. Replay parses
every landing object again in manifest order (oldest first, the order versions were assigned
in) into a new staging *generation*, a fresh folder ``staging.<id>`` beside the configured
``staging``, builds a fresh store over it, and publishes that store's catalog in one rename: the
one switch (:mod:`tradelake.features.catalog`). Readers see the previous state until then and
the new one after. Only then is ``staging`` (now a relative symlink) pointed at the new
generation for the writers; a replay killed between the two is finished by the next writer
(:func:`follow_published_staging`, under the write lock). A replay killed earlier leaves its
half-built generation unpublished; the next replay deletes it.

The previous generation is retired, not deleted: readers that opened the previous catalog
keep reading it for :data:`~tradelake.features.catalog.RETIRED_GRACE_S`.

Before anything is written, the landing zone is verified (:func:`verify_landing`): a deleted,
edited or orphaned manifest row would otherwise drop or shift an export without a word. Any
problem raises :class:`LandingIntegrityError` (one line per problem) and changes nothing; an
object that turns out unreadable or altered while replaying raises a one-line ``LandingError``
and the half-built generation is removed, so staging and features stay as they were.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tradelake.features import FeatureStore, catalog
from tradelake.jobs.faults import crash_point
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
    staging_path: Path,
    *,
    progress: Callable[[str], None] | None = None,
    verified: Verification | None = None,
) -> ReplayResult:
    """Re-derive staging and features from landing; same inputs give the same tables.

    ``staging_path`` is the configured staging folder (a link to the current generation after
    the first replay). The caller holds the data home's write lock. ``verified`` is a passing
    verification of ``env.landing`` made just before (the CLI shows its problems itself);
    without it the zone is verified here.
    """
    check = verified or verify_landing(env.landing)
    if not check.ok:
        raise LandingIntegrityError(check)
    _remove_abandoned(staging_path, features)
    fresh_root = staging_path.with_name(f"{staging_path.name}.{uuid.uuid4().hex[:12]}")
    fresh_env = IngestEnv(env.landing, StagingWriter(fresh_root), env.instruments, env.chart_model)
    results = []
    try:
        for obj in check.rows:
            source = get_source(obj.attributes.get("kind") or obj.source.split(":", 1)[0])
            data = env.landing.get(obj.landing_id)
            results.append(process_object(fresh_env, obj, data, source, path=obj.original_name))
            if progress:
                progress(obj.original_name)
        crash_point("replay_before_publish")
        FeatureStore(features.path, fresh_env.staging, features.instruments, fresh=True).refresh()
    except BaseException:
        shutil.rmtree(fresh_root, ignore_errors=True)
        raise
    crash_point("replay_after_publish")
    _swap(fresh_root, staging_path)
    _remove_legacy_store(features)
    return ReplayResult(len(results), results, check.notes())


def follow_published_staging(staging_path: Path, features: FeatureStore) -> None:
    """Point ``staging_path`` at the generation the published catalog reads, if it does not
    already (a replay stopped between publishing and :func:`_swap`). Call under the lock."""
    published = catalog.read(features.catalog_path)
    root = None if published is None else published.staging_root
    if root is None or root == staging_path or not root.is_dir():
        return
    if staging_path.resolve() != root.resolve():
        _swap(root, staging_path)


def _swap(fresh: Path, current: Path) -> None:
    """Make ``current`` a relative symlink to ``fresh`` in one ``os.replace`` (a symlink in the
    same folder, so the data home stays relocatable). A home from before generations has a real
    ``staging`` folder: it is moved aside first (to ``staging.<id>``, deleted by the next
    replay); a reader never reads staging through ``current``, so that is safe for readers."""
    if current.exists() and not current.is_symlink():
        current.rename(current.with_name(f"{current.name}.{uuid.uuid4().hex[:12]}"))
    link = current.with_name(f".{current.name}.{uuid.uuid4().hex}.link")
    os.symlink(fresh.name if fresh.parent == current.parent else fresh, link)
    os.replace(link, current)


def _remove_abandoned(staging_path: Path, features: FeatureStore) -> None:
    """Delete staging generations nothing uses: those of replays that never published, and
    folders moved aside. The current one, the published one and those still in their grace
    after retirement stay."""
    published = catalog.read(features.catalog_path)
    keep = {staging_path.resolve()}
    if published is not None:
        keep.update(Path(p).resolve() for p in published.retired)
        if published.staging_root is not None:
            keep.add(published.staging_root.resolve())
    for folder in staging_path.parent.glob(f"{staging_path.name}.*"):
        if folder.is_dir() and not folder.is_symlink() and folder.resolve() not in keep:
            shutil.rmtree(folder, ignore_errors=True)
    for link in staging_path.parent.glob(f".{staging_path.name}.*.link"):  # a killed _swap's
        link.unlink(missing_ok=True)


def _remove_legacy_store(features: FeatureStore) -> None:
    """Stores before the published catalog were one DuckDB file; nothing reads it any more."""
    path = features.path
    if path != features.catalog_path:
        for candidate in (path, path.with_name(path.name + ".wal")):
            candidate.unlink(missing_ok=True)
