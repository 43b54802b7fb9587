"""News from RSS 2.0, Atom, Finnhub and NewsAPI → ``news_raw``, scored at parse time.

Producer facts this module relies on:

- RSS 2.0: ``channel/item`` with ``title``, ``link``, ``description`` (HTML, usually escaped),
  ``pubDate`` (RFC 822, optional!), ``guid`` (optional, ``isPermaLink`` defaults to true, and
  some feeds repeat one guid for every item). ``dc:date`` and ``content:encoded`` are common
  extensions. RSS 1.0 (RDF) items are read the same way. An item without a date takes the
  channel's ``pubDate``/``lastBuildDate``.
- Atom (RFC 4287): ``entry`` with ``id``, ``title``, ``link rel="alternate" href`` (a link with
  no ``rel`` is alternate), ``published``/``updated`` (RFC 3339), ``summary``/``content``.
- Finnhub ``/company-news``: a JSON list of ``{category, datetime (epoch s), headline, id,
  image, related, source, summary, url}``; ``related`` is the ticker(s). ``url`` is usually
  Finnhub's redirect (``https://finnhub.io/api/news?id=...``), which the pull job resolves to
  the article (:mod:`tradelake.jobs.provider_lookups`) and records in the option
  ``resolved_urls`` (redirect → article), so the story merges with other feeds' copies.
- Google News RSS titles its channel ``"..." - Google News`` and names the real publisher in
  each item's ``<source url="...">Reuters</source>`` (RSS 2.0's ``source`` element).
- NewsAPI ``/v2/everything``: ``{"status": "ok", "totalResults", "articles": [{"source": {"id",
  "name"}, "author", "title", "description", "url", "urlToImage", "publishedAt", "content"}]}``;
  ``content`` is cut at 200 characters with a ``[+N chars]`` marker; ``status: "error"`` carries
  ``code`` and ``message``.

XML is read with the standard library's expat, which never fetches external entities; a payload
that declares entities (the "billion laughs" shape) is refused outright. ``sentiment`` and
``sentiment_label`` are the feed's ``sentiment_model`` (default: the trained ``tfns_linear``,
:mod:`tradelake.ml.sentiment`; ``lexicon`` is the fallback) on headline + body, stamped with
``scored_ts``. ``tickers`` come from the producer (Finnhub) or the feed option ``tickers`` (a
feed per symbol); ``feed`` is the feed option ``feed`` or the part of the source after ``:``.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from tradelake.errors import SourceFormatError
from tradelake.sources.base import ParseContext, ParseResult, register_parser
from tradelake.sources.feed_tables import NEWS_RAW
from tradelake.sources.news_items import (
    epoch_time,
    iso_time,
    plain_text,
    publisher_name,
    rfc822_time,
    story_uuid,
    ticker_list,
)
from tradelake.staging.feed_checks import TEXT_SUFFIX, check_rows, collapse_duplicates
from tradelake.staging.quarantine import Quarantine

Item = dict[str, Any]
DC = "{http://purl.org/dc/elements/1.1/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
_PAGE_SUFFIX = re.compile(r"-\d+$")
_NEWSAPI_CUT = re.compile(r"\s*(?:…|\.\.\.)?\s*\[\+\d+ chars\]\s*$")


@register_parser("rss", suffixes=(), content_type="application/rss+xml")
def parse_rss(data: bytes, name: str, ctx: ParseContext) -> ParseResult:
    """RSS 2.0 / 1.0 (an Atom body under an ``rss`` feed is read as Atom)."""
    root = _xml(data, name, ctx)
    if _local(root.tag) == "feed":
        return _finish(_atom_items(root, ctx), name, ctx, [f"{name}: Atom body on an rss feed"])
    if _local(root.tag) not in ("rss", "RDF"):
        raise _format_error(name, ctx, f"has root <{_local(root.tag)}>, not <rss>")
    return _finish(_rss_items(root, ctx), name, ctx)


@register_parser("atom", suffixes=(), content_type="application/atom+xml")
def parse_atom(data: bytes, name: str, ctx: ParseContext) -> ParseResult:
    """Atom 1.0 feeds (an RSS body under an ``atom`` feed is read as RSS)."""
    root = _xml(data, name, ctx)
    if _local(root.tag) in ("rss", "RDF"):
        return _finish(_rss_items(root, ctx), name, ctx, [f"{name}: RSS body on an atom feed"])
    if _local(root.tag) != "feed":
        raise _format_error(name, ctx, f"has root <{_local(root.tag)}>, not <feed>")
    return _finish(_atom_items(root, ctx), name, ctx)


@register_parser("finnhub", suffixes=(), content_type="application/json")
def parse_finnhub(data: bytes, name: str, ctx: ParseContext) -> ParseResult:
    """Finnhub company news (a JSON list; ``{"error": ...}`` on a bad key or symbol)."""
    body = _json(data, name, ctx)
    if isinstance(body, dict) and "error" in body:
        raise _format_error(name, ctx, f"is Finnhub error: {body['error']}")
    if not isinstance(body, list):
        raise _format_error(name, ctx, "is not a JSON list of news items")
    resolved = ctx.options.get("resolved_urls") or {}
    items = [
        {
            "guid": f"finnhub:{a['id']}" if a.get("id") is not None else None,
            "headline": a.get("headline"),
            "body": a.get("summary"),
            "published": epoch_time(a.get("datetime")),
            "published__text": _text(a.get("datetime")),
            "url": resolved.get(a.get("url"), a.get("url")),
            "tickers": ticker_list(a.get("related")) or _feed_tickers(ctx),
            "publisher": a.get("source"),
        }
        for a in body
        if isinstance(a, dict)
    ]
    return _finish(items, name, ctx)


@register_parser("newsapi", suffixes=(), content_type="application/json")
def parse_newsapi(data: bytes, name: str, ctx: ParseContext) -> ParseResult:
    """NewsAPI ``/v2/everything`` or ``/v2/top-headlines``."""
    body = _json(data, name, ctx)
    if not isinstance(body, dict) or "status" not in body:
        raise _format_error(name, ctx, "has no NewsAPI 'status'")
    if body["status"] != "ok":
        code, message = body.get("code", "error"), body.get("message", "no message")
        raise _format_error(name, ctx, f"is NewsAPI error {code}: {message}")
    articles = [a for a in body.get("articles") or [] if isinstance(a, dict)]
    items = [
        {
            "guid": None,
            "headline": a.get("title"),
            "body": a.get("description") or _NEWSAPI_CUT.sub("", a.get("content") or ""),
            "published": iso_time(a.get("publishedAt") or "", _zone(ctx)),
            "published__text": _text(a.get("publishedAt")),
            "url": a.get("url"),
            "tickers": _feed_tickers(ctx),
            "publisher": (a.get("source") or {}).get("name"),
        }
        for a in articles
    ]
    return _finish(items, name, ctx)


def _rss_items(root: ET.Element, ctx: ParseContext) -> list[Item]:
    channel = next((e for e in root.iter() if _local(e.tag) == "channel"), root)
    default_text = _child_text(channel, "pubDate", "lastBuildDate", f"{DC}date")
    zone = _zone(ctx)
    items: list[Item] = []
    for node in (e for e in root.iter() if _local(e.tag) == "item"):
        guid_node = _child(node, "guid")
        guid = (guid_node.text or "").strip() if guid_node is not None else ""
        permalink = guid_node is not None and guid_node.get("isPermaLink", "true") == "true"
        link = _child_text(node, "link") or (
            guid if permalink and guid.startswith("http") else None
        )
        stamp_text = _child_text(node, "pubDate", f"{DC}date") or default_text
        items.append(
            {
                "guid": guid or None,
                "headline": _child_text(node, "title"),
                "body": _child_text(node, "description", f"{CONTENT}encoded"),
                "published": rfc822_time(stamp_text, zone) if stamp_text else None,
                "published__text": stamp_text,
                "url": link,
                "tickers": _feed_tickers(ctx),
                "publisher": _item_source(node) or _child_text(channel, "title"),
            }
        )
    return _unique_guids(items)


def _item_source(item: ET.Element) -> str | None:
    """RSS 2.0 ``<source url="...">Name</source>``: the item's own publisher (Google News)."""
    node = _child(item, "source")
    if node is None:
        return None
    return "".join(node.itertext()).strip() or node.get("url")


def _atom_items(root: ET.Element, ctx: ParseContext) -> list[Item]:
    zone = _zone(ctx)
    publisher = _child_text(root, "title")
    items: list[Item] = []
    for entry in (e for e in root if _local(e.tag) == "entry"):
        links = [e for e in entry if _local(e.tag) == "link"]
        alternate = [e.get("href") for e in links if e.get("rel", "alternate") == "alternate"]
        stamp_text = _child_text(entry, "published", "updated")
        items.append(
            {
                "guid": _child_text(entry, "id"),
                "headline": _child_text(entry, "title"),
                "body": _child_text(entry, "summary", "content"),
                "published": iso_time(stamp_text, zone) if stamp_text else None,
                "published__text": stamp_text,
                "url": next((h for h in alternate if h), None),
                "tickers": _feed_tickers(ctx),
                "publisher": publisher,
            }
        )
    return _unique_guids(items)


def _unique_guids(items: list[Item]) -> list[Item]:
    """Drop guids a feed repeats across different items: they identify nothing."""
    counts = Counter(i["guid"] for i in items if i["guid"])
    return [{**i, "guid": None} if counts[i["guid"]] > 1 else i for i in items]


def feed_name(name: str, ctx: ParseContext) -> str | None:
    """The ``[[feeds]]`` name: option ``feed``, else the ``rss:<name>`` source suffix, else the
    landed name as the pull job writes it (``<feed>-<page>.<ext>``), else the source."""
    explicit = ctx.options.get("feed") or ctx.source.partition(":")[2]
    if explicit:
        return str(explicit)
    stem = _PAGE_SUFFIX.sub("", PurePosixPath(name).stem) if name else ""
    return stem or ctx.source or None


def _finish(
    items: list[Item], name: str, ctx: ParseContext, notes: Iterable[str] = ()
) -> ParseResult:
    quarantine = Quarantine(NEWS_RAW.name)
    headlines = [plain_text(i["headline"]) for i in items]
    bodies = [plain_text(i["body"]) for i in items]
    from tradelake.ml.sentiment import (  # the models load only for news
        DEFAULT_MODEL,
        score_and_label,
        sentiment_model,
    )

    model = sentiment_model(str(ctx.options.get("sentiment_model", DEFAULT_MODEL)))
    scores, labels = score_and_label(model, story_texts(headlines, bodies))
    scored_ts = scored_now()
    feed = feed_name(name, ctx)
    frame = pl.DataFrame(
        {
            "uuid": [
                story_uuid(i["url"], i["guid"], h, i["published"])
                for i, h in zip(items, headlines, strict=True)
            ],
            "headline": headlines,
            "body": bodies,
            "published": [i["published"] for i in items],
            f"published{TEXT_SUFFIX}": [i["published__text"] for i in items],
            "sentiment": scores,
            "sentiment_label": labels,
            "sentiment_model": [model.model_id] * len(items),
            "scored_ts": [scored_ts] * len(items),
            "url": [i["url"] for i in items],
            "tickers": [i["tickers"] for i in items],
            "publisher": [publisher_name(i["publisher"], i["url"]) for i in items],
            "feed": [feed] * len(items),
        },
        schema={**NEWS_RAW.content, f"published{TEXT_SUFFIX}": pl.Utf8},
    )
    checked = check_rows(NEWS_RAW, frame, quarantine)
    unique, more_notes = collapse_duplicates(NEWS_RAW, checked, quarantine)
    return ParseResult({NEWS_RAW.name: unique}, {NEWS_RAW.name: quarantine}, [*notes, *more_notes])


def scored_now() -> datetime:
    """When a parse scores its stories (a seam for tests of freshness)."""
    return datetime.now(UTC)


def story_texts(headlines: list[str | None], bodies: list[str | None]) -> list[str]:
    """What a model scores: headline and body joined (re-scoring uses the same text)."""
    return [". ".join(t for t in (h, b) if t) for h, b in zip(headlines, bodies, strict=True)]


def _xml(data: bytes, name: str, ctx: ParseContext) -> ET.Element:
    if b"<!ENTITY" in data:
        raise _format_error(name, ctx, "declares XML entities, which we refuse to expand")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise _format_error(name, ctx, f"is not well-formed XML ({exc}); truncated?") from exc


def _json(data: bytes, name: str, ctx: ParseContext) -> Any:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _format_error(name, ctx, f"is not JSON ({exc}); truncated?") from exc


def _local(tag: object) -> str:
    return str(tag).rpartition("}")[2]


def _child(node: ET.Element, local: str) -> ET.Element | None:
    return next((e for e in node if _local(e.tag) == local), None)


def _child_text(node: ET.Element, *tags: str) -> str | None:
    """Text of the first present child among ``tags`` (namespaced or local names)."""
    for tag in tags:
        child = node.find(tag) if tag.startswith("{") else _child(node, tag)
        if child is not None:
            text = "".join(child.itertext()).strip()
            if text:
                return text
    return None


def _feed_tickers(ctx: ParseContext) -> str | None:
    return ticker_list(ctx.options.get("tickers"))


def _zone(ctx: ParseContext) -> ZoneInfo:
    return ZoneInfo(ctx.timezone or "UTC")


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _format_error(name: str, ctx: ParseContext, what: str) -> SourceFormatError:
    return SourceFormatError(
        f"{name} ({ctx.source or 'news'}): the payload {what}; check the feed's kind and URL, "
        "then re-pull."
    )
