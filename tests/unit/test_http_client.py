"""The pull client against scripted responses (httpx.MockTransport): retries, Retry-After,
conditional GET, key placement and redaction, paging and the token bucket on a fake clock.

Real sockets (timeouts, truncated bodies on the wire) are covered in
tests/integration/test_pull.py.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradelake.errors import TerminalFeedError, TransientFeedError
from tradelake.redaction import redact_url
from tradelake.sources.http import (
    ApiKeyAuth,
    NextLinkPaginator,
    OffsetPaginator,
    PagePaginator,
    Paginator,
    PullClient,
    RetryPolicy,
    TokenBucket,
    Validators,
)

KEY = "k3y-VALUE-0123456789"
TINY = RetryPolicy(attempts=4, base_s=0.001, cap_s=0.004, max_retry_after_s=60)
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

Handler = Callable[[httpx.Request], httpx.Response]


class Script:
    """Answers requests from a list (the last answer repeats) and records every request."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer if isinstance(answer, httpx.Response) else answer(request)


@pytest.fixture
def sleeps() -> list[float]:
    return []


def client_for(
    script: Script, sleeps: list[float], *, auth: ApiKeyAuth | None = None
) -> PullClient:
    return PullClient(
        "cpi",
        auth=auth,
        retry=TINY,
        transport=httpx.MockTransport(script),
        sleep=sleeps.append,
        rng=random.Random(7),
        now=lambda: NOW,
    )


def fred_auth() -> ApiKeyAuth:
    return ApiKeyAuth(KEY, "environment variable FRED_API_KEY", param="api_key")


# --- redaction ---------------------------------------------------------------------------------


def test_redact_url_masks_every_key_like_parameter_and_password() -> None:
    url = (
        "https://user:pa55@api.example.com/v1/x?series_id=CPI&api_key=abc123&token=t0k"
        "&apikey=zz&file_type=json&X=1&access_token=qq"
    )
    redacted = redact_url(url)
    assert redacted == (
        "https://user:***@api.example.com/v1/x?series_id=CPI&api_key=***&token=***"
        "&apikey=***&file_type=json&X=1&access_token=***"
    )


def test_redact_url_masks_keys_inside_free_text() -> None:
    text = 'GET "https://a.b/c?token=SECRET&q=fed" failed; retry at https://a.b/d?API_KEY=SECRET2'
    assert "SECRET" not in redact_url(text)
    assert "q=fed" in redact_url(text)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~", min_size=4, max_size=40))
def test_redact_url_never_leaves_a_query_key(secret: str) -> None:
    url = f"https://api.stlouisfed.org/fred/series?series_id=GDP&api_key={secret}&limit=5"
    redacted = redact_url(url)
    assert f"api_key={secret}" not in redacted
    assert redacted.endswith("series_id=GDP&api_key=***&limit=5")


def test_httpx_request_log_is_redacted(caplog: pytest.LogCaptureFixture, sleeps: list) -> None:
    script = Script(httpx.Response(200, json={}))
    caplog.set_level(logging.DEBUG)
    with client_for(script, sleeps, auth=fred_auth()) as client:
        client.get("https://api.example.com/obs", {"series_id": "CPI"})
    assert script.requests[0].url.params["api_key"] == KEY  # the key was sent ...
    assert "HTTP Request: GET" in caplog.text  # ... httpx logged the request ...
    assert KEY not in caplog.text  # ... without the key
    assert "api_key=***" in caplog.text


# --- retries -----------------------------------------------------------------------------------


def test_5xx_then_success_is_retried_with_capped_jittered_backoff(sleeps: list[float]) -> None:
    script = Script(httpx.Response(500), httpx.Response(503), httpx.Response(200, text="ok"))
    with client_for(script, sleeps) as client:
        page = client.get("https://api.example.com/x")
    assert page.body == b"ok"
    assert len(script.requests) == 3
    assert len(sleeps) == 2
    assert 0.0005 <= sleeps[0] <= 0.001  # equal jitter: within [ceiling/2, ceiling]
    assert 0.001 <= sleeps[1] <= 0.002


def test_backoff_grows_then_caps() -> None:
    policy = RetryPolicy(base_s=1.0, cap_s=8.0)
    rng = random.Random(1)
    ceilings = [1, 2, 4, 8, 8, 8]
    for retry, ceiling in enumerate(ceilings):
        delay = policy.backoff(retry, rng)
        assert ceiling / 2 <= delay <= ceiling


def test_429_retry_after_seconds_is_honoured(sleeps: list[float]) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200))
    with client_for(script, sleeps) as client:
        assert client.get("https://api.example.com/x").status == 200
    assert sleeps == [7.0]


def test_429_retry_after_http_date_is_honoured(sleeps: list[float]) -> None:
    later = "Mon, 02 Mar 2026 12:00:30 GMT"  # NOW + 30 s
    script = Script(httpx.Response(429, headers={"Retry-After": later}), httpx.Response(200))
    with client_for(script, sleeps) as client:
        client.get("https://api.example.com/x")
    assert sleeps == [30.0]


def test_retry_after_beyond_the_policy_defers_to_the_next_run(sleeps: list[float]) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "3600"}))
    with client_for(script, sleeps) as client, pytest.raises(TransientFeedError) as err:
        client.get("https://api.example.com/x")
    assert "asked to wait 3600 s" in str(err.value)
    assert len(script.requests) == 1
    assert sleeps == []


def test_exhausted_retries_raise_transient_without_the_key(sleeps: list[float]) -> None:
    script = Script(httpx.ReadTimeout("timed out"))
    with (
        client_for(script, sleeps, auth=fred_auth()) as client,
        pytest.raises(TransientFeedError) as err,
    ):
        client.get("https://api.example.com/obs")
    assert len(script.requests) == TINY.attempts
    assert len(sleeps) == TINY.attempts - 1
    message = str(err.value)
    assert "failed 4 times (last: ReadTimeout: timed out)" in message
    assert "api_key=***" in message
    assert KEY not in message


def test_body_shorter_than_content_length_is_retried(sleeps: list[float]) -> None:
    short = httpx.Response(200, headers={"Content-Length": "100"}, content=b'{"a": 1')
    script = Script(short, httpx.Response(200, content=b'{"a": 1}'))
    with client_for(script, sleeps) as client:
        assert client.get("https://api.example.com/x").json() == {"a": 1}
    assert len(script.requests) == 2


# --- terminal errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_refused_key_names_where_it_lives_never_the_value(status: int, sleeps: list) -> None:
    script = Script(httpx.Response(status, text=f"bad key {KEY}"))
    with (
        client_for(script, sleeps, auth=fred_auth()) as client,
        pytest.raises(TerminalFeedError) as err,
    ):
        client.get("https://api.example.com/obs")
    assert len(script.requests) == 1
    assert f"refused the API key (HTTP {status})" in str(err.value)
    assert "environment variable FRED_API_KEY" in str(err.value)
    assert KEY not in str(err.value)


def test_other_4xx_is_terminal_and_scrubs_an_echoed_key(sleeps: list[float]) -> None:
    body = f'{{"error_message": "series does not exist (api_key={KEY})"}}'
    script = Script(httpx.Response(400, text=body))
    with (
        client_for(script, sleeps, auth=fred_auth()) as client,
        pytest.raises(TerminalFeedError) as err,
    ):
        client.get("https://api.example.com/obs")
    assert len(script.requests) == 1
    assert "HTTP 400" in str(err.value)
    assert "series does not exist" in str(err.value)
    assert KEY not in str(err.value)


def test_key_is_not_sent_to_another_host_on_redirect(sleeps: list[float]) -> None:
    moved = httpx.Response(302, headers={"Location": "https://elsewhere.example.net/obs"})
    script = Script(moved)
    with (
        client_for(script, sleeps, auth=fred_auth()) as client,
        pytest.raises(TerminalFeedError) as err,
    ):
        client.get("https://api.example.com/obs")
    assert "redirects to another host (elsewhere.example.net)" in str(err.value)
    assert [r.url.host for r in script.requests] == ["api.example.com"]


def test_same_host_redirect_is_followed(sleeps: list[float]) -> None:
    script = Script(
        httpx.Response(301, headers={"Location": "/v2/obs"}), httpx.Response(200, text="x")
    )
    with client_for(script, sleeps) as client:
        assert client.get("https://api.example.com/v1/obs").body == b"x"
    assert script.requests[1].url.path == "/v2/obs"


# --- conditional GET and key placement ---------------------------------------------------------


def test_conditional_get_sends_validators_and_304_is_not_modified(sleeps: list[float]) -> None:
    script = Script(httpx.Response(304))
    validators = Validators(etag='"v1"', last_modified="Mon, 02 Mar 2026 11:00:00 GMT")
    with client_for(script, sleeps) as client:
        page = client.get("https://feeds.example.com/rss", validators=validators)
    assert page.not_modified
    assert page.body == b""
    headers = script.requests[0].headers
    assert headers["If-None-Match"] == '"v1"'
    assert headers["If-Modified-Since"] == "Mon, 02 Mar 2026 11:00:00 GMT"


def test_response_validators_are_read_back(sleeps: list[float]) -> None:
    script = Script(
        httpx.Response(200, headers={"ETag": '"v2"', "Last-Modified": "Tue, 03 Mar 2026"})
    )
    with client_for(script, sleeps) as client:
        page = client.get("https://feeds.example.com/rss")
    assert page.validators == Validators('"v2"', "Tue, 03 Mar 2026")


@pytest.mark.parametrize(
    ("auth", "where", "expected"),
    [
        (ApiKeyAuth(KEY, "env", param="api_key"), "param:api_key", KEY),  # FRED
        (ApiKeyAuth(KEY, "env", header="X-Finnhub-Token"), "header:X-Finnhub-Token", KEY),
        (ApiKeyAuth(KEY, "env", header="X-Api-Key"), "header:X-Api-Key", KEY),  # NewsAPI
        (
            ApiKeyAuth(KEY, "env", header="Authorization", scheme="Bearer"),  # Tradier
            "header:Authorization",
            f"Bearer {KEY}",
        ),
    ],
)
def test_key_is_sent_as_the_provider_expects(
    auth: ApiKeyAuth, where: str, expected: str, sleeps: list[float]
) -> None:
    script = Script(httpx.Response(200))
    with client_for(script, sleeps, auth=auth) as client:
        page = client.get("https://api.example.com/x", {"q": "fed"})
    request = script.requests[0]
    kind, name = where.split(":")
    sent = request.url.params.get(name) if kind == "param" else request.headers.get(name)
    assert sent == expected
    assert request.url.params["q"] == "fed"
    assert KEY not in page.url


# --- pagination --------------------------------------------------------------------------------


def _pages(
    client: PullClient, url: str, params: dict[str, str], paginator: Paginator, **kwargs: Any
) -> Iterator[int]:
    return (page.status for page in client.pages(url, params, paginator, **kwargs))


def test_offset_paging_follows_fred_count(sleeps: list[float]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        return httpx.Response(200, json={"count": 5, "offset": offset, "limit": 2})

    script = Script(answer)
    with client_for(script, sleeps) as client:
        statuses = list(_pages(client, "https://f/obs", {"series_id": "X"}, OffsetPaginator(2)))
    assert statuses == [200, 200, 200]
    assert [r.url.params["offset"] for r in script.requests] == ["0", "2", "4"]
    assert {r.url.params["limit"] for r in script.requests} == {"2"}
    assert {r.url.params["series_id"] for r in script.requests} == {"X"}


def test_page_paging_follows_newsapi_total_results(sleeps: list[float]) -> None:
    script = Script(httpx.Response(200, json={"status": "ok", "totalResults": 250}))
    with client_for(script, sleeps) as client:
        list(_pages(client, "https://n/v2/everything", {"q": "fed"}, PagePaginator(100)))
    assert [r.url.params["page"] for r in script.requests] == ["1", "2", "3"]
    assert {r.url.params["pageSize"] for r in script.requests} == {"100"}


def test_next_link_paging_and_max_pages(sleeps: list[float]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        cursor = int(request.url.params.get("after", "0"))
        return httpx.Response(200, headers={"Link": f'</items?after={cursor + 1}>; rel="next"'})

    script = Script(answer)
    auth = ApiKeyAuth(KEY, "env", param="apikey")
    with client_for(script, sleeps, auth=auth) as client:
        statuses = list(_pages(client, "https://h/items", {}, NextLinkPaginator(), max_pages=3))
    assert statuses == [200, 200, 200]
    assert [r.url.params.get("after") for r in script.requests] == [None, "1", "2"]
    assert {r.url.params["apikey"] for r in script.requests} == {KEY}  # re-applied per page


def test_a_304_first_page_ends_paging(sleeps: list[float]) -> None:
    script = Script(httpx.Response(304))
    with client_for(script, sleeps) as client:
        statuses = list(
            _pages(client, "https://f/obs", {}, OffsetPaginator(2), validators=Validators("e"))
        )
    assert statuses == [304]


# --- rate limit --------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_token_bucket_spaces_requests_on_a_fake_clock() -> None:
    clock = FakeClock()
    bucket = TokenBucket(60, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(10):
        bucket.acquire()
        stamps.append(clock.now)
    assert stamps == pytest.approx([float(i) for i in range(10)])


def test_token_bucket_burst_then_steady_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(120, burst=3, clock=clock, sleep=clock.sleep)  # FRED: 120/minute
    stamps = []
    for _ in range(7):
        bucket.acquire()
        stamps.append(clock.now)
    assert stamps == pytest.approx([0, 0, 0, 0.5, 1.0, 1.5, 2.0])
    clock.now += 60  # idle: refills to the burst, never beyond
    for _ in range(4):
        bucket.acquire()
    assert clock.now == pytest.approx(62.5)


def test_client_waits_for_the_bucket_before_every_attempt(sleeps: list[float]) -> None:
    clock = FakeClock()
    script = Script(httpx.Response(500), httpx.Response(200))
    client = PullClient(
        "cpi",
        retry=RetryPolicy(attempts=3, base_s=0.0, cap_s=0.0),
        bucket=TokenBucket(30, clock=clock, sleep=clock.sleep),
        transport=httpx.MockTransport(script),
        sleep=clock.sleep,
    )
    with client:
        client.get("https://api.example.com/x")
        client.get("https://api.example.com/x")
    assert len(script.requests) == 3
    assert clock.now == pytest.approx(4.0)  # 3 requests at 30/minute: t = 0, 2, 4
