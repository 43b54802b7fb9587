"""Throughput of each chart renderer (charts per CPU-second = per core), with a baseline.

Run: ``python benchmarks/renderers.py [--n 21] [--examples /tmp/render-examples]
[--evaluate-per-class 0]``.

Every renderer draws the same verified price paths with the same layout seeds; the time is
process CPU time (all threads, so a stack that renders on a helper thread is charged for it)
for :func:`tradelake.ml.renderers.render_chart` only, path generation being shared. The
baseline is the project's original renderer called as training did before the seam
(``tradelake.ml.rendering.render`` in a random training style), measured in the same run;
the ratio is renderer / baseline throughput. ``--examples`` saves the first 3 charts of each
renderer; ``--evaluate-per-class K`` also scores the default classifier on K charts per class
per renderer (macro-F1), the figure issue 11 is about.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tradelake.ml.charts import CLASSES, generate_path
from tradelake.ml.renderers import RENDERERS, render_chart
from tradelake.ml.rendering import TRAIN_STYLES, render


def _paths(n: int, seed: int) -> list:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    return [generate_path(rng, CLASSES[i % len(CLASSES)]) for i in range(n)]


def _cpu(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.process_time()
    fn()
    return time.process_time() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=21, help="charts per renderer")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--examples", type=Path, default=None)
    ap.add_argument("--evaluate-per-class", type=int, default=0)
    a = ap.parse_args()
    paths = _paths(a.n, a.seed)
    if a.examples:
        a.examples.mkdir(parents=True, exist_ok=True)

    def baseline() -> None:
        rng = np.random.default_rng(a.seed)
        for p in paths:
            render(rng, p, str(rng.choice(TRAIN_STYLES)))

    baseline()  # warm-up (fonts)
    base_rate = a.n / _cpu(baseline)
    print(f"baseline (rendering.render, training styles): {base_rate:6.2f} charts/CPU-s")
    for name in RENDERERS:
        render_chart(name, paths[0], np.random.default_rng(99))  # warm-up: imports, JS runtime

        def run(name: str = name) -> None:
            for i, p in enumerate(paths):
                img = render_chart(name, p, np.random.default_rng([a.seed, i]))
                if a.examples and i < 3:
                    img.save(a.examples / f"{name}-{i}-{p.label}.png")

        rate = a.n / _cpu(run)
        print(
            f"{name:>10}: {rate:6.2f} charts/CPU-s ({1000 / rate:5.0f} ms/chart), "
            f"{rate / base_rate:4.2f}x baseline"
        )
    if a.evaluate_per_class:
        from tradelake.ml.evaluation import evaluate
        from tradelake.ml.vision import ChartClassifier

        clf = ChartClassifier.load()
        evals = _paths(a.evaluate_per_class * len(CLASSES), a.seed + 1)
        for name in RENDERERS:
            imgs = [
                render_chart(name, p, np.random.default_rng([a.seed + 1, i]))
                for i, p in enumerate(evals)
            ]
            preds = clf.predict(imgs)
            probs = np.array([[pr.probs[c] for c in clf.classes] for pr in preds])
            rep = evaluate([clf.classes.index(p.label) for p in evals], probs, clf.classes)
            worst = min(rep.per_class, key=lambda m: m.f1)
            print(
                f"{name:>10}: shipped model macro-F1 {rep.macro_f1:.3f}, accuracy "
                f"{rep.accuracy:.3f}, ECE {rep.ece:.3f}, worst class {worst.name} "
                f"F1 {worst.f1:.2f} (n={rep.n})"
            )


if __name__ == "__main__":
    main()
