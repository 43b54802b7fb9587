"""Scoring latency of the sentiment models against the lexicon baseline, same run.

Reads headlines from ``--data`` (default ``../shared/data/tfns/train.csv``), scores ``--n`` of
them one at a time (p50 / p99 ms per headline, as a parse of a one-story payload does) and as
one batch (ms per headline, as a page of a feed does), with the default ``tfns_minilm`` (when
``tradelake[sentiment]`` is installed), the fallback ``tfns_linear`` and the baseline
``lexicon``, and prints the ratios to the lexicon. Budget: 50 ms per headline.

    nice -n 10 python benchmarks/sentiment.py --n 500
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tradelake.ml.sentiment import sentiment_model
from tradelake.ml.sentiment_minilm import extra_missing
from tradelake.ml.train_sentiment import measure_latency, read_dataset

BUDGET_MS = 50.0


def measure(name: str, texts: list[str]) -> dict[str, float]:
    m = measure_latency(sentiment_model(name), texts, limit=len(texts))
    return {
        "p50": m["single_p50_ms"],
        "p99": m["single_p99_ms"],
        "batch": m["batch_per_headline_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/tfns/train.csv")
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    texts = read_dataset(Path(args.data))[0][: args.n]
    names = ["lexicon", "tfns_linear"] + ([] if extra_missing() else ["tfns_minilm"])
    results = {name: measure(name, texts) for name in names}
    base = results["lexicon"]
    print(f"{len(texts)} headlines, ms per headline")
    print(f"{'model':<12} {'single p50':>10} {'single p99':>10} {'batch':>8}")
    for name, m in results.items():
        print(f"{name:<12} {m['p50']:>10.3f} {m['p99']:>10.3f} {m['batch']:>8.3f}")
    for name in names[1:]:
        m = results[name]
        print(
            f"ratio {name} / lexicon: single p50 {m['p50'] / base['p50']:.1f}x, "
            f"batch {m['batch'] / base['batch']:.1f}x; budget {BUDGET_MS:.0f} ms (p99): "
            f"{'met' if m['p99'] <= BUDGET_MS else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
