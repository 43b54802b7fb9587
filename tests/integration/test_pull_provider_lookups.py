"""Provider look-ups at pull time, against a server on 127.0.0.1: Tradier's underlying quote and
Finnhub's redirect links, each recorded with the landed page so a replay parses it the same way.
The server, fixtures and helpers are :mod:`fixtures.feed_server`'s.
"""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest

from fixtures import feeds as payloads
from fixtures.feed_server import KEY, KEY_ENV, FeedServer, Reply, Seen, feed, pull_one
from tradelake.jobs.feed_state import FeedStateStore
from tradelake.jobs.ingest import IngestEnv, parse_context
from tradelake.jobs.pull import PullOptions
from tradelake.sources.base import get_source

CHAIN = payloads.chain("PLTR", 25.5, (date(2026, 12, 18), date(2027, 1, 15)), step=0.5)
SIGMA = {c.symbol: c.sigma for c in CHAIN}
JSON = {"Content-Type": "application/json"}


def test_tradier_spot_comes_from_the_quotes_endpoint_and_is_kept_for_replay(
    real_env: IngestEnv, states: FeedStateStore, server: FeedServer, fast: PullOptions
) -> None:
    chain_url = server.route(
        "/v1/markets/options/chains", Reply(body=payloads.tradier(CHAIN, underlying="PLTR"))
    )
    # A list of two quotes (Tradier's shape for several symbols); PLTR's is the one used.
    quotes = payloads.tradier_quotes(("SPY", 590.1, 590.0, 590.2), ("PLTR", 25.5, 25.49, 25.51))
    server.route("/v1/markets/quotes", Reply(body=quotes, headers=JSON))
    cfg = feed(
        "pltr", "tradier", chain_url, api_key_env=KEY_ENV, symbol="PLTR", underlying_quote=True
    )

    result = pull_one(real_env, cfg, states, options=fast)

    assert (result.status, result.error) == ("ok", None)
    (asked,) = server.hits("/v1/markets/quotes")
    assert asked.query == {"symbols": "PLTR"}
    assert asked.headers["Authorization"] == f"Bearer {KEY}"
    staged = real_env.staging.read("options_raw")
    assert staged["underlying_price"].unique().to_list() == [25.5]
    liquid = staged.filter(pl.col("delta").abs().is_between(0.15, 0.85))
    assert liquid.height > 20
    for symbol, iv in zip(liquid["symbol"], liquid["iv"], strict=True):
        assert iv == pytest.approx(SIGMA[symbol], abs=0.01), symbol

    (obj,) = real_env.landing.list(source="options:tradier")
    assert json.loads(obj.attributes["options"])["underlying_price"] == 25.5
    # Replay: the landed bytes and recorded options alone give the same spot, no server needed.
    server.routes.clear()
    ctx = parse_context(obj, real_env.instruments)
    again = get_source("tradier").parse(real_env.landing.get(obj.landing_id), "pltr-1.json", ctx)
    assert again.frames["options_raw"]["underlying_price"].unique().to_list() == [25.5]


def test_tradier_without_a_quote_fails_the_feed_instead_of_using_parity(
    real_env: IngestEnv, states: FeedStateStore, server: FeedServer, fast: PullOptions
) -> None:
    chain_url = server.route(
        "/v1/markets/options/chains", Reply(body=payloads.tradier(CHAIN, underlying="PLTR"))
    )
    empty = json.dumps({"quotes": {"unmatched_symbols": {"symbol": "PLTR"}}}).encode()
    server.route("/v1/markets/quotes", Reply(body=empty, headers=JSON))
    cfg = feed(
        "pltr", "tradier", chain_url, api_key_env=KEY_ENV, symbol="PLTR", underlying_quote=True
    )

    result = pull_one(real_env, cfg, states, options=fast)

    assert result.status == "failed" and "no last, bid or ask for PLTR" in (result.error or "")
    assert real_env.staging.read("options_raw").height == 0


def test_finnhub_redirects_are_resolved_capped_and_timed_out(
    real_env: IngestEnv, states: FeedStateStore, server: FeedServer, fast: PullOptions
) -> None:
    items = [
        {
            "category": "company", "datetime": 1_795_000_000 + i, "headline": f"PLTR story {i}",
            "id": 7_000 + i, "image": "", "related": "PLTR", "source": source,
            "summary": "Palantir said results were in line.",
            "url": f"{server.url}/api/news?id={7_000 + i}",
        }
        for i, source in enumerate(("Yahoo", "https://www.marketwatch.com", "Yahoo", "Yahoo"))
    ]  # fmt: skip
    news_url = server.route("/api/v1/company-news", Reply(body=json.dumps(items).encode()))

    def redirect(request: Seen) -> Reply:
        story = request.query["id"]
        if story == "7002":  # the redirector is slower than the link timeout
            return Reply(302, headers={"Location": "/never"}, delay_s=1.0)
        if story == "7003":  # two hops, the second to another host that does not answer
            return Reply(302, headers={"Location": "http://127.0.0.1:9/articles/7003"})
        return Reply(302, headers={"Location": f"/hop?id={story}"})

    server.route("/api/news", handler=redirect)
    server.route(
        "/hop",
        handler=lambda r: Reply(301, headers={"Location": f"/markets/pltr-{r.query['id']}"}),
    )
    server.route("/markets/pltr-7000", Reply(body=b"<html>article</html>"))
    server.route("/markets/pltr-7001", Reply(body=b"<html>article</html>"))
    cfg = feed(
        "pltr-news", "finnhub", news_url, api_key_env=KEY_ENV, symbol="PLTR", link_timeout_s=0.3
    )

    result = pull_one(real_env, cfg, states, options=fast)

    assert (result.status, result.rows) == ("ok", 4)
    staged = real_env.staging.read("news_raw").sort("headline")
    assert staged["url"].to_list() == [
        f"{server.url}/markets/pltr-7000",
        f"{server.url}/markets/pltr-7001",
        f"{server.url}/api/news?id=7002",  # timed out: the redirect is kept
        "http://127.0.0.1:9/articles/7003",  # the last Location the redirector gave
    ]
    assert staged["publisher"].to_list()[:2] == ["Yahoo", "marketwatch.com"]
    # The key never went to the redirector; each redirect was asked once.
    assert all("X-Finnhub-Token" not in s.headers for s in server.hits("/api/news"))
    asked = sorted(s.query["id"] for s in server.hits("/api/news"))
    assert asked == ["7000", "7001", "7002", "7003"]
    (obj,) = real_env.landing.list(source="finnhub")
    recorded = json.loads(obj.attributes["options"])["resolved_urls"]
    assert recorded[f"{server.url}/api/news?id=7000"] == f"{server.url}/markets/pltr-7000"


def test_finnhub_links_beyond_max_links_are_left_alone(
    real_env: IngestEnv, states: FeedStateStore, server: FeedServer, fast: PullOptions
) -> None:
    body, _ = payloads.finnhub(n=8)
    rehosted = body.replace(b"https://finnhub.io", server.url.encode())
    news_url = server.route("/api/v1/company-news", Reply(body=rehosted))
    server.route(
        "/api/news", handler=lambda r: Reply(302, headers={"Location": f"/a/{r.query['id']}"})
    )
    server.route("/a/9000000", Reply(body=b"ok"))
    server.route("/a/9000001", Reply(body=b"ok"))
    cfg = feed("fh", "finnhub", news_url, api_key_env=KEY_ENV, max_links=2)

    result = pull_one(real_env, cfg, states, options=fast)

    assert result.status == "ok"
    assert len(server.hits("/api/news")) == 2
    urls = real_env.staging.read("news_raw")["url"].to_list()
    assert sum("/a/" in u for u in urls) == 2
