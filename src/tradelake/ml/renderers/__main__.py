"""``python -m tradelake.ml.renderers``: write a labelled chart set drawn by one renderer."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path

from tradelake.console import Console
from tradelake.ml.charts import CLASSES
from tradelake.ml.renderers import RENDERERS
from tradelake.ml.renderers.dataset import write_dataset


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m tradelake.ml.renderers",
        description="Write DIR/<label>/NNNN.png and DIR/labels.csv (file,label,renderer,seed).",
    )
    ap.add_argument("--renderer", required=True, choices=sorted(RENDERERS))
    ap.add_argument("--per-class", type=int, required=True, help="charts per class")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--workers", type=int, default=1, help=f"processes (this machine: {os.cpu_count()})"
    )
    a = ap.parse_args(argv)
    console = Console()
    total = a.per_class * len(CLASSES)
    start = time.perf_counter()
    with console.progress(total, f"rendering with {a.renderer}") as advance:
        rows = write_dataset(a.renderer, a.per_class, a.seed, a.out, a.workers, advance)
    secs = time.perf_counter() - start
    console.info(
        f"wrote {len(rows)} charts to {a.out} in {secs:.1f} s "
        f"({len(rows) / max(secs, 1e-9):.1f} charts/s with {a.workers} worker(s))"
    )


if __name__ == "__main__":
    main()
