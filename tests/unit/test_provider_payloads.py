"""Real-shaped provider payloads: Tradier quotes and spot, Finnhub redirects, publishers."""

from __future__ import annotations

import json

import polars as pl
import pytest

from fixtures import feeds
from tradelake.sources.base import ParseContext
from tradelake.sources.news import parse_finnhub, parse_newsapi, parse_rss
from tradelake.sources.news_items import canonical_url, publisher_name
from tradelake.sources.options import parse_tradier, tradier_quote_price

CHAIN = feeds.chain()


def test_tradier_quote_price_reads_one_quote_or_a_list_and_falls_back_to_the_mid() -> None:
    one = json.loads(feeds.tradier_quotes(("PLTR", 25.50, 25.49, 25.51)))
    several = json.loads(
        feeds.tradier_quotes(("AAPL", 230.1, 230.0, 230.2), ("PLTR", None, 25.40, 25.60))
    )
    unmatched = {"quotes": {"unmatched_symbols": {"symbol": "NOPE"}}}

    assert tradier_quote_price(one, "pltr") == 25.50
    assert tradier_quote_price(several, "PLTR") == pytest.approx(25.50)  # no last: the mid
    assert tradier_quote_price(several, "AAPL") == 230.1
    assert tradier_quote_price(unmatched, "NOPE") is None
    assert tradier_quote_price({"quotes": None}, "PLTR") is None


def test_tradier_honours_the_underlying_price_option_instead_of_parity() -> None:
    quoted = ParseContext(options={"symbol": "AAPL", "underlying_price": 231.0})
    implied = ParseContext(options={"symbol": "AAPL"})

    with_quote = parse_tradier(feeds.tradier(CHAIN), "aapl-1.json", quoted)
    with_parity = parse_tradier(feeds.tradier(CHAIN), "aapl-1.json", implied)

    assert with_quote.frames["options_raw"]["underlying_price"].unique().to_list() == [231.0]
    assert not any("parity" in note for note in with_quote.notes)
    parity = with_parity.frames["options_raw"]["underlying_price"].unique().to_list()
    assert parity == [pytest.approx(230.0, abs=0.05)]
    assert any("put-call parity" in note for note in with_parity.notes)
    # The quoted spot changes the vols: a 1.00 higher spot raises an ATM call's delta.
    atm = "AAPL261218C00230000"
    quoted_row, implied_row = (
        r.frames["options_raw"].filter(pl.col("symbol") == atm) for r in (with_quote, with_parity)
    )
    assert quoted_row["delta"][0] > implied_row["delta"][0]


def test_finnhub_redirects_are_replaced_by_the_resolved_article_urls() -> None:
    payload, facts = feeds.finnhub(n=6)
    redirects = list(facts.published)
    resolved = {redirects[0]: "https://www.reuters.com/markets/aapl-0?utm_source=finnhub"}
    ctx = ParseContext(source="finnhub", options={"resolved_urls": resolved})

    frame = parse_finnhub(payload, "fh-1.json", ctx).frames["news_raw"]

    urls = dict(zip(frame["headline"], frame["url"], strict=True))
    assert resolved[redirects[0]] in urls.values()
    assert set(urls.values()) - {resolved[redirects[0]]} == set(redirects[1:])
    # The resolved story has the same id as another feed's copy of the same article.
    newsapi, _ = feeds.newsapi(n=1, shared_links=("https://reuters.com/markets/aapl-0",))
    other = parse_newsapi(newsapi, "na-1.json", ParseContext(source="newsapi"))
    assert other.frames["news_raw"]["uuid"][0] in frame["uuid"].to_list()


def test_google_news_is_never_the_publisher() -> None:
    payload, expected = feeds.google_news_rss(n=6)

    frame = parse_rss(payload, "gn-1.xml", ParseContext(source="rss:gn")).frames["news_raw"]

    assert dict(zip(frame["url"], frame["publisher"], strict=True)) == expected
    assert "Google News" not in "".join(frame["publisher"].to_list())


@pytest.mark.parametrize(
    ("name", "url", "expected"),
    [
        ("Reuters", "https://finnhub.io/api/news?id=1", "Reuters"),
        ("https://www.marketwatch.com/story/x", None, "marketwatch.com"),
        ("www.Bloomberg.com", None, "bloomberg.com"),
        ("Google News", "https://www.cnbc.com/2026/11/20/a.html", "cnbc.com"),
        ('"AAPL" - Google News', "https://news.google.com/rss/articles/x", None),
        (None, "https://finnhub.io/api/news?id=9", None),
        ("", "https://www.ft.com/content/abc", "ft.com"),
        ("Yahoo Finance", None, "Yahoo Finance"),
    ],
)
def test_publisher_name(name: str | None, url: str | None, expected: str | None) -> None:
    assert publisher_name(name, url) == expected


def test_canonical_urls_agree_after_resolution() -> None:
    assert canonical_url("https://www.reuters.com/markets/aapl-0?utm_source=finnhub") == (
        canonical_url("https://reuters.com/markets/aapl-0")
    )
