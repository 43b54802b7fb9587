"""Every feed kind, with its production parser, pulled from a server on 127.0.0.1 by the test.

Each kind gets a realistic payload from :mod:`fixtures.feeds` (tens of items, messy dates,
missing markers, duplicates) behind one injected failure (500, 429 with ``Retry-After: 0``, a
response slower than the client timeout, a truncated body); the expected row counts come from
the generators' planted facts. Then: a second pull stages nothing twice, an invalid payload of
every kind is landed and quarantined while other feeds go on, the feature store serves the
rows, and a FRED revision is a new vintage that point-in-time reads see only once learned.
The server, fixtures and helpers are :mod:`fixtures.feed_server`'s.
"""

from __future__ import annotations

import gzip
import json
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

import tradelake.features.markets  # noqa: F401  (registers the market feature tables)
from fixtures import feeds as payloads
from fixtures.feed_server import KEY_ENV, TINY, FeedServer, Reply, feed, pull_one
from tradelake.features import FeatureStore
from tradelake.features.markets import macro_as_of
from tradelake.jobs.feed_state import FeedStateStore
from tradelake.jobs.feeds import FeedConfig
from tradelake.jobs.ingest import IngestEnv
from tradelake.jobs.pull import PullOptions, PullResult, pull_all

EXPIRY = date(2026, 12, 18)


@dataclass(frozen=True)
class Case:
    """One kind: where it is served, its payload and what staging must hold afterwards."""

    kind: str
    path: str
    body: bytes
    rows: int  # staged rows (duplicates inside the payload collapse to one)
    reasons: tuple[str, ...]  # one per row the validators refused (bad dates, crossed quotes)
    table: str  # staging table; its feature-store table is the name without ``_raw``
    options: dict[str, Any] = field(default_factory=dict)
    published: dict[str, datetime] = field(default_factory=dict)  # news: planted times
    nulls: int = 0  # macro: observations the producer marked missing
    spot: float = 0.0  # options: underlying price the chain was generated at
    underlying: str = ""


def _repeat_line(body: bytes, index: int) -> bytes:
    """``body`` with its line ``index`` sent once more at the end (a duplicate row)."""
    return body + body.splitlines()[index] + b"\n"


def _news(kind: str, path: str, made: tuple[bytes, payloads.NewsFacts], **opts: Any) -> Case:
    body, facts = made
    why = ("unparseable published",) * len(facts.bad_dates)
    return Case(kind, path, body, len(facts.published), why, "news_raw", opts, facts.published)


def _cases() -> dict[str, Case]:
    gdp, facts = payloads.fred_json("GDP", n=24)  # ALFRED vintages, "." markers, a repeated row
    first, revised, missing = facts["first"], facts["revised"], facts["missing"]
    assert isinstance(first, dict) and isinstance(revised, dict) and isinstance(missing, list)
    vintages = len(first) + sum(len(starts) - 1 for starts, _ in revised.values())
    missing_rows = sum(len(revised[d][0]) if d in revised else 1 for d in missing)

    unrate = _repeat_line(payloads.fred_graph_csv(("UNRATE",), n=30), 5)
    unrate_missing = sum(
        line.split(b",")[1] in (b".", b"") for line in unrate.splitlines()[1:-1]
    )  # the header and the repeated line excluded
    desk = payloads.macro_csv_european(n=24)  # + "31.13.2025", "n/a" and "abc" rows
    desk_options = {
        "date_column": "Stichtag",
        "value_column": "Wert",
        "series_id": "DESK_IDX",
        "decimal": ",",
        "date_format": "%d.%m.%Y",
        "missing": ["n/a", ""],
    }

    aapl = payloads.chain("AAPL", 230.0, (EXPIRY,))
    spx = payloads.chain("SPXW", 5800.0, (EXPIRY,), step=25.0)
    cboe = json.loads(payloads.cboe(spx, 5800.0, percent_iv=True))
    quotes = cboe["data"]["options"]
    quotes.append(dict(quotes[3]))  # the same quote twice: one row
    quotes.append({**quotes[4], "bid": quotes[4]["bid"] + 1})  # same contract, other bid
    msft = payloads.chain("MSFT", 420.0, (EXPIRY,))
    bad_tradier = tuple(payloads.TRADIER_BAD.values())
    return {
        "fred": Case("fred", "/fred/series/observations", gdp, vintages, (), "macro_raw",
                     {"series_id": "GDP"}, nulls=missing_rows),
        "fred_csv": Case("fred_csv", "/graph/fredgraph.csv", unrate, 30,
                         ("unparseable observation_date '2023-13-01'",), "macro_raw",
                         {"series_id": "UNRATE"}, nulls=unrate_missing),
        "csv": Case("csv", "/desk/index.csv", desk, 24 + 1, ("'31.13.2025'", "value 'abc'"),
                    "macro_raw", desk_options, nulls=1),  # the n/a row stays, value NULL
        "rss": _news("rss", "/rss", payloads.rss(n=30)),
        "atom": _news("atom", "/atom", payloads.atom(n=12)),
        "finnhub": _news("finnhub", "/api/v1/news", payloads.finnhub(n=30), category="general"),
        "newsapi": _news("newsapi", "/v2/everything", payloads.newsapi(n=20), q="fed"),
        "tradier": Case("tradier", "/v1/markets/options/chains", payloads.tradier(aapl),
                        len(aapl) - len(bad_tradier), bad_tradier, "options_raw",
                        {"symbol": "AAPL"},
                        spot=230.0, underlying="AAPL"),
        "cboe": Case("cboe", "/api/global/delayed_quotes/options/_SPX.json",
                     json.dumps(cboe).encode(), len(spx), ("duplicate symbol/quote_ts",),
                     "options_raw", spot=5800.0,
                     underlying="SPX"),
        "options_csv": Case("options_csv", "/options/msft.csv",
                            _repeat_line(payloads.options_csv(msft), 7), len(msft), (),
                            "options_raw", spot=420.0, underlying="MSFT"),
    }  # fmt: skip


CASES = _cases()
KEYED = {"fred", "finnhub", "newsapi", "tradier"}
# One failure per kind, before the good answer; every failure is used on two or three kinds.
FAILURES = dict(zip(CASES, ["500", "429", "slow", "truncated"] * 3, strict=False))


def failing(failure: str, body: bytes) -> Reply:
    if failure == "500":
        return Reply(500, b"upstream timed out")
    if failure == "429":
        return Reply(429, b"slow down", headers={"Retry-After": "0"})
    if failure == "slow":
        return Reply(body=body, delay_s=1.2)  # the feed's timeout is 0.4 s
    return Reply(body=body, truncate_to=len(body) // 2)


def case_feed(case: Case, url: str, name: str | None = None, **extra: Any) -> FeedConfig:
    key = {"api_key_env": KEY_ENV} if case.kind in KEYED else {}
    return feed(name or case.kind.replace("_", "-"), case.kind, url, **key, **case.options, **extra)


def _story(url: str, case: Case) -> str:
    return url if url in case.published else url.split("?")[0]


def refreshed(env: IngestEnv, home: Path) -> closing[duckdb.DuckDBPyConnection]:
    """Refresh the feature store of ``home`` and open it read-only, as an analyst would."""
    features = FeatureStore(home / "features.duckdb", env.staging, env.instruments)
    features.refresh()
    return closing(features.connect(read_only=True))


def query(con: duckdb.DuckDBPyConnection, sql: str, *params: object) -> list[tuple[Any, ...]]:
    return con.execute(sql, list(params)).fetchall()


@pytest.mark.parametrize("kind", list(CASES))
def test_every_kind_stages_its_payload_once_behind_a_failure(
    kind: str,
    real_env: IngestEnv,
    states: FeedStateStore,
    server: FeedServer,
    fast: PullOptions,
    sleeps: list[float],
    home: Path,
) -> None:
    case, failure = CASES[kind], FAILURES[kind]
    url = server.route(case.path, failing(failure, case.body), Reply(body=case.body))
    cfg = case_feed(case, url, timeout_s=0.4 if failure == "slow" else 5)

    first = pull_one(real_env, cfg, states, options=fast)

    assert (first.status, first.pages, first.landed) == ("ok", 1, 1), first.error or first.rejected
    assert (first.rows, first.quarantined) == (case.rows, len(case.reasons))
    assert len(server.hits(case.path)) == 2  # the failure, then the good answer
    if failure == "429":
        assert sleeps[0] == 0.0  # Retry-After: 0 is honoured, not our backoff
    else:
        assert TINY.base_s / 2 <= sleeps[0] <= TINY.base_s  # our backoff, jittered
    # Then the provider's rate limit spaces the retry (FRED 120/min, ...): recorded, not slept.
    assert len(sleeps) == (2 if cfg.effective_rate_limit else 1)
    staged = real_env.staging.read(case.table)
    quarantined = real_env.staging.quarantined(case.table)
    reasons = quarantined["reason"].to_list() if quarantined.height else []
    assert staged.height == case.rows
    assert len(reasons) == len(case.reasons)
    assert all(any(why in reason for reason in reasons) for why in case.reasons), reasons

    again = pull_one(real_env, cfg, states, options=fast)

    assert (again.status, again.landed, again.rows, again.quarantined) == ("ok", 0, 0, 0)
    assert real_env.staging.read(case.table).equals(staged)  # nothing staged twice
    assert real_env.staging.quarantined(case.table).height == len(reasons)
    assert states.load(cfg.name).rows_staged_total == case.rows

    with refreshed(real_env, home) as con:
        check_features(con, case, cfg.name)


def check_features(con: duckdb.DuckDBPyConnection, case: Case, feed_name: str) -> None:
    ((count,),) = query(con, f"SELECT count(*) FROM {case.table.removesuffix('_raw')}")
    assert count == case.rows
    if case.table == "macro_raw":
        ((nulls,),) = query(con, "SELECT count(*) FROM macro WHERE value IS NULL")
        assert nulls == case.nulls  # missing markers are rows with a NULL value
    elif case.table == "news_raw":
        rows = query(con, "SELECT url, published, feed FROM news")
        # RSS facts name stories by link without tracking parameters; the rest by their URL.
        times = {_story(url, case): ts.astimezone(UTC) for url, ts, _ in rows}
        assert times == case.published  # zone names, offsets and epochs read right
        assert {name for _, _, name in rows} == {feed_name}
        ((stories,),) = query(
            con, "SELECT sum(stories) FROM news_sentiment_daily WHERE ticker IS NULL"
        )
        assert stories == case.rows
    else:
        ((rows_of_chain,),) = query(
            con, "SELECT count(*) FROM options WHERE underlying = ?", case.underlying
        )
        assert rows_of_chain == case.rows
        chains = query(con, "SELECT underlying, quote_ts, atm_iv FROM option_chain_features")
        assert [(u, ts.astimezone(UTC)) for u, ts, _ in chains] == [
            (case.underlying, payloads.SNAPSHOT)
        ]
        planted = payloads.smile(case.spot, case.spot, payloads.years_to(EXPIRY))
        assert chains[0][2] == pytest.approx(planted, abs=0.002)  # ATM IV of the smile


BAD: dict[str, tuple[bytes, str]] = {
    "fred": (payloads.truncated(CASES["fred"].body), "is not JSON"),
    "fred_csv": (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "lacks the observation"),
    "csv": (b"\xff\xfe\x00S\x00t\x00i\x00c\x00h\x00\n\x80\x81", "is not CSV"),
    "rss": (payloads.INVALID_XML, "is not well-formed XML"),
    "atom": (payloads.ENTITY_BOMB, "declares XML entities"),
    "finnhub": (payloads.truncated(CASES["finnhub"].body), "is not JSON"),
    "newsapi": (b'{"status": "ok", "articles": [{"title": "x",', "is not JSON"),
    "tradier": (b"<html>Down for maintenance</html>", "is not JSON"),
    "cboe": (payloads.truncated(CASES["cboe"].body, 0.3), "is not JSON"),
    "options_csv": (b"contractSymbol,bid,ask\nAAPL261218C00230000,1.0,1.1,9,9\n", "is not CSV"),
}


def test_invalid_payloads_of_every_kind_are_landed_and_quarantined(
    real_env: IngestEnv, states: FeedStateStore, server: FeedServer, fast: PullOptions, home: Path
) -> None:
    bad = [
        case_feed(CASES[kind], server.route(f"/bad/{kind}", Reply(body=body)), f"bad-{kind}")
        for kind, (body, _) in BAD.items()
    ]
    rss, tradier = CASES["rss"], CASES["tradier"]
    good_news = case_feed(rss, server.route("/good/rss", Reply(body=rss.body)), "good-news")
    good_chain = case_feed(tradier, server.route("/good/tr", Reply(body=tradier.body)), "chain")
    feeds = [good_news, *bad[:5], good_chain, *bad[5:]]

    results = {r.feed: r for r in pull_all(real_env, feeds, states, options=fast)}

    assert (results["good-news"].status, results["good-news"].rows) == ("ok", rss.rows)
    assert (results["chain"].status, results["chain"].rows) == ("ok", tradier.rows)
    quarantine = home / "staging" / "_quarantine" / "_files"
    for cfg, (kind, (body, why)) in zip(bad, BAD.items(), strict=True):
        result = results[cfg.name]
        assert (result.status, result.landed, result.rows) == ("rejected", 1, 0), result.error
        (reason,) = result.rejected
        assert why in reason and f"bad-{kind}-1" in reason
        (landed,) = [
            o for o in real_env.landing.list(cfg.source) if o.attributes["feed"] == cfg.name
        ]
        assert real_env.landing.get(landed.landing_id) == body  # landed byte for byte
        recorded = json.loads((quarantine / f"{landed.landing_id}.json").read_text())
        assert (recorded["reason"], recorded["source"]) == (reason, cfg.source)
    assert real_env.staging.read("macro_raw").height == 0  # nothing of a rejected payload
    assert len(list(quarantine.glob("*.json"))) == len(BAD)

    again = pull_all(real_env, feeds, states, options=fast)

    assert [(r.status, r.landed, r.rows) for r in again] == [
        ("ok", 0, 0) if r.feed in ("good-news", "chain") else ("rejected", 0, 0) for r in again
    ]  # same bytes: landed once, quarantined once
    assert len(list(quarantine.glob("*.json"))) == len(BAD)
    assert (states.load("bad-fred").last_error or "").startswith("payload rejected and quar")


def _revise(body: bytes, obs: date, start: date, value: float, closes: bool) -> bytes:
    """A revision of ``obs`` opening a new vintage; ALFRED also closes the open one."""
    data = json.loads(body)
    for row in data["observations"]:
        if closes and row["date"] == obs.isoformat() and row["realtime_end"] == "9999-12-31":
            row["realtime_end"] = (start - timedelta(days=1)).isoformat()
    data["observations"].append(
        {"realtime_start": start.isoformat(), "realtime_end": "9999-12-31",
         "date": obs.isoformat(), "value": f"{value:.1f}"}
    )  # fmt: skip
    data["count"] = len(data["observations"])
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    "closes",
    [
        False,
        True,
    ],
    ids=["new-vintage-only", "alfred-closes-the-old-vintage"],
)
def test_a_fred_revision_is_a_new_vintage_seen_only_once_learned(
    closes: bool,
    real_env: IngestEnv,
    states: FeedStateStore,
    server: FeedServer,
    fast: PullOptions,
    home: Path,
) -> None:
    case = CASES["fred"]
    obs = max(date.fromisoformat(row["date"]) for row in json.loads(case.body)["observations"])
    revised = _revise(case.body, obs, date(2020, 1, 2), 99_999.9, closes)
    url = server.route(case.path, Reply(body=case.body), Reply(body=revised))
    cfg = case_feed(case, url)

    first = pull_one(real_env, cfg, states, options=fast)
    update = pull_one(real_env, cfg, states, options=fast)

    assert (first.rows, update.status, update.landed) == (case.rows, "ok", 1)
    assert update.rows == 1 + closes  # the new vintage (+ the old one, closed: a new version)
    staged = real_env.staging.read("macro_raw").filter(pl.col("observation_date") == obs)
    learned = sorted(set(staged["learned_ts"]))
    assert len(learned) == 2 and learned[0] < learned[1]
    old_value = staged.filter(pl.col("learned_ts") == learned[0]).sort("realtime_start")["value"]
    tick = timedelta(microseconds=1)
    with refreshed(real_env, home) as con:
        ((count,),) = query(con, "SELECT count(*) FROM macro")
        before = macro_as_of(con, "GDP", learned[1] - tick, observation_date=obs)
        after = macro_as_of(con, "GDP", learned[1], observation_date=obs)
        assert macro_as_of(con, "GDP", learned[0] - tick) is None  # nothing known yet
        ((latest,),) = query(con, "SELECT value FROM macro_latest WHERE observation_date = ?", obs)
    assert count == case.rows + 1
    assert before is not None and after is not None
    assert (before.value, before.learned_ts) == (old_value[-1], learned[0])
    assert (after.value, after.realtime_start, after.learned_ts) == (
        99_999.9,
        date(2020, 1, 2),
        learned[1],
    )
    assert latest == 99_999.9


def _gzip_cut(csv: bytes) -> bytes:
    return gzip.compress(csv)[:40]  # a gzip file cut short, sent without Content-Encoding


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("tradier", b'{"options": {"option": "maintenance"}}'),
        ("newsapi", b'{"status": "ok", "totalResults": 1, "articles": [{"title": "t", '
                    b'"url": "https://w.example/1", "publishedAt": 1795000000}]}'),
        ("fred_csv", _gzip_cut(payloads.fred_graph_csv(n=30))),
        ("options_csv", _gzip_cut(payloads.options_csv(payloads.chain()[:20]))),
    ],
    ids=["tradier-option-string", "newsapi-epoch-date", "fred_csv-cut-gzip", "options-cut-gzip"],
)  # fmt: skip
def test_wrongly_shaped_payloads_are_quarantined_too(
    kind: str,
    body: bytes,
    real_env: IngestEnv,
    states: FeedStateStore,
    server: FeedServer,
    fast: PullOptions,
    home: Path,
) -> None:
    cfg = case_feed(CASES[kind], server.route("/odd", Reply(body=body)))
    result: PullResult = pull_one(real_env, cfg, states, options=fast)
    (landed,) = real_env.landing.list(cfg.source)
    assert result.status == "rejected", result.error
    quarantined = home / "staging" / "_quarantine" / "_files" / f"{landed.landing_id}.json"
    assert json.loads(quarantined.read_text())["reason"] == result.rejected[0]
