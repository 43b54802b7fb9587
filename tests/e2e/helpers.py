"""Running the real ``tradelake`` command and snapshotting a data home's tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl

from tradelake.features import FeatureStore
from tradelake.staging import StagingWriter

FEATURE_TABLES = (
    "trades",
    "journal",
    "round_trips",
    "daily_pnl",
    "open_positions",
    "journal_stats",
    "journal_reconciliation",
)
# Landing time differs between two homes fed the same bytes; everything else must not.
VOLATILE = ("ingest_ts",)


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m tradelake ARGS`` in a subprocess (so a crash point can really kill it)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TRADELAKE_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "tradelake", *args],
        capture_output=True,
        text=True,
        env=full_env,
        stdin=subprocess.DEVNULL,  # never a terminal: init must not wait for an answer
        timeout=timeout,
        check=False,
    )


def json_out(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)


def snapshot(home: Path) -> dict[str, pl.DataFrame]:
    """Every feature table, volatile columns dropped, rows in a canonical order."""
    con = FeatureStore(home / "features.duckdb", StagingWriter(home / "staging")).connect(
        read_only=True
    )
    try:
        tables = {}
        for name in FEATURE_TABLES:
            frame = con.sql(f'SELECT * FROM "{name}"').pl()
            frame = frame.drop([c for c in VOLATILE if c in frame.columns])
            tables[name] = frame.sort(frame.columns, nulls_last=True)
        return tables
    finally:
        con.close()


def assert_same_tables(left: dict[str, pl.DataFrame], right: dict[str, pl.DataFrame]) -> None:
    assert left.keys() == right.keys()
    for name in left:
        assert left[name].height == right[name].height, name
        assert left[name].equals(right[name]), f"table {name} differs"


def staged_files(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in (home / "staging").rglob("*.parquet"))
