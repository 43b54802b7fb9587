"""Extra requests some providers' pages need before they can be parsed, recorded for replay.

Parsers are pure (bytes in, frames out), so what a page alone does not say is looked up here,
at pull time, and handed to the parser as extra ``ParseContext.options``. The pull job records
those options with the landed page, so a replay parses it exactly as the pull did, without the
network. One function per kind, registered in :data:`LOOKUPS`:

- **tradier**: a chain has no underlying price. With the feed option ``underlying_quote =
  true`` (and no fixed ``underlying_price``), the quote comes from Tradier's
  ``/v1/markets/quotes?symbols=X`` through the feed's own client (same key, rate limit and
  retries) and becomes ``underlying_price``. A quote that cannot be had fails the feed
  (:class:`TransientFeedError`): pricing from put-call parity instead would be silent.
- **finnhub**: item ``url`` is a redirect on Finnhub's host (``/api/news?id=...``). Each
  redirect on the feed's own host is followed (at most :data:`MAX_HOPS` hops, ``link_timeout_s``
  per request, ``max_links`` per page, never with the key) and the article URL recorded in
  ``resolved_urls``; when the article's host does not answer, the last ``Location`` is kept. A
  link whose redirector does not answer keeps its redirect and is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx

from tradelake.errors import TerminalFeedError, TransientFeedError
from tradelake.jobs.feeds import FeedConfig
from tradelake.redaction import redact
from tradelake.sources.http import Fetched, PullClient
from tradelake.sources.options import tradier_quote_price

logger = logging.getLogger("tradelake.pull")

Lookup = Callable[[FeedConfig, PullClient, Fetched], dict[str, Any]]
MAX_HOPS = 5
LINK_TIMEOUT_S = 5.0
MAX_LINKS = 100
LINK_WORKERS = 4


def tradier_underlying(feed: FeedConfig, client: PullClient, page: Fetched) -> dict[str, Any]:
    """``underlying_price`` from Tradier's quotes endpoint, when the feed asks for it."""
    options = feed.options
    if "underlying_price" in options or not options.get("underlying_quote"):
        return {}
    symbol = str(options.get("symbol") or "").strip()
    if not symbol:
        raise TerminalFeedError(
            f"feed {feed.name}: underlying_quote needs the option symbol (the underlying, e.g. "
            'symbol = "PLTR"); set it in tradelake.toml.'
        )
    url = str(options.get("quote_url") or quotes_url(feed.url))
    fetched = client.get(url, {"symbols": symbol})
    price = tradier_quote_price(fetched.json(), symbol)
    if price is None:
        raise TransientFeedError(
            f"feed {feed.name}: {fetched.url} has no last, bid or ask for {symbol}; the chain "
            "is not priced from put-call parity instead, the next run will try again."
        )
    return {"underlying_price": price, "underlying_price_from": fetched.url}


def quotes_url(chain_url: str) -> str:
    """Tradier's quotes endpoint beside its chains endpoint (production or sandbox host)."""
    marker = "/markets/options/chains"
    if marker in chain_url:
        return chain_url.split(marker, 1)[0] + "/markets/quotes"
    return str(httpx.URL(chain_url).join("/v1/markets/quotes"))


def finnhub_links(feed: FeedConfig, client: PullClient, page: Fetched) -> dict[str, Any]:
    """``resolved_urls``: Finnhub redirect → article, for the redirects on the feed's host."""
    if feed.options.get("resolve_links", True) is False:
        return {}
    body = page.json()
    links = [a.get("url") for a in body if isinstance(a, dict)] if isinstance(body, list) else []
    host = urlsplit(feed.url).hostname
    wanted = list(dict.fromkeys(u for u in links if isinstance(u, str) and _on_host(u, host)))
    limit = int(feed.options.get("max_links", MAX_LINKS))
    if len(wanted) > limit:
        logger.warning(
            "feed %s: %d redirect links, resolving the first %d (max_links)",
            *(feed.name, len(wanted), limit),
        )
    timeout = float(feed.options.get("link_timeout_s", LINK_TIMEOUT_S))
    resolved = resolve_redirects(wanted[:limit], timeout_s=timeout, feed=feed.name)
    return {"resolved_urls": resolved} if resolved else {}


def resolve_redirects(
    urls: Iterable[str], *, timeout_s: float = LINK_TIMEOUT_S, feed: str = ""
) -> dict[str, str]:
    """Where each URL's redirects end (only URLs that do redirect); failures are logged, skipped.

    Bodies are never read (a streamed GET, closed after the headers): some redirectors answer
    HEAD with 405, and the article itself may be megabytes.
    """
    todo = list(urls)
    if not todo:
        return {}
    headers = {"User-Agent": "tradelake-pull/1"}
    with (
        httpx.Client(timeout=timeout_s, follow_redirects=False, headers=headers) as http,
        ThreadPoolExecutor(min(LINK_WORKERS, len(todo))) as pool,
    ):
        finals = list(pool.map(lambda url: _final_url(http, url, feed), todo))
    return {url: final for url, final in zip(todo, finals, strict=True) if final and final != url}


def _final_url(http: httpx.Client, url: str, feed: str) -> str | None:
    current = url
    try:
        for _ in range(MAX_HOPS):
            with http.stream("GET", current) as response:
                target = response.headers.get("location") if response.is_redirect else None
            if not target:
                return current
            following = str(httpx.URL(current).join(target))
            if urlsplit(following).scheme not in ("http", "https"):
                return current
            current = following
    except httpx.HTTPError as exc:
        if current != url:  # the redirector answered; the article's own host did not
            return current
        logger.warning("feed %s: could not resolve %s (%s)", feed, redact(url), exc)
        return None
    logger.warning("feed %s: %s redirects more than %d times", feed, redact(url), MAX_HOPS)
    return None


def _on_host(url: str, host: str | None) -> bool:
    return bool(host) and urlsplit(url).hostname == host


LOOKUPS: dict[str, Lookup] = {"tradier": tradier_underlying, "finnhub": finnhub_links}


def page_options(feed: FeedConfig, client: PullClient, page: Fetched) -> Mapping[str, Any]:
    """The feed's parse options plus what :data:`LOOKUPS` learned for this page."""
    lookup = LOOKUPS.get(feed.kind)
    return {**feed.options, **(lookup(feed, client, page) if lookup else {})}
