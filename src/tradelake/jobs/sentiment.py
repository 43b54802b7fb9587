"""Sentiment jobs: re-score stored news with another model, news freshness, train + publish.

Re-scoring lands the stories to re-score as one object (:mod:`tradelake.sources.news_rescore`)
and ingests it, so the new scores are new *versions* of the stories, never edits.

Freshness is measured per story from what is staged: ``scored_ts - published`` of the story's
first version (a re-score is not a delivery), over stories first scored in the last ``days``.
Backfill is left out: a story published before its feed's first-ever scoring was not late, it
predates the feed. The target (``FRESHNESS_TARGET_S``) is 5 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tradelake.errors import SentimentError
from tradelake.features import FeatureStore
from tradelake.jobs.ingest import FileResult, IngestEnv, process_object
from tradelake.ml.sentiment import sentiment_model
from tradelake.sources.base import get_source
from tradelake.sources.news_rescore import SOURCE, rescore_payload

FRESHNESS_TARGET_S = 300.0


@dataclass(frozen=True)
class RescoreResult:
    """What a re-score staged: ``stories`` sent, ``versions`` written (the rest unchanged)."""

    model: str
    stories: int
    versions: int
    landing_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def rescore(
    env: IngestEnv, features: FeatureStore, model: str, *, since: datetime | None = None
) -> RescoreResult:
    """Score the latest version of every story (published at or after ``since``) whose model
    differs from ``model``; stage the results as new versions. The caller refreshes."""
    model_id = sentiment_model(model).model_id
    if not features.has("news"):
        return RescoreResult(model_id, 0, 0, None)
    where = "WHERE sentiment_model IS DISTINCT FROM ?"
    params: list[object] = [model_id]
    if since is not None:
        where += " AND published >= ?"
        params.append(since)
    stories = features.query(
        "SELECT uuid, headline, body, published, url, tickers, publisher, feed FROM news "
        f"{where} ORDER BY uuid",
        params,
    )
    if stories.height == 0:
        return RescoreResult(model_id, 0, 0, None)
    payload = rescore_payload(model, stories)
    put = env.landing.put(
        payload,
        source=SOURCE,
        name=f"rescore-{model_id.replace(':', '-')}.json",
        content_type="application/json",
        attributes={"kind": SOURCE},
    )
    result: FileResult = process_object(env, put.obj, payload, get_source(SOURCE), path=SOURCE)
    if result.status == "error":
        raise SentimentError(f"re-scoring with {model} failed: {result.error}")
    staged = sum(t.staged for t in result.tables.values())
    return RescoreResult(model_id, stories.height, staged, put.obj.landing_id)


def freshness(
    features: FeatureStore, *, days: float = 7.0, now: datetime | None = None
) -> dict[str, dict[str, float | int | None]]:
    """Per feed: p50 / p99 / max seconds from publication to first scoring, and story count."""
    if not features.has("news"):
        return {}
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    frame = features.query(
        "WITH first AS (SELECT feed, uuid, min(published) AS published, "
        "  min(scored_ts) AS scored_ts FROM staging.news_raw "
        "  WHERE scored_ts IS NOT NULL AND source <> ? GROUP BY feed, uuid), "
        "started AS (SELECT feed, min(scored_ts) AS first_scored FROM first GROUP BY feed), "
        "lat AS (SELECT f.feed, greatest(epoch(f.scored_ts) - epoch(f.published), 0) AS s "
        "  FROM first f JOIN started USING (feed) "
        "  WHERE f.scored_ts >= ? AND f.published >= started.first_scored) "
        "SELECT feed, quantile_cont(s, 0.5) AS p50, quantile_cont(s, 0.99) AS p99, "
        "  max(s) AS max_s, count(*) AS n FROM lat GROUP BY feed ORDER BY feed",
        [SOURCE, since],
    )
    return {
        str(r["feed"]): {
            "fresh_p50_s": _round(r["p50"]),
            "fresh_p99_s": _round(r["p99"]),
            "fresh_max_s": _round(r["max_s"]),
            "fresh_stories": int(r["n"]),
        }
        for r in frame.iter_rows(named=True)
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def shipped_sample_path() -> Path:
    """The shipped default's training sample (drift baseline), beside its weights: the
    MiniLM's, or the linear model's when the default falls back to it."""
    from tradelake.ml.sentiment_linear import WEIGHTS_DIR
    from tradelake.ml.sentiment_minilm import extra_missing
    from tradelake.ml.train_sentiment import LINEAR, MINILM, SAMPLES

    return WEIGHTS_DIR / SAMPLES[LINEAR if extra_missing() else MINILM]
