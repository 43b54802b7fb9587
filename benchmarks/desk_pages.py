"""What the desk adds on top of the data: each page and API call's latency against the bare
``Platform`` reads it makes, on a ``tradelake demo`` home, in the same run.

Builds the demo (``--fills`` per export) in a temp dir, then requests each path ``--repeat``
times through FastAPI's TestClient (in process: no network) and times the platform calls
behind it the same number of times; prints p50 / p99 per path, the baseline's p50 and the
ratio (page p50 / baseline p50).

    python benchmarks/desk_pages.py --fills 2000 --repeat 30
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fastapi.testclient import TestClient

from fixtures.desk import cli
from tradelake.config import load_settings
from tradelake.platform import Platform
from tradelake.web.app import create_app

TOKEN = "bench-viewer-token"


def timed(call: Callable[[], Any], repeat: int) -> list[float]:
    call()  # warm
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        cli("demo", "--home", str(home), "--fills", str(args.fills))
        os.environ["TRADELAKE_VIEWER_TOKEN"] = TOKEN
        platform = Platform(load_settings(home, env={"TRADELAKE_VIEWER_TOKEN": TOKEN}))
        client = TestClient(create_app(platform.stream_runtime(), platform))
        client.post("/login", data={"token": TOKEN})
        cases: dict[str, Callable[[], Any]] = {
            "/": lambda: (platform.statistics("all"), platform.alerts(None, limit=20)),
            "/pnl": platform.daily_pnl,
            "/journal": lambda: (
                [platform.statistics(d) for d in ("instrument", "hour", "weekday")]
                + [platform.round_trips(limit=200)]
            ),
            "/data": lambda: (
                platform.feed_status(),
                platform.data_quality(),
                platform.reconciliation(),
            ),
            "/api/pnl/daily": platform.daily_pnl,
            "/api/round_trips?limit=1000": lambda: platform.round_trips(limit=1000),
        }
        rows = platform.daily_pnl().height
        print(f"demo: {args.fills} fills per export, {rows} daily P&L rows; {args.repeat} runs")
        print(f"{'path':30} {'p50 ms':>8} {'p99 ms':>8} {'baseline p50':>13} {'ratio':>6}")
        for path, baseline in cases.items():
            page = timed(lambda path=path: client.get(path).raise_for_status(), args.repeat)
            bare = timed(baseline, args.repeat)
            p50, base = statistics.median(page), statistics.median(bare)
            p99 = statistics.quantiles(page, n=100)[98]
            print(
                f"{path:30} {p50 * 1e3:8.1f} {p99 * 1e3:8.1f} {base * 1e3:13.1f} {p50 / base:6.2f}"
            )


if __name__ == "__main__":
    main()
