"""Rebuild staging and the feature store from landing alone.

Landing is the only source of truth; staging and the feature store are derived. Replay parses
every landing object again in manifest order (oldest first, the order versions were assigned
in) into a fresh staging folder and a fresh DuckDB file, and swaps them in only when complete,
so a crash during replay leaves the previous state untouched.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tradelake.features import FeatureStore
from tradelake.jobs.ingest import FileResult, IngestEnv, process_object
from tradelake.sources.base import get_source
from tradelake.staging import StagingWriter


@dataclass(frozen=True)
class ReplayResult:
    objects: int
    results: list[FileResult]


def replay(
    env: IngestEnv, features: FeatureStore, *, progress: Callable[[str], None] | None = None
) -> ReplayResult:
    """Re-derive staging and features from landing; same inputs give the same tables."""
    staging_root = env.staging.root
    fresh_root = staging_root.with_name(staging_root.name + ".replay")
    shutil.rmtree(fresh_root, ignore_errors=True)
    fresh_env = IngestEnv(env.landing, StagingWriter(fresh_root), env.instruments)
    results = []
    for obj in env.landing.list():
        source = get_source(obj.attributes.get("kind") or obj.source.split(":", 1)[0])
        data = env.landing.get(obj.landing_id)
        results.append(process_object(fresh_env, obj, data, source, path=obj.original_name))
        if progress:
            progress(obj.original_name)
    _swap(fresh_root, staging_root)
    _reset_store(features)
    features.refresh()
    return ReplayResult(len(results), results)


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
