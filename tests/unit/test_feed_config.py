"""``[[feeds]]`` parsing and validation, cron schedules, and the incremental state and cursors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tradelake.config import load_settings
from tradelake.errors import ConfigError
from tradelake.jobs.feed_state import (
    FeedState,
    FeedStateStore,
    MaxIdCursor,
    ObservationDateCursor,
    PublishedCursor,
)
from tradelake.jobs.feeds import load_feeds, parse_feed, parse_feeds
from tradelake.sources.http import OffsetPaginator, PagePaginator, SinglePage

FRED = {
    "name": "cpi",
    "kind": "fred",
    "url": "https://api.stlouisfed.org/fred/series/observations",
    "schedule": "30 13 * * 1-5",
    "api_key_env": "FRED_API_KEY",
    "series_id": "CPIAUCSL",
    "units": "pc1",
}


def entry(**changes: Any) -> dict[str, Any]:
    row = {**FRED, **changes}
    return {k: v for k, v in row.items() if v is not None}


def error_of(**changes: Any) -> str:
    with pytest.raises(ConfigError) as err:
        parse_feed(entry(**changes))
    return str(err.value)


def test_fred_entry_becomes_a_typed_feed() -> None:
    feed = parse_feed(FRED)
    assert (feed.name, feed.kind, feed.source) == ("cpi", "fred", "fred")
    assert feed.options == {"series_id": "CPIAUCSL", "units": "pc1"}
    assert feed.query() == {"file_type": "json", "series_id": "CPIAUCSL", "units": "pc1"}
    assert feed.auth_style == ("api_key", None, "")
    assert feed.effective_rate_limit == 120  # FRED's documented per-key limit
    assert feed.paginator() == OffsetPaginator(100_000)
    assert isinstance(feed.cursor, ObservationDateCursor)
    assert json.loads(feed.options_json()) == {"series_id": "CPIAUCSL", "units": "pc1"}


def test_settings_feeds_are_loaded_from_tradelake_toml(home: Path) -> None:
    (home / "tradelake.toml").write_text(
        """
[[feeds]]
name = "fed-press"
kind = "rss"
url = "https://www.federalreserve.gov/feeds/press_all.xml"
schedule = "*/5 * * * *"
rate_limit_per_minute = 10
tickers = ["SPY", "TLT"]

[[feeds]]
name = "spx-chain"
kind = "cboe"
url = "https://cdn.cboe.com/api/global/delayed_quotes/options/{symbol}.json"
schedule = "*/15 14-21 * * 1-5"
symbol = "_SPX"
params = { limit = 5, greeks = true }
""",
        encoding="utf-8",
    )
    rss, cboe = load_feeds(load_settings(home))
    assert (rss.source, rss.effective_rate_limit, rss.options) == (
        "rss:fed-press",
        10.0,
        {"tickers": ["SPY", "TLT"]},
    )
    assert isinstance(rss.paginator(), SinglePage)
    assert cboe.source == "options:cboe"
    assert cboe.url == "https://cdn.cboe.com/api/global/delayed_quotes/options/_SPX.json"
    assert cboe.query() == {"limit": "5", "greeks": "true"}


@pytest.mark.parametrize(
    ("kind", "source", "key_env"),
    [
        ("fred_csv", "fred", None),
        ("csv", "macro:cpi", None),
        ("atom", "rss:cpi", None),
        ("finnhub", "finnhub", "FINNHUB_KEY"),
        ("newsapi", "newsapi", "NEWSAPI_KEY"),
        ("tradier", "options:tradier", "TRADIER_TOKEN"),
        ("options_csv", "options:cpi", None),
    ],
)
def test_every_kind_has_its_design_source(kind: str, source: str, key_env: str | None) -> None:
    assert parse_feed(entry(kind=kind, api_key_env=key_env)).source == source


def test_provider_defaults_for_news_and_options() -> None:
    newsapi = parse_feed(entry(kind="newsapi", series_id=None, units=None, q="fed"))
    assert newsapi.auth_style == (None, "X-Api-Key", "")
    assert newsapi.paginator() == PagePaginator(100)
    assert newsapi.pages_limit == 1  # developer plan: results past 100 are refused
    assert newsapi.query() == {"q": "fed"}
    tradier = parse_feed(entry(kind="tradier", symbol="SPY"))
    assert tradier.auth_style == (None, "Authorization", "Bearer")
    assert tradier.request_headers() == {"Accept": "application/json"}
    finnhub = parse_feed(entry(kind="finnhub", category="general"))
    assert finnhub.auth_style == (None, "X-Finnhub-Token", "")
    assert finnhub.effective_rate_limit == 60


def test_explicit_options_table_and_overrides() -> None:
    feed = parse_feed(
        entry(
            options={"decimal": ","},
            page_size=50,
            max_pages=3,
            rate_limit_per_minute=30,
            revision_window_days=0,
        )
    )
    assert feed.options["decimal"] == ","
    assert feed.paginator() == OffsetPaginator(50)
    assert (feed.pages_limit, feed.effective_rate_limit, feed.revision_window_days) == (3, 30, 0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": None}, "[[feeds]] #1: name is required"),
        ({"name": "cpi/../x"}, "[[feeds]] 'cpi/../x': name must be letters"),
        ({"kind": "bloomberg"}, "kind 'bloomberg' is not one of fred, fred_csv, csv, rss"),
        ({"url": "ftp://x/y"}, "[[feeds]] 'cpi': url must start with http:// or https://"),
        ({"url": None}, "[[feeds]] 'cpi': url is required"),
        ({"schedule": "61 * * * *"}, "schedule '61 * * * *' is not a cron expression"),
        ({"schedule": "* * * * * * *"}, "is not a cron expression; use 5 fields"),
        ({"schedule": None}, "[[feeds]] 'cpi': schedule is required"),
        ({"schedule_timezone": "Mars/Base"}, "[[feeds]] 'cpi'.schedule_timezone = 'Mars/Base'"),
        ({"api_key_env": None}, "kind fred needs an API key; set api_key_secret"),
        ({"rate_limit_per_minute": 0}, "rate_limit_per_minute must be a positive number, not 0"),
        ({"rate_limit_per_minute": "fast"}, "rate_limit_per_minute must be a positive number"),
        ({"max_pages": 2.5}, "max_pages must be a whole number >= 1, not 2.5"),
        ({"paging": "cursor"}, "paging must be one of none, offset, page, link"),
        ({"params": "a=b"}, "params must be a table"),
        ({"url": "https://x/{symbol}.json"}, "url names an option that is not set ('symbol')"),
    ],
)
def test_errors_name_the_feed_and_the_key(changes: dict[str, Any], message: str) -> None:
    assert message in error_of(**changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"api_key": "abc"},
        {"options": {"token": "abc"}},
        {"params": {"api_key": "abc"}},
        {"headers": {"Authorization": "Bearer abc"}},
        {"headers": {"X-Api-Key": "abc"}},
    ],
)
def test_keys_written_into_the_config_are_refused(changes: dict[str, Any]) -> None:
    message = error_of(**changes)
    assert "looks like a credential; never put keys in tradelake.toml" in message
    assert "abc" not in message


def test_key_in_the_url_is_refused_without_echoing_it() -> None:
    message = error_of(url="https://api.stlouisfed.org/fred/series/observations?api_key=abc")
    assert "url carries a key" in message
    assert "abc" not in message


def test_key_for_a_kind_without_a_default_style_needs_a_placement() -> None:
    assert "set auth_param" in error_of(kind="csv", api_key_env="CSV_KEY")
    feed = parse_feed(entry(kind="csv", api_key_env="CSV_KEY", auth_param="apikey"))
    assert feed.auth_style == ("apikey", None, "")


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="two feeds are named 'cpi'"):
        parse_feeds([FRED, FRED])


def test_non_table_entry_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"\[\[feeds\]\] entry 2 must be a table"):
        parse_feeds([FRED, "cpi"])  # type: ignore[list-item]


# --- schedules ---------------------------------------------------------------------------------


def test_five_field_cron_is_read_in_the_schedule_timezone() -> None:
    feed = parse_feed(entry(schedule="30 8 * * 1-5", schedule_timezone="America/New_York"))
    winter = feed.next_run(datetime(2026, 1, 5, 0, 0, tzinfo=UTC))  # a Monday, EST (UTC-5)
    summer = feed.next_run(datetime(2026, 7, 6, 0, 0, tzinfo=UTC))  # a Monday, EDT (UTC-4)
    assert winter == datetime(2026, 1, 5, 13, 30, tzinfo=UTC)
    assert summer == datetime(2026, 7, 6, 12, 30, tzinfo=UTC)
    friday_evening = datetime(2026, 1, 9, 20, 0, tzinfo=UTC)
    assert feed.next_run(friday_evening) == datetime(2026, 1, 12, 13, 30, tzinfo=UTC)


def test_six_field_cron_has_seconds_first() -> None:
    feed = parse_feed(entry(schedule="*/20  * * * * *"))
    assert feed.schedule == "*/20 * * * * *"
    start = datetime(2026, 1, 5, 9, 0, 5, tzinfo=UTC)
    assert feed.next_run(start) == datetime(2026, 1, 5, 9, 0, 20, tzinfo=UTC)
    every_minute_at_15 = parse_feed(entry(schedule="15 * * * * *"))
    assert every_minute_at_15.next_run(start) == datetime(2026, 1, 5, 9, 0, 15, tzinfo=UTC)


# --- state and cursors -------------------------------------------------------------------------


def test_state_round_trips_atomically(tmp_path: Path) -> None:
    store = FeedStateStore(tmp_path / "state")
    state = FeedState(
        "cpi",
        etag='"abc"',
        cursor={"last_date": "2026-01-01"},
        last_success_ts=datetime(2026, 2, 1, 12, tzinfo=UTC),
        rows_staged_total=42,
    )
    store.save(state)
    assert store.path("cpi") == tmp_path / "state" / "feeds" / "cpi.json"
    assert [p.name for p in store.root.iterdir()] == ["cpi.json"]  # no temp file left
    assert FeedStateStore(tmp_path / "state").load("cpi") == state


def test_missing_or_corrupt_state_starts_afresh(tmp_path: Path) -> None:
    store = FeedStateStore(tmp_path)
    assert store.load("new") == FeedState("new")
    store.root.mkdir(parents=True)
    store.path("broken").write_text("{not json", encoding="utf-8")
    assert store.load("broken") == FeedState("broken")


def test_fred_cursor_asks_from_last_date_minus_revision_window() -> None:
    cursor = ObservationDateCursor(revision_window_days=30)
    assert cursor.params({}, "u") == {}
    body = {"observations": [{"date": "2026-01-01"}, {"date": "2026-03-01"}, {"date": "bad"}]}
    moved = cursor.advance(body, {})
    assert moved == {"last_date": "2026-03-01"}
    assert cursor.params(moved, "u") == {"observation_start": "2026-01-30"}
    assert cursor.advance({"observations": [{"date": "2025-12-01"}]}, moved) == moved
    assert cursor.advance("not json", moved) == moved


def test_finnhub_cursor_keeps_the_largest_id_and_applies_to_news_only() -> None:
    cursor = MaxIdCursor()
    moved = cursor.advance([{"id": 7}, {"id": 12}, {"id": True}, {"x": 1}], {"last_id": "9"})
    assert moved == {"last_id": "12"}
    assert cursor.params(moved, "https://finnhub.io/api/v1/news") == {"minId": "12"}
    assert cursor.params(moved, "https://finnhub.io/api/v1/company-news") == {}


def test_newsapi_cursor_uses_the_newest_published_at_on_everything() -> None:
    cursor = PublishedCursor()
    body = {"articles": [{"publishedAt": "2026-03-02T10:00:00Z"}, {"publishedAt": None}]}
    moved = cursor.advance(body, {"last_published": "2026-03-01T09:00:00Z"})
    assert moved == {"last_published": "2026-03-02T10:00:00Z"}
    assert cursor.params(moved, "https://newsapi.org/v2/everything") == {
        "from": "2026-03-02T10:00:00Z"
    }
    assert cursor.params(moved, "https://newsapi.org/v2/top-headlines") == {}
