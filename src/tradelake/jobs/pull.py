"""Pull feeds: fetch every page, land it byte for byte, stage it, and remember where we got to.

For each page of a feed: ``landing.put`` (content-addressed, so the same bytes land once) with
attributes that let a replay parse it exactly the same way (``feed``, ``kind``, the *redacted*
request ``url``, the parse ``options``), then :func:`tradelake.jobs.ingest.process_object`
(skips objects already processed). A payload the parser rejects stays landed, is quarantined
with its reason by ``process_object``, and is counted in ``PullResult.rejected``; it does not
stop the pull. A :class:`~tradelake.errors.FeedError` (or any bug) stops only its own feed: the
error is returned and recorded in the feed's state, and the next feed goes on.

Incremental state (cache validators, cursor) is committed only when every page was staged, so a
failed or partly rejected pull is asked for again in full next time; re-landing the same bytes
and re-staging the same rows are no-ops.

News freshness: for news kinds, ``latency_*_s`` is the time from an article's ``published``
timestamp to the moment its rows were scored and staged, over the articles first staged by this
pull that were published after the previous pull started (older ones are backfill, not latency).
The target is :data:`FRESHNESS_TARGET_S` (scored within 5 minutes of publication).
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import httpx
import polars as pl

from tradelake.config import read_secret
from tradelake.errors import TerminalFeedError, TradelakeError
from tradelake.jobs.feed_state import FeedState, FeedStateStore, utc_now
from tradelake.jobs.feeds import FeedConfig
from tradelake.jobs.ingest import FileResult, IngestEnv, process_object
from tradelake.jobs.provider_lookups import page_options
from tradelake.ops import datasets, metrics
from tradelake.redaction import redact
from tradelake.sources.base import SourceDef, get_source
from tradelake.sources.http import (
    ApiKeyAuth,
    Fetched,
    PullClient,
    RetryPolicy,
    TokenBucket,
    Validators,
)
from tradelake.tables import TABLES

logger = logging.getLogger("tradelake.pull")

FRESHNESS_TARGET_S = 300.0
# Staging numbers versions by reading what *other* landing objects staged, so two objects with
# the same natural key staged at once (one story from two news feeds) could both claim version 1.
# Fetching stays parallel; staging takes this lock (per process: see docs on concurrent runs).
STAGING_LOCK = threading.Lock()
_SUFFIXES = {"json": ".json", "csv": ".csv", "xml": ".xml", "rss": ".xml", "atom": ".xml"}


@dataclass
class PullResult:
    """One feed's pull: what ``tradelake pull --json`` prints per feed.

    ``status``: ``ok`` (fetched and staged), ``not_modified`` (HTTP 304: nothing new),
    ``rejected`` (landed, but the parser refused a payload: see ``rejected``) or ``failed``.
    ``rows`` counts new row versions staged; ``quarantined`` rows the validators refused.
    """

    feed: str
    kind: str
    source: str
    started_ts: datetime
    status: str = "ok"
    pages: int = 0
    landed: int = 0
    rows: int = 0
    quarantined: int = 0
    rejected: list[str] = field(default_factory=list)
    error: str | None = None
    latency_p50_s: float | None = None
    latency_max_s: float | None = None
    # What lineage names (not printed): (source, landing id) of each page, tables staged.
    objects: list[tuple[str, str]] = field(default_factory=list, repr=False)
    tables: set[str] = field(default_factory=set, repr=False)

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "not_modified")

    def to_dict(self) -> dict[str, object]:
        row = asdict(self)
        row["started_ts"] = self.started_ts.isoformat()
        del row["objects"], row["tables"]
        return row


@dataclass(frozen=True)
class PullOptions:
    """What callers may inject: retry policy, HTTP transport, clocks (tests use tiny values)."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = utc_now


class RateLimits:
    """One token bucket per provider key, shared by every feed that uses the key.

    Providers count requests per key (FRED: 120/minute), so two FRED feeds with the same
    ``api_key_env`` share one budget, at the lowest rate any of them configures. Feeds without
    a key get a bucket of their own when they set a rate.
    """

    def __init__(self, feeds: Sequence[FeedConfig], options: PullOptions | None = None) -> None:
        opts = options or PullOptions()
        rates: dict[tuple[str, ...], float] = {}
        for feed in feeds:
            rate = feed.effective_rate_limit
            if rate:
                group = _key_group(feed)
                rates[group] = min(rate, rates.get(group, rate))
        self._buckets = {
            group: TokenBucket(rate, clock=opts.monotonic, sleep=opts.sleep)
            for group, rate in rates.items()
        }

    def bucket(self, feed: FeedConfig) -> TokenBucket | None:
        return self._buckets.get(_key_group(feed))


def _key_group(feed: FeedConfig) -> tuple[str, ...]:
    if feed.has_key:
        return (feed.kind, feed.api_key_env or "", feed.api_key_file or "")
    return ("feed", feed.name)


def open_client(feed: FeedConfig, limits: RateLimits, options: PullOptions) -> PullClient:
    """A client for ``feed`` with its key read now (so a missing key fails this feed only)."""
    auth = None
    style = feed.auth_style
    if feed.has_key and style:
        key = read_secret(
            f"feed {feed.name}",
            env_var=feed.api_key_env,
            file=feed.api_key_file,
            ref=feed.api_key_secret,
        )
        auth = ApiKeyAuth(key, feed.key_origin, *style)
    return PullClient(
        feed.name,
        auth=auth,
        headers=feed.request_headers(),
        timeout_s=feed.timeout_s,
        retry=options.retry,
        bucket=limits.bucket(feed),
        transport=options.transport,
        sleep=options.sleep,
        now=options.now,
    )


def pull_all(
    env: IngestEnv,
    feeds: Sequence[FeedConfig],
    states: FeedStateStore,
    *,
    limits: RateLimits | None = None,
    options: PullOptions | None = None,
) -> list[PullResult]:
    """Pull each feed once, in order; one feed's failure never stops the others."""
    opts = options or PullOptions()
    shared = limits or RateLimits(feeds, opts)
    return [pull_and_record(env, feed, states, shared, opts) for feed in feeds]


def pull_and_record(
    env: IngestEnv,
    feed: FeedConfig,
    states: FeedStateStore,
    limits: RateLimits,
    options: PullOptions,
    *,
    next_run: datetime | None = None,
) -> PullResult:
    """Load the feed's state, pull it, and save the state (also after a failure).

    One lineage run ``pull.<feed>``: the provider's endpoint in, the pages landed and the
    tables staged out; FAIL when the pull failed. A failure streak may raise a quality alert.
    """
    state = states.load(feed.name)
    with env.ops.run(f"pull.{feed.name}", inputs=[datasets.feed_endpoint(feed.url)]) as run:
        try:
            client = open_client(feed, limits, options)
        except TradelakeError as exc:
            result = PullResult(feed.name, feed.kind, feed.source, options.now())
            _fail(result, exc)
            record(state, result)
        else:
            with client:
                result = pull_feed(env, feed, client, state, now=options.now)
        landed = [datasets.landing_object(env.landing.url, *o) for o in result.objects]
        run.reads(landed)  # landed, then parsed back from landing
        run.writes(landed)
        run.writes(datasets.staging_tables(env.staging.root, result.tables))
        run.failed = result.error if result.status == "failed" else None
    if next_run is not None:
        state.next_run_ts = next_run
    states.save(state)
    metrics.observe_pull(
        feed.name, result.status, state.last_success_ts, state.consecutive_failures
    )
    if env.ops.quality is not None:
        env.ops.quality.check_feed_failures(feed.name, state)
    return result


def pull_feed(
    env: IngestEnv,
    feed: FeedConfig,
    client: PullClient,
    state: FeedState,
    *,
    now: Callable[[], datetime] = utc_now,
) -> PullResult:
    """Fetch, land and stage every new page of ``feed``; update ``state`` in place."""
    result = PullResult(feed.name, feed.kind, feed.source, now())
    try:
        _pull_pages(env, feed, client, state, result, now)
    except TradelakeError as exc:
        _fail(result, exc)
    except Exception as exc:  # a parser or writer bug must not take the scheduler down
        logger.exception("feed %s: unexpected error", feed.name)
        detail = client.scrub(f"{type(exc).__name__}: {exc}")
        _fail(result, exc, f"feed {feed.name}: unexpected {detail}; a bug: report it with the log.")
    record(state, result)
    return result


def _pull_pages(
    env: IngestEnv,
    feed: FeedConfig,
    client: PullClient,
    state: FeedState,
    result: PullResult,
    now: Callable[[], datetime],
) -> None:
    parser = _parser(feed)
    cursor_rule = feed.cursor
    params = {**feed.query(), **(cursor_rule.params(state.cursor, feed.url) if cursor_rule else {})}
    cursor, validators, latencies = dict(state.cursor), None, []
    pages = client.pages(
        feed.url,
        params,
        feed.paginator(),
        validators=Validators(state.etag, state.last_modified),
        max_pages=feed.pages_limit,
    )
    for page in pages:
        if page.not_modified:
            result.status = "not_modified"
            break
        validators = validators or page.validators
        options = page_options(feed, client, page)
        staged = _land_and_stage(env, feed, parser, page, result, options)
        if staged.status == "error":
            result.rejected.append(staged.error or "rejected by the parser")
            continue
        if cursor_rule:
            cursor = cursor_rule.advance(page.json(), cursor)
        if feed.profile.news:
            latencies += _latencies(staged, state.last_run_ts, now())
    if result.rejected:
        result.status = "rejected"
    elif result.status == "ok":
        state.cursor = cursor
        # A 304 on page 1 says nothing about later pages: only single-page feeds keep validators.
        kept = validators if validators and result.pages == 1 else Validators()
        state.etag, state.last_modified = kept.etag, kept.last_modified
    if latencies:
        result.latency_p50_s = statistics.median(latencies)
        result.latency_max_s = max(latencies)


def _parser(feed: FeedConfig) -> SourceDef:
    try:
        return get_source(feed.kind)
    except KeyError:
        raise TerminalFeedError(
            f"feed {feed.name}: no parser is registered for kind {feed.kind}; upgrade tradelake "
            "or import the module that registers it."
        ) from None


def _land_and_stage(
    env: IngestEnv,
    feed: FeedConfig,
    parser: SourceDef,
    page: Fetched,
    result: PullResult,
    options: Mapping[str, Any],
) -> FileResult:
    """Land the page with the options it is parsed with (the feed's plus provider lookups)."""
    attributes = {
        "feed": feed.name,
        "kind": feed.kind,
        "url": redact(page.url),
        "options": feed.options_json(options),
    }
    if "timezone" in feed.options:
        attributes["timezone"] = str(feed.options["timezone"])
    result.pages += 1
    put = env.landing.put(
        page.body,
        source=feed.source,
        name=f"{feed.name}-{result.pages}{_suffix(parser.content_type)}",
        content_type=page.content_type or parser.content_type,
        attributes=attributes,
    )
    result.landed += int(put.created)
    result.objects.append((put.obj.source, put.obj.landing_id))
    with STAGING_LOCK:
        staged = process_object(env, put.obj, page.body, parser, path=attributes["url"])
    result.tables.update(staged.tables)
    result.rows += sum(table.staged for table in staged.tables.values())
    result.quarantined += staged.quarantined
    return staged


def _latencies(staged: FileResult, since: datetime | None, scored_at: datetime) -> list[float]:
    """Seconds from publication to scoring for rows published after ``since`` (see module doc)."""
    if since is None:
        return []
    seconds: list[float] = []
    for table, outcome in staged.tables.items():
        column = TABLES[table].date_column
        for path in outcome.files:
            published = pl.read_parquet(path, columns=[column]).get_column(column)
            seconds += [
                max((scored_at - ts).total_seconds(), 0.0)
                for ts in published.drop_nulls().to_list()
                if ts >= since
            ]
    return seconds


def _suffix(content_type: str) -> str:
    subtype = content_type.split("/")[-1].split("+")[-1].split(";")[0].strip().lower()
    return _SUFFIXES.get(subtype, "")


def _fail(result: PullResult, exc: Exception, message: str | None = None) -> None:
    result.status = "failed"
    result.error = redact(message or str(exc))
    logger.info("%s", result.error)  # callers report it; retries were logged as warnings


def record(state: FeedState, result: PullResult) -> None:
    """Fold one pull's outcome into the feed's state (bookkeeping for ``tradelake status``)."""
    state.last_status = result.status
    state.last_run_ts = result.started_ts
    state.rows_staged_last = result.rows
    state.rows_staged_total += result.rows
    state.objects_landed_total += result.landed
    if result.status == "failed":
        state.last_error, state.last_error_ts = result.error, result.started_ts
        state.consecutive_failures += 1
        return
    state.consecutive_failures = 0
    state.last_success_ts = result.started_ts
    if result.rejected:
        state.last_error = f"payload rejected and quarantined: {result.rejected[-1]}"
        state.last_error_ts = result.started_ts
    if result.latency_max_s is not None:
        state.latency_p50_s, state.latency_max_s = result.latency_p50_s, result.latency_max_s
        if result.latency_max_s > FRESHNESS_TARGET_S:
            logger.warning(
                "feed %s: news scored %.0f s after publication (target %.0f s)",
                *(result.feed, result.latency_max_s, FRESHNESS_TARGET_S),
            )
