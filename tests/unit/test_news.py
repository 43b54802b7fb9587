from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures import feeds
from tradelake.errors import SourceFormatError
from tradelake.sources.base import ParseContext
from tradelake.sources.news import parse_atom, parse_finnhub, parse_newsapi, parse_rss
from tradelake.sources.news_items import canonical_url, plain_text, rfc822_time

RSS_CTX = ParseContext(source="rss:example-markets")


def _by_link(frame: pl.DataFrame) -> dict[str, dict[str, object]]:
    return {str(canonical_url(str(r["url"]))): r for r in frame.iter_rows(named=True)}


def test_rss_dates_with_zone_names_become_utc_and_bad_rows_are_quarantined() -> None:
    payload, facts = feeds.rss(n=40)
    result = parse_rss(payload, "example-markets-1.xml", RSS_CTX)
    frame = result.frames["news_raw"]

    assert frame.height == 39  # 40 items + 1 repeat - 1 unreadable date
    rows = _by_link(frame)
    for link, published in facts.published.items():
        assert rows[canonical_url(link)]["published"] == published, link
    bad = result.quarantine["news_raw"].frame()
    assert bad["reason"].to_list() == ["unparseable published 'Thursday, the 5th of November'"]
    assert result.notes == ["news_raw: 1 repeated row(s) with the same key and content"]
    assert set(frame["feed"]) == {"example-markets"}
    assert set(frame["publisher"]) == {"Example Markets"}


def test_rss_bodies_are_plain_text_and_sentiment_follows_the_headline() -> None:
    payload, facts = feeds.rss(n=40)
    frame = parse_rss(payload, "f.xml", RSS_CTX).frames["news_raw"]

    bodies = frame["body"].to_list()
    assert "Shares of AAPL & peers moved." in bodies  # &amp;amp; → &, tags gone
    assert all("<" not in b and "x()" not in b for b in bodies)
    rows = _by_link(frame)
    for link, polarity in facts.polarity.items():
        row = rows[canonical_url(link)]
        assert -1.0 <= row["sentiment"] <= 1.0
        assert (row["sentiment"] > 0.2) == (polarity > 0), row["headline"]


def test_story_ids_follow_the_canonical_url_so_two_feeds_share_one_row() -> None:
    rss_payload, _ = feeds.rss(n=10)
    tickers = enumerate(feeds.TICKERS[:3])
    links = [f"http://example-news.com/markets/{t.lower()}-{i}/#top" for i, t in tickers]
    api_payload, _ = feeds.newsapi(n=5, shared_links=tuple(links))
    from_rss = parse_rss(rss_payload, "a.xml", RSS_CTX).frames["news_raw"]
    from_api = parse_newsapi(api_payload, "b.json", ParseContext(source="newsapi")).frames[
        "news_raw"
    ]
    shared = set(from_rss["uuid"]) & set(from_api["uuid"])
    assert len(shared) == 3
    assert canonical_url(links[0]) == "https://example-news.com/markets/aapl-0"


def test_repeated_or_missing_guid_without_link_falls_back_to_headline_and_time() -> None:
    items = "".join(
        f"<item><title>Story {i}</title><guid>same</guid>"
        f"<pubDate>Fri, 20 Nov 2026 1{i}:00:00 GMT</pubDate></item>"
        for i in range(3)
    )
    lone = "<item><title>Lone</title><guid>unique-1</guid></item>"
    payload = (
        "<rss version='2.0'><channel><title>T</title>"
        f"<pubDate>Fri, 20 Nov 2026 09:00:00 EST</pubDate>{items}{lone}</channel></rss>"
    ).encode()
    frame = parse_rss(payload, "t.xml", RSS_CTX).frames["news_raw"]
    assert frame["uuid"].n_unique() == 4
    lone_row = frame.filter(pl.col("headline") == "Lone").row(0, named=True)
    assert lone_row["published"] == datetime(2026, 11, 20, 14, tzinfo=UTC)  # channel date
    again = parse_rss(payload, "t.xml", RSS_CTX).frames["news_raw"]
    assert again["uuid"].to_list() == frame["uuid"].to_list()  # stable ids


def test_atom_rfc3339_offsets_fractions_and_the_alternate_link() -> None:
    payload, facts = feeds.atom(n=12)
    frame = parse_atom(payload, "press-1.xml", ParseContext(source="rss:press")).frames["news_raw"]
    assert frame.height == 12
    for row in frame.iter_rows(named=True):
        assert row["url"].startswith("https://press.example.org/releases/")
        assert row["published"] == facts.published[row["url"]]
        assert row["body"].endswith("update")


def test_finnhub_epoch_seconds_and_related_tickers() -> None:
    payload, _ = feeds.finnhub(n=30)
    result = parse_finnhub(payload, "aapl-news-1.json", ParseContext(source="finnhub"))
    frame = result.frames["news_raw"]
    assert frame.height == 29
    assert result.quarantine["news_raw"].frame()["reason"].to_list() == [
        "unparseable published '0'"
    ]
    first = frame.filter(pl.col("url").str.ends_with("id=9000000")).row(0, named=True)
    assert first["tickers"] == "AAPL,MSFT" and first["published"] == feeds.SNAPSHOT
    assert frame["feed"].unique().to_list() == ["aapl-news"]
    assert set(frame["publisher"]) <= {"Yahoo", "MarketWatch", "SeekingAlpha"}


def test_newsapi_strips_the_chars_marker_and_reports_provider_errors() -> None:
    payload, _ = feeds.newsapi(n=12)
    options = {"tickers": "aapl, msft"}
    ctx = ParseContext(source="newsapi", options=options)
    frame = parse_newsapi(payload, "newsapi-1.json", ctx).frames["news_raw"]
    assert frame.height == 12
    assert frame["body"][1] == "MSFT traded actively on heavy volume"
    assert frame["tickers"].unique().to_list() == ["AAPL,MSFT"]
    with pytest.raises(SourceFormatError, match="rateLimited: You have made too many requests"):
        parse_newsapi(feeds.newsapi_error(), "newsapi-2.json", ctx)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (feeds.INVALID_XML, "not well-formed XML"),
        (feeds.truncated(feeds.rss(n=5)[0]), "not well-formed XML"),
        (feeds.ENTITY_BOMB, "declares XML entities"),
        (b"<html><body>login</body></html>", "root <html>"),
    ],
)
def test_payloads_that_are_not_feeds_stop_the_file(payload: bytes, message: str) -> None:
    with pytest.raises(SourceFormatError, match=message) as error:
        parse_rss(payload, "broken-1.xml", RSS_CTX)
    assert "broken-1.xml (rss:example-markets)" in str(error.value)


def test_plain_text_drops_scripts_and_resolves_entities() -> None:
    html = "<p>Q3 <b>beat</b>&nbsp;&amp; raised</p><script>track()</script><br/>guidance"
    assert plain_text(html) == "Q3 beat & raised guidance"  # nbsp collapses like any space
    assert plain_text("<p> </p>") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fri, 20 Nov 2026 09:30:00 EST", datetime(2026, 11, 20, 14, 30, tzinfo=UTC)),
        ("20 Nov 2026 09:30:00 CEST", datetime(2026, 11, 20, 7, 30, tzinfo=UTC)),
        ("Fri, 20 Nov 2026 09:30:00 -0000", datetime(2026, 11, 20, 9, 30, tzinfo=UTC)),
        ("2026-11-20T09:30:00-05:00", datetime(2026, 11, 20, 14, 30, tzinfo=UTC)),
        ("Fri, 20 Nov 2026 09:30:00 XYZT", None),
    ],
)
def test_rfc822_times(text: str, expected: datetime | None) -> None:
    assert rfc822_time(text) == expected


@settings(max_examples=100, deadline=None)
@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)),
    st.integers(min_value=-12 * 60, max_value=14 * 60),
)
def test_rfc822_round_trip_for_any_numeric_offset(naive: datetime, minutes: int) -> None:
    from email.utils import format_datetime

    local = naive.replace(microsecond=0, tzinfo=timezone(timedelta(minutes=minutes)))
    assert rfc822_time(format_datetime(local)) == local.astimezone(UTC)
