"""Typed feed configuration: the ``[[feeds]]`` entries of ``tradelake.toml``, checked up front.

One entry per feed::

    [[feeds]]
    name = "cpi"                       # file-safe; names the state file and RSS/CSV sources
    kind = "fred"                      # one of KINDS
    url = "https://api.stlouisfed.org/fred/series/observations"
    schedule = "30 13 * * 1-5"         # cron: 5 fields, or 6 with seconds first
    schedule_timezone = "UTC"          # zone the cron fields are read in (IANA name)
    api_key_env = "FRED_API_KEY"       # or api_key_file = "/run/secrets/fred"
    rate_limit_per_minute = 120        # defaults per provider, see PROFILES
    series_id = "CPIAUCSL"             # any other key is a kind-specific option for the parser

Pull settings are the keys in :data:`PULL_KEYS`; every other key (and an ``options`` table)
goes to the parser as ``ParseContext.options`` and is recorded with each landed object, so a
replay parses it the same way. Keys themselves are never in this file: an entry that carries
one is refused. ``url`` may name options in braces (``.../options/{symbol}.json``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from tradelake.config import Settings, validate_timezone
from tradelake.errors import ConfigError
from tradelake.jobs.feed_state import (
    Cursor,
    MaxIdCursor,
    ObservationDateCursor,
    PublishedCursor,
)
from tradelake.redaction import SENSITIVE_PARAMS
from tradelake.sources.http import (
    NextLinkPaginator,
    OffsetPaginator,
    PagePaginator,
    Paginator,
    SinglePage,
)

PAGINGS = ("none", "offset", "page", "link")
PULL_KEYS = frozenset(
    {
        "name", "kind", "url", "schedule", "schedule_timezone", "api_key_env", "api_key_file",
        "api_key_secret",
        "rate_limit_per_minute", "timeout_s", "params", "headers", "paging", "page_size",
        "max_pages", "revision_window_days", "auth_param", "auth_header", "auth_scheme",
        "options",
    }
)  # fmt: skip
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_SECRET_NAME_RE = re.compile(rf"(?i)^(?:{SENSITIVE_PARAMS})$|authorization|token|api.?key|secret")
_SECRET_IN_URL_RE = re.compile(rf"(?i)[?&;](?:{SENSITIVE_PARAMS})=")


@dataclass(frozen=True)
class KindProfile:
    """How one kind of feed is requested: provider facts in one place (one entry per kind)."""

    source: Callable[[str], str]
    auth: tuple[str | None, str | None, str] | None = None  # (query param, header, scheme)
    query_options: Mapping[str, str] = field(default_factory=dict)  # option -> query param
    fixed_params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    rate_limit_per_minute: float | None = None
    paging: str = "none"
    page_size: int = 100
    max_pages: int = 100
    cursor: Callable[[FeedConfig], Cursor] | None = None
    news: bool = False  # publication-to-scoring latency is measured (see jobs.pull)


PROFILES: dict[str, KindProfile] = {
    # FRED: key in the api_key query parameter, 120 requests/minute per key, JSON only when
    # file_type=json (XML otherwise), observations paged by offset/limit (limit <= 100000).
    "fred": KindProfile(
        source=lambda _: "fred",
        auth=("api_key", None, ""),
        query_options={"series_id": "series_id", "units": "units", "frequency": "frequency"},
        fixed_params={"file_type": "json"},
        rate_limit_per_minute=120,
        paging="offset",
        page_size=100_000,
        cursor=lambda feed: ObservationDateCursor(feed.revision_window_days),
    ),
    # fredgraph.csv downloads need no key; the series is the `id` parameter.
    "fred_csv": KindProfile(source=lambda _: "fred", query_options={"series_id": "id"}),
    "csv": KindProfile(source=lambda name: f"macro:{name}"),
    "rss": KindProfile(source=lambda name: f"rss:{name}", news=True),
    "atom": KindProfile(source=lambda name: f"rss:{name}", news=True),
    # Finnhub: X-Finnhub-Token header (keeps the key out of URLs; `token=` also works),
    # 60 calls/minute on the free tier; /news takes minId for "only newer than this id".
    "finnhub": KindProfile(
        source=lambda _: "finnhub",
        auth=(None, "X-Finnhub-Token", ""),
        query_options={"category": "category", "symbol": "symbol"},
        rate_limit_per_minute=60,
        cursor=lambda _: MaxIdCursor(),
        news=True,
    ),
    # NewsAPI: X-Api-Key header, page/pageSize (<= 100)/totalResults. The developer plan
    # refuses results past the first 100 (HTTP 426), hence one page unless max_pages is raised.
    "newsapi": KindProfile(
        source=lambda _: "newsapi",
        auth=(None, "X-Api-Key", ""),
        query_options={"q": "q", "sources": "sources", "language": "language"},
        paging="page",
        max_pages=1,
        cursor=lambda _: PublishedCursor(),
        news=True,
    ),
    # Tradier: Authorization: Bearer <token>; answers XML unless Accept asks for JSON;
    # 120 market-data requests/minute.
    "tradier": KindProfile(
        source=lambda _: "options:tradier",
        auth=(None, "Authorization", "Bearer"),
        query_options={"symbol": "symbol", "expiration": "expiration", "greeks": "greeks"},
        headers={"Accept": "application/json"},
        rate_limit_per_minute=120,
    ),
    # Cboe delayed quotes: public JSON per underlying, e.g. .../delayed_quotes/options/{symbol}.json
    "cboe": KindProfile(source=lambda _: "options:cboe"),
    "options_csv": KindProfile(source=lambda name: f"options:{name}"),
}
KINDS = tuple(PROFILES)


@dataclass(frozen=True)
class FeedConfig:
    """One validated ``[[feeds]]`` entry; see the module docstring for the keys."""

    name: str
    kind: str
    url: str
    schedule: str
    schedule_timezone: str = "UTC"
    api_key_env: str | None = None
    api_key_file: str | None = None
    api_key_secret: str | None = None
    rate_limit_per_minute: float | None = None
    timeout_s: float = 30.0
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    paging: str | None = None
    page_size: int | None = None
    max_pages: int | None = None
    revision_window_days: int = 90
    auth_param: str | None = None
    auth_header: str | None = None
    auth_scheme: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def profile(self) -> KindProfile:
        return PROFILES[self.kind]

    @property
    def source(self) -> str:
        """The landing/staging ``source`` tag (DESIGN §3): ``fred``, ``rss:<name>``, ..."""
        return self.profile.source(self.name)

    @property
    def has_key(self) -> bool:
        return bool(self.api_key_env or self.api_key_file or self.api_key_secret)

    @property
    def key_origin(self) -> str:
        """Where the key lives, for messages (names only, never the value)."""
        places = [f"secret {self.api_key_secret}" if self.api_key_secret else ""]
        places.append(f"environment variable {self.api_key_env}" if self.api_key_env else "")
        places.append(f"file {self.api_key_file}" if self.api_key_file else "")
        return " or ".join(p for p in places if p)

    @property
    def auth_style(self) -> tuple[str | None, str | None, str] | None:
        """(query param, header, scheme) the key is sent with; config overrides the profile."""
        if self.auth_param or self.auth_header:
            return (self.auth_param, self.auth_header, self.auth_scheme)
        return self.profile.auth

    @property
    def effective_rate_limit(self) -> float | None:
        return self.rate_limit_per_minute or self.profile.rate_limit_per_minute

    @property
    def pages_limit(self) -> int:
        return self.max_pages or self.profile.max_pages

    @property
    def cursor(self) -> Cursor | None:
        return self.profile.cursor(self) if self.profile.cursor else None

    def query(self) -> dict[str, str]:
        """Query parameters before paging and cursor: kind defaults, mapped options, ``params``."""
        mapped = {
            param: _text(self.options[option])
            for option, param in self.profile.query_options.items()
            if option in self.options
        }
        return {**self.profile.fixed_params, **mapped, **self.params}

    def request_headers(self) -> dict[str, str]:
        return {**self.profile.headers, **self.headers}

    def paginator(self) -> Paginator:
        paging = self.paging or self.profile.paging
        size = self.page_size or self.profile.page_size
        if paging == "offset":
            return OffsetPaginator(size)
        if paging == "page":
            return PagePaginator(size)
        return NextLinkPaginator() if paging == "link" else SinglePage()

    def options_json(self) -> str:
        """The parse options as recorded in landing attributes (stable text for replay)."""
        return json.dumps(dict(self.options), sort_keys=True, default=str)

    def next_run(self, after: datetime) -> datetime:
        """The first cron fire strictly after ``after``, read in ``schedule_timezone``, in UTC."""
        return next_fire(self.schedule, self.schedule_timezone, after)


def next_fire(schedule: str, timezone: str, after: datetime) -> datetime:
    """The first fire of cron ``schedule`` strictly after ``after``, read in ``timezone``, in
    UTC (5 fields, or 6 with seconds first); shared by ``[[feeds]]`` and ``[[jobs]]``."""
    fire = croniter(
        schedule, after.astimezone(ZoneInfo(timezone)), second_at_beginning=_has_seconds(schedule)
    ).get_next(datetime)
    return fire.astimezone(ZoneInfo("UTC"))


def valid_cron(schedule: str) -> bool:
    """Whether ``schedule`` is a cron expression :func:`next_fire` reads."""
    fields = len(schedule.split())
    return fields in (5, 6) and croniter.is_valid(schedule, second_at_beginning=fields == 6)


def load_feeds(settings: Settings) -> list[FeedConfig]:
    """Every ``[[feeds]]`` entry of the settings, validated (ConfigError names feed and key)."""
    return parse_feeds(settings.feeds)


def select_feeds(feeds: Sequence[FeedConfig], names: Sequence[str]) -> list[FeedConfig]:
    """The feeds named, in the order named (all when ``names`` is empty)."""
    if not names:
        return list(feeds)
    by_name = {feed.name: feed for feed in feeds}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        known = ", ".join(by_name) or "none"
        raise ConfigError(f"no feed named {', '.join(unknown)} in [[feeds]]; configured: {known}.")
    return [by_name[name] for name in names]


def parse_feeds(entries: Sequence[Mapping[str, Any]]) -> list[FeedConfig]:
    feeds = [parse_feed(entry, index) for index, entry in enumerate(entries, start=1)]
    seen: set[str] = set()
    for feed in feeds:
        if feed.name in seen:
            raise ConfigError(f"[[feeds]]: two feeds are named {feed.name!r}; names must differ.")
        seen.add(feed.name)
    return feeds


def parse_feed(entry: Mapping[str, Any], index: int = 1) -> FeedConfig:
    """Validate one entry; ``index`` (1-based) locates an entry whose name is missing."""
    if not isinstance(entry, Mapping):
        raise ConfigError(f"[[feeds]] entry {index} must be a table, not {entry!r}.")
    where = f"[[feeds]] {entry.get('name')!r}" if entry.get("name") else f"[[feeds]] #{index}"
    check = _Checker(entry, where)
    name = check.text("name")
    if not _NAME_RE.fullmatch(name):
        raise ConfigError(f"{where}: name must be letters, digits, '_', '.', '-' (max 64).")
    kind = check.text("kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}.")
    options = {k: v for k, v in entry.items() if k not in PULL_KEYS}
    options.update(check.table("options"))
    for key in options:
        check.not_secret(key, "an option")
    feed = FeedConfig(
        name=name,
        kind=kind,
        url=check.url(options),
        schedule=check.schedule(),
        schedule_timezone=validate_timezone(
            check.text("schedule_timezone", "UTC"), f"{where}.schedule_timezone"
        ),
        api_key_env=check.optional_text("api_key_env"),
        api_key_file=check.optional_text("api_key_file"),
        api_key_secret=check.optional_text("api_key_secret"),
        rate_limit_per_minute=check.positive("rate_limit_per_minute"),
        timeout_s=check.positive("timeout_s") or 30.0,
        params=check.strings("params"),
        headers=check.strings("headers"),
        paging=check.choice("paging", PAGINGS),
        page_size=check.positive_int("page_size"),
        max_pages=check.positive_int("max_pages"),
        revision_window_days=_default(check.positive_int("revision_window_days", True), 90),
        auth_param=check.optional_text("auth_param"),
        auth_header=check.optional_text("auth_header"),
        auth_scheme=check.text("auth_scheme", ""),
        options=options,
    )
    _check_auth(feed, where)
    return feed


def _check_auth(feed: FeedConfig, where: str) -> None:
    if feed.profile.auth and not feed.has_key:
        raise ConfigError(
            f"{where}: kind {feed.kind} needs an API key; set api_key_secret (env:NAME, "
            "file:/path or aws-sm:NAME), api_key_env (the name of an environment variable "
            "holding it) or api_key_file (a file holding it)."
        )
    if feed.has_key and feed.auth_style is None:
        raise ConfigError(
            f"{where}: kind {feed.kind} sends no key by default; set auth_param (query "
            "parameter) or auth_header (header name) to say where the key goes."
        )


class _Checker:
    """Reads one entry's keys with messages that name the feed and the key."""

    def __init__(self, entry: Mapping[str, Any], where: str) -> None:
        self.entry, self.where = entry, where

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.where}: {key} {problem}.")

    def text(self, key: str, default: str | None = None) -> str:
        value = self.entry.get(key, default)
        if not isinstance(value, str) or (default is None and not value.strip()):
            raise self.fail(key, "is required and must be a text value")
        return value.strip()

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if key in self.entry else None

    def choice(self, key: str, allowed: Sequence[str]) -> str | None:
        value = self.optional_text(key)
        if value is not None and value not in allowed:
            raise self.fail(key, f"must be one of {', '.join(allowed)}, not {value!r}")
        return value

    def positive(self, key: str) -> float | None:
        value = self.entry.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.fail(key, f"must be a positive number, not {value!r}")
        return float(value)

    def positive_int(self, key: str, allow_zero: bool = False) -> int | None:
        value = self.entry.get(key)
        if value is None:
            return None
        least = 0 if allow_zero else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise self.fail(key, f"must be a whole number >= {least}, not {value!r}")
        return value

    def table(self, key: str) -> dict[str, Any]:
        value = self.entry.get(key, {})
        if not isinstance(value, Mapping):
            raise self.fail(key, 'must be a table, e.g. {name = "value"}')
        return dict(value)

    def strings(self, key: str) -> dict[str, str]:
        table = self.table(key)
        for name in table:
            self.not_secret(name, f"a {key} entry")
        return {name: _text(value) for name, value in table.items()}

    def not_secret(self, name: str, what: str) -> None:
        if _SECRET_NAME_RE.search(name):
            raise ConfigError(
                f"{self.where}: {what} named {name!r} looks like a credential; never put keys in "
                "tradelake.toml: set api_key_env or api_key_file instead."
            )

    def url(self, options: Mapping[str, Any]) -> str:
        template = self.text("url")
        try:
            url = template.format_map(options) if "{" in template else template
        except (KeyError, ValueError, IndexError) as exc:
            raise self.fail("url", f"names an option that is not set ({exc})") from None
        if not url.startswith(("http://", "https://")):
            raise self.fail("url", f"must start with http:// or https://, not {url!r}")
        if _SECRET_IN_URL_RE.search(url):
            raise self.fail("url", "carries a key; remove it and set api_key_env or api_key_file")
        return url

    def schedule(self) -> str:
        expression = " ".join(self.text("schedule").split())
        if not valid_cron(expression):
            raise self.fail(
                "schedule",
                f"{expression!r} is not a cron expression; use 5 fields 'minute hour day month "
                "weekday' (e.g. '*/15 * * * *') or 6 with seconds first",
            )
        return expression


def _default(value: int | None, default: int) -> int:
    return default if value is None else value


def _has_seconds(schedule: str) -> bool:
    return len(schedule.split()) == 6


def _text(value: Any) -> str:
    """A TOML scalar as a query-string value (booleans lower-case, as APIs expect)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
