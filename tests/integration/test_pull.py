"""Pulled feeds end to end against HTTP servers on 127.0.0.1 (no network).

Each test starts a ``ThreadingHTTPServer`` on port 0 that serves scripted replies
(:mod:`fixtures.feed_server`): 500s, 429s with ``Retry-After``, slow answers (timeouts),
truncated bodies, invalid payloads, 304s. The
parsers are tiny ones registered here (macro observations, news items), so these tests pin the
pull machinery, not the production parsers. Retries use microsecond backoffs.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

import tradelake.sources
import tradelake.sources.macro
import tradelake.sources.news
import tradelake.sources.options
from fixtures import feeds as payloads
from fixtures.feed_server import (
    KEY,
    KEY_ENV,
    TINY,
    FeedServer,
    Reply,
    Route,
    Seen,
    feed,
    pull_one,
)
from tradelake.cli.feeds import register
from tradelake.errors import SourceFormatError
from tradelake.jobs.feed_state import FeedStateStore
from tradelake.jobs.feeds import FeedConfig
from tradelake.jobs.ingest import IngestEnv
from tradelake.jobs.pull import PullOptions, pull_all
from tradelake.jobs.scheduler import FeedScheduler, WatchConfig
from tradelake.jobs.watch import WatchTiming
from tradelake.platform import Platform
from tradelake.sources.base import SOURCES, ParseContext, ParseResult, SourceDef
from tradelake.staging import Quarantine
from tradelake.tables import TABLES, UTC_TS, TableSpec

# --- tiny parsers for the kinds under test -----------------------------------------------------

MACRO = TableSpec(
    "pulltest_macro",
    {"series_id": pl.Utf8(), "day": pl.Date(), "value": pl.Float64()},
    natural_key=("series_id", "day"),
    date_column="day",
)
NEWS = TableSpec(
    "pulltest_news",
    {"uuid": pl.Utf8(), "headline": pl.Utf8(), "published": UTC_TS},
    natural_key=("uuid",),
    date_column="published",
)


def _json(data: bytes, name: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise SourceFormatError(f"{name}: not JSON ({exc.__class__.__name__})") from exc


def parse_observations(data: bytes, name: str, ctx: ParseContext) -> ParseResult:
    rows = _json(data, name)["observations"]
    frame = pl.DataFrame(
        {
            "series_id": [ctx.options["series_id"]] * len(rows),
            "day": [date.fromisoformat(r["date"]) for r in rows],
            "value": [float(r["value"]) for r in rows],
        },
        schema=dict(MACRO.content),
    )
    return ParseResult({MACRO.name: frame}, {MACRO.name: Quarantine(MACRO.name)})


def parse_articles(data: bytes, name: str, ctx: ParseContext) -> ParseResult:
    rows = _json(data, name)["articles"]
    frame = pl.DataFrame(
        {
            "uuid": [r["url"] for r in rows],
            "headline": [r["title"] for r in rows],
            "published": [datetime.fromisoformat(r["publishedAt"]) for r in rows],
        },
        schema=dict(NEWS.content),
    )
    return ParseResult({NEWS.name: frame}, {NEWS.name: Quarantine(NEWS.name)})


def parse_broken(data: bytes, name: str, ctx: ParseContext) -> ParseResult:
    raise RuntimeError("parser bug")


@pytest.fixture
def parsers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tradelake.sources  # built-ins registered first, so ours win for this test
    for spec in (MACRO, NEWS):
        monkeypatch.setitem(TABLES, spec.name, spec)
    for kind, parse in (
        ("fred", parse_observations),
        ("newsapi", parse_articles),
        ("rss", parse_articles),
        ("csv", parse_broken),
    ):
        monkeypatch.setitem(SOURCES, kind, SourceDef(kind, parse, (), "application/json"))


# --- payloads and wiring -----------------------------------------------------------------------

OBSERVATIONS = [("2026-01-01", 1.5), ("2026-02-01", 1.75), ("2026-03-01", 2.0)]


def fred_handler(observations: list[tuple[str, float]]) -> Route:
    """FRED's observations endpoint: echoes its paging and start date, as FRED does."""

    def answer(request: Seen) -> Reply:
        offset, limit = int(request.query["offset"]), int(request.query["limit"])
        rows = [{"date": d, "value": str(v)} for d, v in observations[offset : offset + limit]]
        body = {
            "observation_start": request.query.get("observation_start", "1776-07-04"),
            "count": len(observations),
            "offset": offset,
            "limit": limit,
            "observations": rows,
        }
        return Reply(body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})

    return answer


def articles(*items: tuple[str, datetime]) -> bytes:
    rows = [
        {"url": f"https://news.example/{slug}", "title": slug, "publishedAt": ts.isoformat()}
        for slug, ts in items
    ]
    return json.dumps({"status": "ok", "totalResults": len(rows), "articles": rows}).encode()


def fred_feed(url: str, **extra: Any) -> FeedConfig:
    return feed("cpi", "fred", url, api_key_env=KEY_ENV, series_id="CPI", **extra)


@pytest.fixture
def env(real_env: IngestEnv, parsers: None) -> IngestEnv:
    """The same home with the tiny parsers above in place of the production ones."""
    return real_env


def files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


# --- tests -------------------------------------------------------------------------------------


def test_fred_pull_pages_stages_resumes_and_never_leaks_the_key(
    env: IngestEnv,
    states: FeedStateStore,
    server: FeedServer,
    fast: PullOptions,
    home: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = server.route("/fred/series/observations", handler=fred_handler(OBSERVATIONS))
    cfg = fred_feed(url, page_size=2, revision_window_days=31)

    first = pull_one(env, cfg, states, options=fast)

    assert (first.status, first.pages, first.landed, first.rows) == ("ok", 2, 2, 3)
    staged = env.staging.read(MACRO.name).sort("day")
    assert staged["value"].to_list() == [1.5, 1.75, 2.0]
    assert set(staged["source"]) == {"fred"}
    sent = server.hits("/fred/series/observations")
    assert [(s.query["offset"], s.query["api_key"], s.query["file_type"]) for s in sent] == [
        ("0", KEY, "json"),
        ("2", KEY, "json"),
    ]
    assert "observation_start" not in sent[0].query

    # A restart: a fresh state store reads the cursor back and asks only for recent data.
    second = pull_one(env, cfg, FeedStateStore(home / "state"), options=fast)

    assert server.hits("/fred/series/observations")[2].query["observation_start"] == "2026-01-29"
    assert (second.status, second.landed, second.rows) == ("ok", 2, 0)  # new bytes, no new rows
    assert env.staging.read(MACRO.name).sort("day").equals(staged)
    saved = json.loads((home / "state" / "feeds" / "cpi.json").read_text())
    assert saved["cursor"] == {"last_date": "2026-03-01"}
    assert (saved["rows_staged_total"], saved["objects_landed_total"]) == (3, 4)

    manifest = [obj.attributes for obj in env.landing.list(source="fred")]
    assert len(manifest) == 4
    assert all("api_key=***" in attrs["url"] for attrs in manifest)
    assert {attrs["feed"] for attrs in manifest} == {"cpi"}
    assert json.loads(manifest[0]["options"]) == {"series_id": "CPI"}
    assert files_containing(home, KEY.encode()) == []
    assert KEY not in caplog.text
    assert KEY not in json.dumps([first.to_dict(), second.to_dict()])


def test_5xx_and_429_are_retried_honouring_retry_after(
    env: IngestEnv, states: FeedStateStore, server: FeedServer, fast: PullOptions, sleeps: list
) -> None:
    good = articles(("a", datetime(2026, 3, 2, 9, tzinfo=UTC)))
    url = server.route(
        "/news",
        Reply(500, b"oops"),
        Reply(429, b"slow down", headers={"Retry-After": "0"}),
        Reply(body=good),
    )
    result = pull_one(env, feed("wire", "rss", url), states, options=fast)
    assert (result.status, result.rows) == ("ok", 1)
    assert len(server.hits("/news")) == 3
    assert len(sleeps) == 2
    assert 0.0005 <= sleeps[0] <= 0.001  # backoff after the 500
    assert sleeps[1] == 0.0  # the 429's Retry-After


def test_timeouts_and_truncated_bodies_are_transient(
    env: IngestEnv, states: FeedStateStore, server: FeedServer, fast: PullOptions
) -> None:
    good = articles(("a", datetime(2026, 3, 2, 9, tzinfo=UTC)))
    url = server.route(
        "/slow", Reply(body=good, delay_s=0.6), Reply(body=good, truncate_to=20), Reply(body=good)
    )
    recovered = pull_one(env, feed("slow", "rss", url, timeout_s=0.15), states, options=fast)
    assert (recovered.status, recovered.rows) == ("ok", 1)
    assert len(server.hits("/slow")) == 3

    url = server.route("/cut", Reply(body=good, truncate_to=20))
    failed = pull_one(env, feed("cut", "rss", url), states, options=fast)
    assert failed.status == "failed"
    assert "failed 4 times (last: RemoteProtocolError" in (failed.error or "")
    assert len(server.hits("/cut")) == TINY.attempts
    assert env.landing.list(source="rss:cut") == []  # a truncated body is never landed
    state = states.load("cut")
    assert (state.last_error, state.consecutive_failures) == (failed.error, 1)


def test_bad_payloads_are_landed_and_quarantined_and_others_go_on(
    env: IngestEnv, states: FeedStateStore, server: FeedServer, fast: PullOptions, home: Path
) -> None:
    bad_url = server.route("/bad", Reply(body=b'{"articles": [ truncated'))
    bug_url = server.route("/bug", Reply(body=b"a,b\n1,2\n"))
    good_url = server.route("/good", Reply(body=articles(("g", datetime(2026, 3, 2, tzinfo=UTC)))))
    feeds = [feed("bad", "rss", bad_url), feed("bug", "csv", bug_url), feed("ok", "rss", good_url)]

    bad, bug, good = pull_all(env, feeds, states, options=fast)

    assert (bad.status, bad.landed, bad.rows) == ("rejected", 1, 0)
    assert bad.rejected == ["bad-1.json: not JSON (JSONDecodeError)"]
    (landed,) = env.landing.list(source="rss:bad")
    assert env.landing.get(landed.landing_id) == b'{"articles": [ truncated'
    quarantined = home / "staging" / "_quarantine" / "_files" / f"{landed.landing_id}.json"
    assert json.loads(quarantined.read_text())["reason"] == bad.rejected[0]
    # A crashing parser is a bug, but the payload is still kept and quarantined with the reason.
    assert (bug.status, bug.landed) == ("rejected", 1)
    assert "parser failed (RuntimeError: parser bug)" in bug.rejected[0]
    assert (good.status, good.rows) == ("ok", 1)

    again = pull_all(env, feeds[:1], states, options=fast)[0]
    assert (again.status, again.landed) == ("rejected", 0)  # same bytes: landed once
    assert states.load("bad").last_error == f"payload rejected and quarantined: {bad.rejected[0]}"


def test_conditional_get_returns_not_modified(
    env: IngestEnv, states: FeedStateStore, server: FeedServer, fast: PullOptions
) -> None:
    body = articles(("a", datetime(2026, 3, 2, 9, tzinfo=UTC)))

    def answer(request: Seen) -> Reply:
        if request.headers.get("If-None-Match") == '"v1"':
            return Reply(304)
        return Reply(body=body, headers={"ETag": '"v1"', "Last-Modified": "Mon, 02 Mar 2026"})

    url = server.route("/rss", handler=answer)
    cfg = feed("press", "rss", url)
    first = pull_one(env, cfg, states, options=fast)
    second = pull_one(env, cfg, states, options=fast)
    assert (first.status, first.rows) == ("ok", 1)
    assert (second.status, second.pages, second.landed) == ("not_modified", 0, 0)
    assert server.hits("/rss")[1].headers["If-Modified-Since"] == "Mon, 02 Mar 2026"
    assert states.load("press").etag == '"v1"'


def test_refused_key_fails_once_and_names_the_env_var(
    env: IngestEnv, states: FeedStateStore, server: FeedServer, fast: PullOptions
) -> None:
    url = server.route("/fred/series/observations", Reply(401, b"Bad api_key"))
    result = pull_one(env, fred_feed(url), states, options=fast)
    assert result.status == "failed"
    assert f"check the key in environment variable {KEY_ENV}" in (result.error or "")
    assert KEY not in (result.error or "")
    assert len(server.hits("/fred/series/observations")) == 1


def test_rate_limit_spaces_pages_on_a_fake_clock(
    env: IngestEnv, states: FeedStateStore, server: FeedServer
) -> None:
    clock = [0.0]
    stamps: list[float] = []

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    observations = [(f"2026-0{m}-01", float(m)) for m in range(1, 5)]
    handler = fred_handler(observations)

    def answer(request: Seen) -> Reply:
        stamps.append(clock[0])
        return handler(request)

    url = server.route("/fred/series/observations", handler=answer)
    cfg = fred_feed(url, page_size=1, rate_limit_per_minute=30)
    options = PullOptions(retry=TINY, sleep=sleep, monotonic=lambda: clock[0])
    result = pull_one(env, cfg, states, options=options)
    assert (result.pages, result.rows) == (4, 4)
    assert stamps == [0.0, 2.0, 4.0, 6.0]  # 30 requests/minute: one every 2 s


def test_news_latency_is_measured_from_publication_to_scoring(
    env: IngestEnv, states: FeedStateStore, server: FeedServer
) -> None:
    now = datetime.now(UTC)
    old = articles(("old", now - timedelta(days=1)))
    new = articles(("old", now - timedelta(days=1)), ("new", now - timedelta(seconds=40)))
    url = server.route("/v2/everything", Reply(body=old), Reply(body=new))
    cfg = feed("macro-news", "newsapi", url, api_key_env=KEY_ENV, q="fed")

    earlier = PullOptions(retry=TINY, now=lambda: now - timedelta(minutes=2))
    backfill = pull_one(env, cfg, states, options=earlier)
    fresh = pull_one(env, cfg, states, options=PullOptions(retry=TINY))

    assert (backfill.rows, backfill.latency_max_s) == (1, None)  # backfill is not latency
    assert fresh.rows == 1
    assert fresh.latency_max_s is not None and 40 <= fresh.latency_max_s < 55
    assert fresh.latency_p50_s == fresh.latency_max_s
    second_request = server.hits("/v2/everything")[1]
    assert second_request.query["from"] == (now - timedelta(days=1)).isoformat()
    assert second_request.headers["X-Api-Key"] == KEY
    assert states.load("macro-news").latency_max_s == fresh.latency_max_s


def test_production_parsers_stage_realistic_payloads_once(
    real_env: IngestEnv, states: FeedStateStore, server: FeedServer, home: Path
) -> None:
    rss_body, rss_facts = payloads.rss(n=10)
    news_body, news_facts = payloads.finnhub(n=5)
    contracts = payloads.chain()
    feeds = [
        feed("press", "rss", server.route("/rss", Reply(body=rss_body))),
        feed(
            "wire",
            "finnhub",
            server.route("/api/v1/news", Reply(body=news_body)),
            api_key_env=KEY_ENV,
            category="general",
        ),
        feed(
            "aapl",
            "tradier",
            server.route("/v1/markets/options/chains", Reply(body=payloads.tradier(contracts))),
            api_key_env=KEY_ENV,
            symbol="AAPL",
        ),
        feed("cut", "rss", server.route("/cut", Reply(body=payloads.truncated(rss_body)))),
    ]
    options = PullOptions(retry=TINY)

    press, wire, aapl, cut = pull_all(real_env, feeds, states, options=options)

    assert (press.status, press.rows) == ("ok", len(rss_facts.published))
    assert press.quarantined == len(rss_facts.bad_dates)
    assert (wire.status, wire.rows) == ("ok", len(news_facts.published))
    assert server.hits("/api/v1/news")[0].headers["X-Finnhub-Token"] == KEY
    assert server.hits("/v1/markets/options/chains")[0].headers["Authorization"] == f"Bearer {KEY}"
    assert (aapl.status, aapl.rows + aapl.quarantined) == ("ok", len(contracts))
    assert cut.status == "rejected"
    assert "not well-formed XML" in cut.rejected[0]
    news = real_env.staging.read("news_raw")
    assert set(news["source"]) == {"rss:press", "finnhub"}

    again = pull_all(real_env, feeds, states, options=options)
    assert [(r.landed, r.rows) for r in again] == [(0, 0)] * 4  # same bytes: nothing twice
    assert real_env.staging.read("news_raw").equals(news)
    assert files_containing(home, KEY.encode()) == []


def test_production_fred_parser_stages_vintages(
    real_env: IngestEnv, states: FeedStateStore, server: FeedServer
) -> None:
    body, facts = payloads.fred_json("GDP", n=20)
    url = server.route("/fred/series/observations", Reply(body=body))
    cfg = feed("gdp", "fred", url, api_key_env=KEY_ENV, series_id="GDP")
    result = pull_one(real_env, cfg, states, options=PullOptions(retry=TINY))
    assert result.status == "ok", result.rejected
    staged = real_env.staging.read("macro_raw")
    assert staged["observation_date"].n_unique() == len(facts["first"])  # type: ignore[arg-type]
    assert states.load("gdp").cursor == {"last_date": max(d.isoformat() for d in facts["first"])}  # type: ignore[attr-defined]


def write_config(home: Path, *entries: str) -> None:
    (home / "tradelake.toml").write_text("\n".join(entries), encoding="utf-8")


def feed_toml(name: str, kind: str, url: str, schedule: str = "*/5 * * * *", **extra: str) -> str:
    lines = [f'name = "{name}"', f'kind = "{kind}"', f'url = "{url}"', f'schedule = "{schedule}"']
    lines += [f'{key} = "{value}"' for key, value in extra.items()]
    return "[[feeds]]\n" + "\n".join(lines) + "\n"


def test_cli_pull_and_status_report_each_feed(
    env: IngestEnv, server: FeedServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refreshes: list[Path] = []  # the feature store has its own tests; here: when pull calls it
    monkeypatch.setattr(Platform, "refresh", lambda self: refreshes.append(self.settings.home))
    good = server.route("/fred/series/observations", handler=fred_handler(OBSERVATIONS))
    gone = server.route("/gone", Reply(404, b"not here"))
    write_config(
        home,
        feed_toml("cpi", "fred", good, api_key_env=KEY_ENV, series_id="CPI"),
        feed_toml("gone", "rss", gone),
    )
    app = typer.Typer()
    register(app)
    runner = CliRunner()

    pulled = runner.invoke(app, ["pull", "--home", str(home), "--json"])
    assert pulled.exit_code == 2, pulled.output
    by_feed = {row["feed"]: row for row in json.loads(pulled.stdout)}
    assert (by_feed["cpi"]["status"], by_feed["cpi"]["rows"]) == ("ok", 3)
    assert by_feed["gone"]["status"] == "failed"
    assert "returned HTTP 404 (not here)" in by_feed["gone"]["error"]

    assert refreshes == [home]  # rows were staged

    only_cpi = runner.invoke(app, ["pull", "cpi", "--home", str(home), "--json"])
    assert only_cpi.exit_code == 0, only_cpi.output
    assert [row["rows"] for row in json.loads(only_cpi.stdout)] == [0]
    assert refreshes == [home]  # nothing new: no refresh

    status = runner.invoke(app, ["status", "--home", str(home), "--json"])
    assert status.exit_code == 0, status.output
    rows = {row["feed"]: row for row in json.loads(status.stdout)}
    assert (rows["cpi"]["last_status"], rows["cpi"]["rows_staged_total"]) == ("ok", 3)
    assert rows["cpi"]["last_error"] is None
    assert rows["gone"]["last_status"] == "failed"
    assert "HTTP 404" in rows["gone"]["last_error"]
    assert datetime.fromisoformat(rows["cpi"]["next_run_ts"]) > datetime.now(UTC)
    assert KEY not in pulled.output + status.output

    unknown = runner.invoke(app, ["pull", "nope", "--home", str(home)])
    assert unknown.exit_code == 1
    assert "no feed named nope in [[feeds]]; configured: cpi, gone" in unknown.output


def test_scheduler_runs_feeds_alone_serialises_refreshes_and_watches(
    env: IngestEnv, states: FeedStateStore, server: FeedServer, fast: PullOptions, home: Path
) -> None:
    good = server.route("/rss", Reply(body=articles(("a", datetime(2026, 3, 2, tzinfo=UTC)))))
    gone = server.route("/gone", Reply(404))
    every_second = "* * * * * *"
    feeds = [
        feed("good", "rss", good, schedule=every_second),
        feed("gone", "rss", gone, schedule=every_second),
    ]
    inside, overlaps, refreshes = [0], [0], [0]

    def refresh() -> None:
        inside[0] += 1
        overlaps[0] += inside[0] > 1
        time.sleep(0.05)
        refreshes[0] += 1
        inside[0] -= 1

    (home / "input").mkdir()
    (home / "input" / "notes.txt").write_text("not an export")
    platform = Platform.open(home)  # the watcher's batches go through Platform.ingest
    watch = WatchConfig(home / "input", lambda b: platform.ingest(b).files, WatchTiming(0.0))
    reports: list[str] = []
    scheduler = FeedScheduler(
        env,
        feeds,
        states,
        refresh=refresh,
        watch=watch,
        options=fast,
        tick_s=0.05,
        report=reports.append,
    )
    stop = threading.Event()
    loop = threading.Thread(target=scheduler.run, args=(stop,))
    loop.start()

    def settled() -> bool:
        # Wait on what the assertions read (the state files and the watch report), not on the
        # server's hits alone: under load a hit lands well before its failure is recorded.
        gone_state = states.load("gone")
        return (
            min(len(server.hits(p)) for p in ("/gone", "/rss")) >= 2
            and gone_state.consecutive_failures >= 2
            and states.load("good").last_status == "ok"
            and any("notes.txt" in line for line in reports)
        )

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not settled():
        time.sleep(0.05)
    stop.set()
    loop.join(timeout=5)

    assert not loop.is_alive()
    assert len(server.hits("/gone")) >= 2  # it keeps failing, on schedule ...
    assert len(server.hits("/rss")) >= 2  # ... and the good feed keeps running
    good_state, gone_state = states.load("good"), states.load("gone")
    assert (good_state.last_status, good_state.rows_staged_total) == ("ok", 1)
    assert gone_state.last_status == "failed"
    assert gone_state.consecutive_failures >= 2
    assert good_state.next_run_ts is not None
    assert refreshes[0] == 1  # only the pull that staged rows refreshed
    assert overlaps[0] == 0
    assert any("notes.txt: error" in line for line in reports)


def test_scheduler_catches_up_once_after_a_restart(
    env: IngestEnv, states: FeedStateStore, server: FeedServer, fast: PullOptions
) -> None:
    url = server.route("/rss", Reply(body=articles(("a", datetime(2026, 3, 2, tzinfo=UTC)))))
    cfg = feed("wire", "rss", url, schedule="0 6 * * *")
    now = datetime.now(UTC)
    never_run = FeedScheduler(env, [cfg], states, refresh=lambda: None, options=fast)
    assert never_run.slots[0].next_run <= datetime.now(UTC)  # a new feed runs at start

    state = states.load("wire")
    state.last_run_ts, state.next_run_ts = now - timedelta(days=2), now - timedelta(days=1)
    states.save(state)  # the 06:00 run was due while we were down
    restarted = FeedScheduler(env, [cfg], states, refresh=lambda: None, options=fast)
    assert restarted.submit_due(datetime.now(UTC)) == ["wire"]
    assert restarted.submit_due(datetime.now(UTC)) == []  # caught up once, not per missed fire
    stop = threading.Event()
    stop.set()
    restarted.run(stop)  # returns once the in-flight pull finished
    saved = states.load("wire")
    assert (saved.last_status, saved.rows_staged_total) == ("ok", 1)
    assert saved.next_run_ts == cfg.next_run(now)
    assert saved.next_run_ts is not None and saved.next_run_ts.hour == 6

    up_to_date = FeedScheduler(env, [cfg], states, refresh=lambda: None, options=fast)
    assert up_to_date.submit_due(datetime.now(UTC)) == []
    assert len(server.hits("/rss")) == 1


SCRIPT = """
import json, sys
from datetime import datetime
import polars as pl
import typer
import tradelake.sources
from tradelake.cli.feeds import register
from tradelake.sources.base import ParseResult, register_parser
from tradelake.staging import Quarantine
from tradelake.tables import UTC_TS, TableSpec, register_table

SPEC = register_table(TableSpec("pulltest_news", {"uuid": pl.Utf8(), "headline": pl.Utf8(),
    "published": UTC_TS}, natural_key=("uuid",), date_column="published"))

@register_parser("rss", suffixes=(), content_type="application/json")
def parse(data, name, ctx):
    rows = json.loads(data)["articles"]
    frame = pl.DataFrame({"uuid": [r["url"] for r in rows], "headline": [r["title"] for r in rows],
        "published": [datetime.fromisoformat(r["publishedAt"]) for r in rows]},
        schema=dict(SPEC.content))
    return ParseResult({SPEC.name: frame}, {SPEC.name: Quarantine(SPEC.name)})

app = typer.Typer()
register(app)
app()
"""


@pytest.mark.slow
def test_run_fires_on_cron_and_sigterm_finishes_the_inflight_pull(
    server: FeedServer, home: Path, tmp_path: Path
) -> None:
    body = articles(("a", datetime(2026, 3, 2, tzinfo=UTC)))
    url = server.route("/rss", Reply(body=body, delay_s=0.8))
    write_config(home, feed_toml("wire", "rss", url, schedule="* * * * * *"))
    script = tmp_path / "run_feeds.py"
    script.write_text(SCRIPT, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, str(script), "run", "--home", str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        fired = server.arrived.wait(timeout=20)
        process.send_signal(signal.SIGTERM)  # while the 0.8 s response is in flight
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert fired, f"the scheduler never fired; stderr: {err}"
    assert process.returncode == 0, err
    assert len(server.hits("/rss")) == 1  # nothing new started after the signal
    state = FeedStateStore(home / "state").load("wire")
    assert (state.last_status, state.rows_staged_total) == ("ok", 1)  # the pull finished
    assert state.next_run_ts is not None
    assert "feed wire: ok, 1 page(s), 1 rows" in out
    assert "stopped: in-flight pulls finished" in out
