"""Re-scored news: stories already staged, scored again by another sentiment model.

``tradelake sentiment rescore`` lands a JSON payload ``{"sentiment_model": NAME, "stories":
[...]}`` (the stories' stored ``uuid``, text and metadata, no scores) under the source
``news_rescore`` and ingests it like any other object. Because ``sentiment_model`` is one of
``news_raw``'s hashed columns, each story whose model changed becomes a new *version* (the old
row stays as it was), a story already scored by that model adds nothing, and a replay of the
landing zone re-derives the same versions. The model name is in the payload, so the same
stories re-scored by two models are two landing objects, not one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl

from tradelake.errors import SourceFormatError
from tradelake.sources.base import ParseContext, ParseResult, register_parser
from tradelake.sources.feed_tables import NEWS_RAW
from tradelake.sources.news import story_texts
from tradelake.staging.feed_checks import check_rows
from tradelake.staging.quarantine import Quarantine

SOURCE = "news_rescore"
KEPT = ("uuid", "headline", "body", "published", "url", "tickers", "publisher", "feed")


def rescore_payload(model: str, stories: pl.DataFrame) -> bytes:
    """The landed bytes: deterministic for the same model and stories (sorted by uuid)."""
    rows = (
        stories.select(KEPT)
        .sort("uuid")
        .with_columns(pl.col("published").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
    )
    body = {"sentiment_model": model, "stories": rows.to_dicts()}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@register_parser(SOURCE, suffixes=(), content_type="application/json")
def parse_news_rescore(data: bytes, name: str, ctx: ParseContext) -> ParseResult:
    """Score the payload's stories with its model; keep each story's identity and metadata."""
    try:
        body = json.loads(data)
        model_name = str(body["sentiment_model"])
        stories = pl.DataFrame(body["stories"], schema={c: pl.Utf8 for c in KEPT})
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceFormatError(f"{name}: not a news re-score payload ({exc})") from exc
    from tradelake.ml.sentiment import (  # the models load only for news
        score_and_label,
        sentiment_model,
    )

    model = sentiment_model(model_name)
    scores, labels = score_and_label(
        model, story_texts(stories["headline"].to_list(), stories["body"].to_list())
    )
    frame = stories.with_columns(
        pl.col("published").str.to_datetime(time_unit="us", time_zone="UTC"),
        pl.Series("sentiment", scores, dtype=pl.Float64),
        pl.Series("sentiment_label", labels, dtype=pl.Utf8),
        pl.lit(model.model_id).alias("sentiment_model"),
        pl.lit(datetime.now(UTC)).dt.cast_time_unit("us").alias("scored_ts"),
    ).select(list(NEWS_RAW.content))
    quarantine = Quarantine(NEWS_RAW.name)
    checked = check_rows(NEWS_RAW, frame, quarantine)
    notes = [f"{name}: {checked.height} stories re-scored by {model.model_id}"]
    return ParseResult({NEWS_RAW.name: checked}, {NEWS_RAW.name: quarantine}, notes)
