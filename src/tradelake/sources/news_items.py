"""What every news producer needs: publication times, plain text, canonical URLs, story ids.

Kept apart from the producer formats in :mod:`tradelake.sources.news` because these rules are
the dedup contract of ``news_raw``: two feeds agree on a story only if they agree here.

- Times: RSS 2.0 ``pubDate`` is RFC 822 (``Tue, 03 Nov 2026 09:30:00 EST``; zone names ``UT``,
  ``GMT``, ``Z``, ``EST/EDT``, ``CST/CDT``, ``MST/MDT``, ``PST/PDT`` are RFC 822's; ``-0000``
  means UTC with no local zone, RFC 5322 §3.3). Feeds also send a few European/Asian zone
  names and ISO 8601 in ``pubDate``; Atom is RFC 3339. A time without any zone is read in the
  feed's configured zone; an unknown zone name is not guessed (the row is quarantined).
- Text: descriptions carry HTML, often entity-escaped inside the XML; ``html.parser`` turns it
  into plain text (script/style dropped, entities resolved, whitespace collapsed).
- Story ids: UUIDv5 of the canonical URL (scheme, ``www.``, fragment, tracking parameters and
  a trailing slash removed; query sorted), else of the feed's guid, else of headline + time.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Zone names seen in real feeds beyond RFC 822's US set (fixed offsets, hours).
EXTRA_ZONES: dict[str, float] = {
    "CET": 1, "CEST": 2, "BST": 1, "WET": 0, "WEST": 1, "EET": 2, "EEST": 3, "MSK": 3,
    "JST": 9, "KST": 9, "HKT": 8, "SGT": 8, "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13,
    "HST": -10, "AKST": -9, "AKDT": -8,
}  # fmt: skip
TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|mc_cid|mc_eid|cmpid|ncid|ocid|ref|refsrc|src|rss|"
    r"feedtype|guccounter|guce_referrer\w*|soc_src|soc_trk|taid|yptr|__twitter_impression)$",
    re.IGNORECASE,
)
STORY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "news.tradelake")
_SPACE = re.compile(r"\s+")
_SKIPPED_TAGS = {"script", "style", "head", "title"}
_BLOCK_TAGS = {"p", "br", "div", "li", "tr", "td", "h1", "h2", "h3", "h4", "h5", "h6", "hr"}


def rfc822_time(text: str, default_zone: tzinfo = UTC) -> datetime | None:
    """UTC time of an RSS ``pubDate`` (or ISO 8601 found there); None if not readable."""
    clean = _SPACE.sub(" ", text.strip())
    try:
        stamp = parsedate_to_datetime(clean)
    except (TypeError, ValueError, IndexError):
        return iso_time(clean, default_zone)
    if stamp.tzinfo is None:
        tail = clean.rsplit(" ", 1)[-1].upper()
        if tail == "-0000":
            stamp = stamp.replace(tzinfo=UTC)
        elif tail in EXTRA_ZONES:
            stamp = stamp.replace(tzinfo=timezone(timedelta(hours=EXTRA_ZONES[tail])))
        elif ":" in tail:  # no zone at all: the feed's configured zone
            stamp = stamp.replace(tzinfo=default_zone)
        else:
            return None
    return stamp.astimezone(UTC)


def iso_time(text: str, default_zone: tzinfo = UTC) -> datetime | None:
    """UTC time of an RFC 3339 / ISO 8601 stamp (``Z``, offsets, fractions); None if not one."""
    try:
        stamp = datetime.fromisoformat(text.strip().upper().replace(" ", "T", 1))
    except ValueError:
        return None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=default_zone)).astimezone(UTC)


def epoch_time(value: object) -> datetime | None:
    """UTC time of epoch seconds (Finnhub); None for missing, zero or non-numbers."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS and self._skipping:
            self._skipping -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def plain_text(html: str | None) -> str | None:
    """``html`` as one line of plain text; None when nothing readable is left."""
    if html is None:
        return None
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    text = _SPACE.sub(" ", "".join(extractor.parts)).strip()
    return text or None


def canonical_url(url: str | None) -> str | None:
    """The story URL two feeds agree on; None when ``url`` is not an http(s) URL."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().removeprefix("www.")
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    path = parts.path.rstrip("/") or "/"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = sorted((k, v) for k, v in pairs if not TRACKING_PARAMS.match(k))
    return urlunsplit(("https", host, path, urlencode(query), ""))


def story_uuid(
    url: str | None, guid: str | None, headline: str | None, published: datetime | None
) -> str:
    """Stable story id: canonical URL, else guid, else normalised headline + publication time."""
    canonical = canonical_url(url)
    if canonical:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, canonical))
    if guid:
        return str(uuid.uuid5(STORY_NAMESPACE, f"guid:{guid.strip()}"))
    words = _SPACE.sub(" ", (headline or "").casefold()).strip()
    when = published.isoformat() if published else ""
    return str(uuid.uuid5(STORY_NAMESPACE, f"story:{words}|{when}"))


def ticker_list(value: object) -> str | None:
    """Comma-joined, sorted, upper-case tickers from ``"AAPL,msft"`` or a list; None if none."""
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else []
    tickers = sorted({str(t).strip().upper() for t in items if str(t).strip()})
    return ",".join(tickers) or None


# Aggregators name themselves where the publisher belongs (Google News RSS channels are titled
# '"AAPL" - Google News'; Finnhub's links all point at finnhub.io): never a story's publisher.
AGGREGATOR_NAMES = ("google news",)
AGGREGATOR_HOSTS = frozenset({"news.google.com", "finnhub.io"})
_DOMAIN = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)+(?:[/:?#]\S*)?$", re.IGNORECASE)


def site_name(url: str | None) -> str | None:
    """``reuters.com`` from ``https://www.reuters.com/markets/...`` (or from a bare domain)."""
    text = (url or "").strip()
    if not text:
        return None
    if "://" not in text:
        text = f"https://{text}"
    host = (urlsplit(text).hostname or "").lower().removeprefix("www.")
    return host or None


def publisher_name(name: str | None, url: str | None) -> str | None:
    """The story's publisher: the producer's name unless it is a URL or an aggregator.

    A URL or bare domain as the name becomes its site (``reuters.com``); an aggregator's name
    (``Google News``) or host falls back to the site of the story's ``url``; None when the only
    candidate left is an aggregator (a Finnhub link that could not be resolved).
    """
    text = " ".join((name or "").split())
    if text.lower().startswith(("http://", "https://")) or _DOMAIN.match(text):
        text = site_name(text) or ""
    if text and not _is_aggregator(text):
        return text
    site = site_name(url)
    return site if site and not _is_aggregator(site) else None


def _is_aggregator(text: str) -> bool:
    folded = text.casefold()
    return folded in AGGREGATOR_HOSTS or any(name in folded for name in AGGREGATOR_NAMES)
