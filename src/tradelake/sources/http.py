"""The shared pull client: one GET, done politely and safely, for every pulled feed.

What a caller may rely on:

- **Conditional GET.** Pass the ``Validators`` (``ETag`` / ``Last-Modified``) of the last
  response; a ``304 Not Modified`` comes back as a ``Fetched`` with ``not_modified`` set and an
  empty body: nothing new, nothing to land (RFC 9110 §13.1).
- **Retries.** Timeouts, broken or truncated bodies, 5xx and 429 are retried with exponential
  backoff and "equal jitter" (half fixed, half random, so a fleet does not retry in step).
  ``Retry-After`` is honoured in both forms RFC 9110 §10.2.3 allows: delay-seconds or an
  HTTP-date. When the attempts run out, or a server asks for a longer pause than the policy
  accepts, :class:`TransientFeedError` says the next scheduled run will try again. Other 4xx are
  :class:`TerminalFeedError`: retrying the same request cannot fix them.
- **Rate limit.** A :class:`TokenBucket` per provider key spaces requests (FRED allows 120
  requests per minute per key; Finnhub's free tier 60).
- **Keys never leak.** The key is sent where the provider expects it (:class:`ApiKeyAuth`) and
  is registered with :mod:`tradelake.redaction`, so its value is masked in every URL we log,
  land or raise, in error text, state files, quarantine and every log record (httpx's and
  httpcore's included); key-like URL parameters are masked by name too
  (:func:`tradelake.redaction.redact_url`). 401/403 messages name the env var or file that
  holds the key, never its value. A key is never sent to another host on a redirect.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

from tradelake.errors import TerminalFeedError, TransientFeedError
from tradelake.redaction import MASK, redact, register_secret

logger = logging.getLogger("tradelake.pull")

MAX_REDIRECTS = 5


@dataclass(frozen=True)
class ApiKeyAuth:
    """Where a provider expects its key: a query parameter, or a header with an optional scheme.

    ``origin`` names where the key came from (``environment variable FRED_API_KEY``) so that a
    401/403 can tell the user what to check without ever showing the key.
    """

    key: str = field(repr=False)
    origin: str
    param: str | None = None
    header: str | None = None
    scheme: str = ""

    def __post_init__(self) -> None:
        register_secret(self.key)  # masked in every output from now on (tradelake.redaction)

    def apply(self, params: dict[str, str], headers: dict[str, str]) -> None:
        if self.param:
            params[self.param] = self.key
        if self.header:
            headers[self.header] = f"{self.scheme} {self.key}".strip()

    def scrub(self, text: str) -> str:
        """``text`` with the key masked (defence in depth for provider error bodies)."""
        return redact(text.replace(self.key, MASK) if self.key else text)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. Tests inject tiny values; seconds throughout."""

    attempts: int = 5
    base_s: float = 1.0
    cap_s: float = 60.0
    max_retry_after_s: float = 300.0

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Equal jitter: half of ``min(cap, base·2^retry)`` fixed, the other half random."""
        ceiling = min(self.cap_s, self.base_s * 2**retry)
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


class TokenBucket:
    """A token bucket: at most ``burst + rate·t/60`` requests in any window of ``t`` seconds.

    ``burst=1`` spaces requests evenly (FRED's 120/min becomes one request every 0.5 s). Waiting
    is reserved under a lock, so threads sharing one provider key share one budget.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate_per_s = per_minute / 60.0
        self.burst = burst
        self._tokens = float(burst)
        self._clock, self._sleep = clock, sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until it is available; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate_per_s)
            self._stamp = now
            self._tokens -= 1
            wait = -self._tokens / self.rate_per_s if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


@dataclass(frozen=True)
class Validators:
    """The last response's cache validators, replayed as conditional-request headers."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        out = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out


@dataclass(frozen=True)
class Fetched:
    """One complete response. ``url`` is already redacted; ``body`` is exactly what arrived."""

    status: int
    body: bytes
    headers: httpx.Headers
    url: str

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("content-type")
        return value.split(";")[0].strip() if value else None

    @property
    def validators(self) -> Validators:
        return Validators(self.headers.get("etag"), self.headers.get("last-modified"))

    def json(self) -> Any:
        """The body as JSON, or ``None`` when it is not JSON (the parser will say why)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class PullClient:
    """An ``httpx.Client`` wrapped with the policies of the module docstring, for one feed."""

    def __init__(
        self,
        feed: str,
        *,
        auth: ApiKeyAuth | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        bucket: TokenBucket | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.feed = feed
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self.bucket = bucket
        self._sleep, self._now = sleep, now
        self._rng = rng or random.Random()
        self._http = httpx.Client(
            headers={"User-Agent": "tradelake-pull/1", **(headers or {})},
            timeout=timeout_s,
            transport=transport,
            follow_redirects=False,
        )

    def __enter__(self) -> PullClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def get(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        validators: Validators | None = None,
    ) -> Fetched:
        """GET with retries; a 304 returns ``not_modified``; raises a typed FeedError otherwise."""
        query, headers = dict(params or {}), dict(validators.headers() if validators else {})
        if self.auth:
            self.auth.apply(query, headers)
        # httpx 0.28 replaces a URL's query with `params`; merge so a next link keeps its own.
        target = httpx.URL(url).copy_merge_params(query)
        request = self._http.build_request("GET", target, headers=headers)
        shown = redact(str(request.url))
        problem = ""
        for attempt in range(self.retry.attempts):
            if self.bucket:
                self.bucket.acquire()
            try:
                response = self._send(request)
            except httpx.TransportError as exc:
                problem, delay = self.scrub(f"{type(exc).__name__}: {exc}"), None
            else:
                if response.status_code < 300 or response.status_code == 304:
                    return Fetched(response.status_code, response.content, response.headers, shown)
                self._raise_terminal(response, shown)
                problem = f"HTTP {response.status_code}"
                delay = self._retry_after(response, shown)
            if attempt + 1 < self.retry.attempts:
                delay = self.retry.backoff(attempt, self._rng) if delay is None else delay
                logger.warning(
                    "feed %s: GET %s failed (%s); retry %d in %.2f s",
                    *(self.feed, shown, problem, attempt + 1, delay),
                )
                self._sleep(delay)
        raise TransientFeedError(
            f"feed {self.feed}: GET {shown} failed {self.retry.attempts} times (last: {problem}); "
            "the next scheduled run will try again."
        )

    def pages(
        self,
        url: str,
        params: Mapping[str, str],
        paginator: Paginator,
        *,
        validators: Validators | None = None,
        max_pages: int = 100,
    ) -> Iterator[Fetched]:
        """Every page in order; only the first request is conditional (a 304 ends the walk)."""
        request: tuple[str, Mapping[str, str]] | None = (url, paginator.first(params))
        for number in range(max_pages):
            assert request is not None
            page = self.get(*request, validators=validators if number == 0 else None)
            yield page
            request = None if page.not_modified else paginator.next(page, *request)
            if request is None:
                return
        logger.warning("feed %s: stopped after %d pages (max_pages)", self.feed, max_pages)

    def _send(self, request: httpx.Request) -> httpx.Response:
        """Send and read the whole body, following same-origin redirects only when keyed."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self._http.send(request)
            response.read()
            _check_length(response)
            if not response.is_redirect or response.next_request is None:
                return response
            target = response.next_request
            if self.auth and target.url.netloc != request.url.netloc:
                raise TerminalFeedError(
                    f"feed {self.feed}: {redact(str(request.url))} redirects to another host "
                    f"({target.url.host}); set the feed's url to the final address so the API "
                    "key is not sent elsewhere."
                )
            request = target
        raise TerminalFeedError(
            f"feed {self.feed}: more than {MAX_REDIRECTS} redirects from "
            f"{redact(str(request.url))}; set the feed's url to the final address."
        )

    def _raise_terminal(self, response: httpx.Response, shown: str) -> None:
        status = response.status_code
        if status == 429 or status >= 500:
            return
        if status in (401, 403) and self.auth:
            raise TerminalFeedError(
                f"feed {self.feed}: {shown} refused the API key (HTTP {status}); check the key "
                f"in {self.auth.origin} and its permissions with the provider."
            )
        detail = self.scrub(response.text[:200].strip())
        raise TerminalFeedError(
            f"feed {self.feed}: GET {shown} returned HTTP {status} ({detail or 'no detail'}); "
            "check the feed's url and options in tradelake.toml."
        )

    def _retry_after(self, response: httpx.Response, shown: str) -> float | None:
        """Seconds the server asked us to wait (``Retry-After``), or ``None`` for our backoff."""
        value = response.headers.get("retry-after")
        if not value:
            return None
        if value.strip().isdigit():
            delay = float(value)
        else:
            try:
                delay = (parsedate_to_datetime(value) - self._now()).total_seconds()
            except (TypeError, ValueError):
                return None
        delay = max(delay, 0.0)
        if delay > self.retry.max_retry_after_s:
            raise TransientFeedError(
                f"feed {self.feed}: {shown} asked to wait {delay:.0f} s (HTTP "
                f"{response.status_code}, Retry-After); the next scheduled run will try again."
            )
        return delay

    def scrub(self, text: str) -> str:
        """``text`` with this client's key and any key-like URL parameter masked."""
        return self.auth.scrub(text) if self.auth else redact(text)


def _check_length(response: httpx.Response) -> None:
    """A body shorter than its ``Content-Length`` is truncated (transient: fetch again).

    h11 already raises on most short reads; this also covers transports that do not. Encoded
    bodies are skipped because ``Content-Length`` counts the compressed bytes.
    """
    declared = response.headers.get("content-length", "")
    encoded = "content-encoding" in response.headers
    if declared.isdigit() and not encoded and len(response.content) != int(declared):
        raise httpx.RemoteProtocolError(
            f"truncated body: got {len(response.content)} of {declared} bytes",
            request=response.request,
        )


class Paginator(Protocol):
    """How a provider splits a result: first-page params, then the next request (or ``None``)."""

    def first(self, params: Mapping[str, str]) -> dict[str, str]: ...

    def next(
        self, page: Fetched, url: str, params: Mapping[str, str]
    ) -> tuple[str, dict[str, str]] | None: ...


class SinglePage:
    """One request, no pagination (RSS, CSV downloads, option chains)."""

    def first(self, params: Mapping[str, str]) -> dict[str, str]:
        return dict(params)

    def next(
        self, page: Fetched, url: str, params: Mapping[str, str]
    ) -> tuple[str, dict[str, str]] | None:
        return None


@dataclass(frozen=True)
class OffsetPaginator:
    """FRED style: ``offset``/``limit`` in, ``count`` of all matching rows out.

    FRED's observations endpoint caps ``limit`` at 100000 and echoes ``offset``/``limit``/``count``
    in its JSON; the next page starts at ``offset + limit`` while that is below ``count``.
    """

    limit: int

    def first(self, params: Mapping[str, str]) -> dict[str, str]:
        return {**params, "offset": params.get("offset", "0"), "limit": str(self.limit)}

    def next(
        self, page: Fetched, url: str, params: Mapping[str, str]
    ) -> tuple[str, dict[str, str]] | None:
        body = page.json()
        if not isinstance(body, dict) or not isinstance(body.get("count"), int):
            return None
        following = int(params["offset"]) + self.limit
        return (url, {**params, "offset": str(following)}) if following < body["count"] else None


@dataclass(frozen=True)
class PagePaginator:
    """NewsAPI style: 1-based ``page`` and ``pageSize`` (at most 100) in, ``totalResults`` out."""

    page_size: int

    def first(self, params: Mapping[str, str]) -> dict[str, str]:
        return {**params, "page": "1", "pageSize": str(self.page_size)}

    def next(
        self, page: Fetched, url: str, params: Mapping[str, str]
    ) -> tuple[str, dict[str, str]] | None:
        body = page.json()
        if not isinstance(body, dict) or not isinstance(body.get("totalResults"), int):
            return None
        number = int(params["page"])
        if number * self.page_size >= body["totalResults"]:
            return None
        return url, {**params, "page": str(number + 1)}


def link_header_next(page: Fetched) -> str | None:
    """The RFC 8288 ``Link: <...>; rel="next"`` target, the common "next link" convention."""
    link = httpx.Response(200, headers=page.headers).links.get("next")
    return link.get("url") if link else None


@dataclass(frozen=True)
class NextLinkPaginator:
    """Follows a next-page URL found by ``next_link`` (the ``Link`` header by default).

    The next URL carries its own query, so the first page's params are not repeated; the
    client re-applies a query-parameter key to it.
    """

    next_link: Callable[[Fetched], str | None] = link_header_next

    def first(self, params: Mapping[str, str]) -> dict[str, str]:
        return dict(params)

    def next(
        self, page: Fetched, url: str, params: Mapping[str, str]
    ) -> tuple[str, dict[str, str]] | None:
        target = self.next_link(page)
        return (str(httpx.URL(url).join(target)), {}) if target else None
