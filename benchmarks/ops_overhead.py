"""What operations cost a one-shot ``tradelake ingest``: lineage events and metrics.

Run: ``python benchmarks/ops_overhead.py`` (about a minute).

Each round runs ``python -m tradelake ingest`` as a user does (a new process: the import of
``openlineage`` counts) on a fresh data home, once with ``[lineage] enabled = false`` (the
baseline, measured in the same run) and once with the default (events appended to
``<home>/lineage/events.jsonl``), alternating which goes first. It prints the best and the
median wall time of each and their ratio. Metrics are not recorded by one-shot commands (only
``serve`` and ``run`` turn them on), so they cost an ingest nothing; the script checks that the
ingest never imports ``prometheus_client``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tradelake.sources.atas_samples import make_workbook


def ingest_once(root: Path, data: bytes, lineage: bool, tag: str) -> float:
    home = root / tag
    home.mkdir()
    (home / "export.xlsx").write_bytes(data)
    if not lineage:
        (home / "tradelake.toml").write_text("[lineage]\nenabled = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADELAKE_")}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tradelake", "ingest", str(home / "export.xlsx"),
         "--home", str(home), "--json"],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    events = home / "lineage" / "events.jsonl"
    assert events.exists() == lineage, f"lineage={lineage} but events file exists={events.exists()}"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fills", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    data, _ = make_workbook(fills=args.fills, seed=7)
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, tradelake.cli, tradelake.platform;"
         "print(any(m.startswith('prometheus_client') for m in sys.modules))"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    times: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="ops-overhead-") as tmp:
        root = Path(tmp)
        ingest_once(root, data, True, "warmup")  # file cache, bytecode
        for round_no in range(args.rounds):
            order = (False, True) if round_no % 2 == 0 else (True, False)
            for lineage in order:
                times[lineage].append(ingest_once(root, data, lineage, f"{round_no}-{lineage}"))
    base, ours = times[False], times[True]
    print(f"ingest of a {args.fills}-fill export, new process each, {args.rounds} rounds")
    print(
        f"  lineage off (baseline): best {min(base):.2f} s, median {statistics.median(base):.2f} s"
    )
    print(
        f"  lineage on  (default) : best {min(ours):.2f} s, median {statistics.median(ours):.2f} s"
    )
    print(
        f"  ratio (median): {statistics.median(ours) / statistics.median(base):.2f}x, "
        f"cost {statistics.median(ours) - statistics.median(base):+.2f} s"
    )
    print(f"  prometheus_client imported by the CLI and platform: {probe.stdout.strip()}")


if __name__ == "__main__":
    main()
