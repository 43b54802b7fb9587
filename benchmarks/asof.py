"""Time the point-in-time join of round-trip entries to chart signals against bare polars.

Run: ``nice -n 10 python benchmarks/asof.py --entries 5000000 --signals 2000000``.

Ours is :func:`tradelake.features.entry_features.join_signals` as training runs it: entries
sorted by entry time (what :func:`entries` does), signals' devices mapped to instrument roots
(``[[screens]]``), the signals sorted, the backward as-of join by root, and the signal's age.
The baseline is a bare ``polars.join_asof`` of the same rows by root, including sorting both
sides, on signals that already carry their root (so it does strictly less work). Both are
timed ``--repeat`` times, alternately so both see the same machine load, and the best run of
each is kept. The results are checked equal (same matched signal per entry) before timing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from tradelake.features.entry_features import join_signals

ROOTS = ("MES", "ES", "NQ", "MNQ", "RTY", "YM", "CL", "GC")
SPAN_US = 90 * 86_400 * 1_000_000  # entries and frames over 90 days


def frames(entries: int, signals: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Unsorted entries and signals (two devices per root), seeded."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2026-09-01T00:00:00", "us").astype(np.int64)
    left = pl.DataFrame(
        {
            "round_trip_id": np.arange(entries).astype(str),
            "root": rng.choice(ROOTS, entries),
            "open_ts": start + rng.integers(0, SPAN_US, entries),
        }
    ).with_columns(pl.col("open_ts").cast(pl.Datetime("us", "UTC")))
    devices = [f"{root.lower()}-{k}" for root in ROOTS for k in (1, 2)]
    right = pl.DataFrame(
        {
            "device": rng.choice(devices, signals),
            "ts": start + rng.integers(0, SPAN_US, signals),
            "signal": rng.choice(["bull_flag", "bear_flag", "double_top", "none"], signals),
            "prob": rng.random(signals),
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    return left, right


def ours(left: pl.DataFrame, right: pl.DataFrame, devices: dict[str, str]) -> pl.DataFrame:
    return join_signals(left.sort("open_ts"), right, devices)


def bare(left: pl.DataFrame, right: pl.DataFrame) -> pl.DataFrame:
    return left.sort("open_ts").join_asof(
        right.sort("ts"),
        left_on="open_ts",
        right_on="ts",
        by="root",
        strategy="backward",
        check_sortedness=False,  # both sides were just sorted
    )


def timed(fn: Callable[[], Any], times: list[float]) -> Any:
    start = time.perf_counter()
    result = fn()
    times.append(time.perf_counter() - start)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=5_000_000)
    parser.add_argument("--signals", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    left, right = frames(args.entries, args.signals, args.seed)
    devices = {d: d.split("-")[0].upper() for d in right["device"].unique().to_list()}
    rooted = right.with_columns(pl.col("device").replace_strict(devices).alias("root"))

    got = ours(left, right, devices)
    want = bare(left, rooted)
    same = got.select("round_trip_id", "chart_prob").equals(
        want.select("round_trip_id", pl.col("prob").alias("chart_prob"))
    )
    if not same:
        raise SystemExit("ours and the bare join disagree; not timing")
    matched = want["prob"].is_not_null().sum()

    ours_s: list[float] = []
    bare_s: list[float] = []
    for _ in range(args.repeat):
        timed(lambda: bare(left, rooted), bare_s)
        timed(lambda: ours(left, right, devices), ours_s)
    best_ours, best_bare = min(ours_s), min(bare_s)
    print(
        f"{args.entries:,} entries x {args.signals:,} signals ({matched:,} entries matched), "
        f"polars {pl.__version__}, best of {args.repeat}"
    )
    print(f"baseline  bare polars join_asof incl. sorts: {best_bare:.3f} s")
    print(f"ours      join_signals (map, sort, as-of, age): {best_ours:.3f} s")
    print(f"ratio     ours / baseline = {best_ours / best_bare:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
