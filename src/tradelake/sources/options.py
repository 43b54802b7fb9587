"""Option chains from Tradier, CBOE delayed quotes and yfinance-like CSV → ``options_raw``.

Every provider is normalised to one row per contract and snapshot, keyed by the compact OCC
symbol (:mod:`tradelake.sources.occ`) and the snapshot's ``quote_ts``:

- **Tradier** ``/v1/markets/options/chains``: ``{"options": {"option": [...]}}``; ``option`` is
  a bare object when the chain has one contract and ``"options": null`` when it has none.
  ``bid_date``/``ask_date``/``trade_date`` are epoch milliseconds; ``greeks.mid_iv`` is a
  fraction. The response has no snapshot time and no underlying price: the feed option
  ``underlying_price`` sets one, or with ``underlying_quote = true`` the pull job asks Tradier's
  ``/v1/markets/quotes?symbols=X`` (``{"quotes": {"quote": {..., "last", "bid", "ask"}}}``,
  ``quote`` a list for several symbols) and records its price in that option
  (:func:`tradier_quote_price`, :mod:`tradelake.jobs.provider_lookups`).
- **CBOE delayed quotes** ``{"timestamp": "...", "data": {"symbol": "_SPX", "current_price",
  "options": [{"option": "SPXW261016C05800000", "bid", "ask", "last_trade_price", "iv", ...}]}}``;
  index symbols carry a leading ``_``; ``timestamp`` is US/Eastern wall time when it has no
  offset. ``iv`` is a fraction, but ``percent_change`` and friends are percents, so a payload
  whose median ``iv`` exceeds 3 (300 %) is read as percent too.
- **yfinance-like CSV** ``contractSymbol, lastTradeDate, strike, lastPrice, bid, ask, change,
  percentChange, volume, openInterest, impliedVolatility, ...``: expiry, right and underlying
  come from the OCC symbol; no snapshot time and no underlying price.

``quote_ts`` is the payload's own snapshot time where it has one (CBOE), else the feed option
``quote_ts``, else the newest per-contract quote/trade time in the payload, so the same
response always gets the same key (replay-safe) and one chain shares one ``quote_ts``.
A missing underlying price is implied from put-call parity (:func:`parity_spot`), and the parse
says so in its notes: parity is a fallback, never a silent substitute for a quote (on a real
PLTR chain it gave 26.65 against a quote of 25.50).

``iv`` and the greeks are ours, from :mod:`tradelake.analytics.greeks` (BSM by default, feed
options ``model``, ``rate`` = 0.04, ``dividend_yield`` = 0) on the mid price ((bid + ask) / 2
when both are positive, else last), time to expiry to 16:00 New York on the expiry date in
years of 365 days. Greeks follow the providers' units, named in the columns:
``vega_per_vol_pt``, ``theta_per_day`` (calendar day), ``rho_per_rate_pt`` (the Python API's
are per 1.00 and per year; the scaling is in :func:`price_contracts`). Where no volatility is
implied, ``iv_note`` says why (``no_price``, ``expired``, ``below_intrinsic``, ...): a row is
not bad data because it has no time value. American exercise is ignored (a BSM approximation
for single stocks).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from tradelake.errors import SourceFormatError
from tradelake.sources.base import ParseContext, ParseResult, register_parser
from tradelake.sources.feed_tables import OPTIONS_RAW
from tradelake.sources.occ import occ_columns
from tradelake.staging.feed_checks import TEXT_SUFFIX, check_rows, collapse_duplicates
from tradelake.staging.quarantine import Quarantine

NUMERIC = ("bid", "ask", "last", "volume", "open_interest", "underlying_price", "provider_iv")
GREEKS = ("iv", "delta", "gamma", "vega_per_vol_pt", "theta_per_day", "rho_per_rate_pt")
EXPIRY_CLOSE = "16h"  # PM-settled US options stop trading at 16:00 New York time
NEW_YORK = ZoneInfo("America/New_York")
INDEX_ROOTS = {"SPXW": "SPX", "NDXP": "NDX", "RUTW": "RUT", "VIXW": "VIX", "XSP": "XSP"}
SECONDS_PER_YEAR = 365.0 * 86_400.0


@register_parser("tradier", suffixes=(), content_type="application/json")
def parse_tradier(data: bytes, name: str, ctx: ParseContext) -> ParseResult:
    """Tradier chains; snapshot time = newest ``bid_date``/``ask_date`` (epoch ms) in the body."""
    body = _json(data, name, ctx, "Tradier")
    chain = body.get("options") if isinstance(body, dict) else None
    if not isinstance(body, dict) or "options" not in body:
        raise _format_error(name, ctx, "Tradier", "has no 'options' object")
    listed = (chain or {}).get("option") if isinstance(chain, dict) else None
    items = [listed] if isinstance(listed, dict) else list(listed or [])
    rows = [
        {
            "symbol": o.get("symbol"),
            "underlying": o.get("underlying") or o.get("root_symbol"),
            "bid": o.get("bid"),
            "ask": o.get("ask"),
            "last": o.get("last"),
            "volume": o.get("volume"),
            "open_interest": o.get("open_interest"),
            "underlying_price": ctx.options.get("underlying_price"),
            "provider_iv": (o.get("greeks") or {}).get("mid_iv"),
        }
        for o in items
    ]
    stamps = [o.get(k) for o in items for k in ("bid_date", "ask_date", "trade_date")]
    quote_ts = _option_ts(ctx) or _newest_epoch_ms(stamps)
    return _finish(rows, quote_ts, name, ctx)


@register_parser("cboe", suffixes=(), content_type="application/json")
def parse_cboe(data: bytes, name: str, ctx: ParseContext) -> ParseResult:
    """CBOE delayed quotes; ``timestamp`` is the snapshot, ``current_price`` the underlying."""
    body = _json(data, name, ctx, "CBOE")
    quote = body.get("data") if isinstance(body, dict) else None
    if not isinstance(quote, dict) or not isinstance(quote.get("options"), list):
        raise _format_error(name, ctx, "CBOE", "has no data.options list")
    underlying = str(quote.get("symbol") or "").lstrip("_") or None
    items = [o for o in quote["options"] if isinstance(o, dict)]
    ivs = [v for v in (_float(o.get("iv")) for o in items) if v > 0]
    iv_scale = 0.01 if ivs and float(np.median(ivs)) > 3 else 1.0
    rows = [
        {
            "symbol": o.get("option"),
            "underlying": underlying,
            "bid": o.get("bid"),
            "ask": o.get("ask"),
            "last": o.get("last_trade_price"),
            "volume": o.get("volume"),
            "open_interest": o.get("open_interest"),
            "underlying_price": quote.get("current_price"),
            "provider_iv": None if o.get("iv") is None else _float(o.get("iv")) * iv_scale,
        }
        for o in items
    ]
    stamp = body.get("timestamp")
    quote_ts = _option_ts(ctx) or (_wall_time(str(stamp), ctx) if stamp else None)
    return _finish(rows, quote_ts, name, ctx)


@register_parser("options_csv", suffixes=(), content_type="text/csv")
def parse_options_csv(data: bytes, name: str, ctx: ParseContext) -> ParseResult:
    """yfinance-like chain CSV; snapshot time = newest ``lastTradeDate`` unless configured."""
    try:
        table = pl.read_csv(data, infer_schema=False)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        raise _format_error(name, ctx, "options CSV", f"is not CSV ({exc})") from exc
    needed = {"contractSymbol", "bid", "ask", "lastPrice"}
    if not needed <= set(table.columns):
        missing = ", ".join(sorted(needed - set(table.columns)))
        raise _format_error(name, ctx, "options CSV", f"lacks column(s) {missing}")

    def column(field: str) -> list[Any]:
        present = field in table.columns
        return table.get_column(field).to_list() if present else [None] * table.height

    fields = {
        "symbol": "contractSymbol",
        "bid": "bid",
        "ask": "ask",
        "last": "lastPrice",
        "volume": "volume",
        "open_interest": "openInterest",
        "provider_iv": "impliedVolatility",
    }
    values = {ours: column(theirs) for ours, theirs in fields.items()}
    fixed = {
        "underlying": ctx.options.get("underlying") or ctx.options.get("symbol"),
        "underlying_price": ctx.options.get("underlying_price"),
    }
    rows = [{**{c: v[i] for c, v in values.items()}, **fixed} for i in range(table.height)]
    trades = pl.Series(column("lastTradeDate"), dtype=pl.Utf8)
    newest = trades.str.to_datetime(time_zone="UTC", strict=False).max()
    quote_ts = _option_ts(ctx) or (newest if isinstance(newest, datetime) else None)
    return _finish(rows, quote_ts, name, ctx)


def tradier_quote_price(body: object, symbol: str) -> float | None:
    """The underlying's price from a Tradier quotes response: ``last``, else the bid/ask mid.

    ``quote`` is a bare object for one symbol and a list for several; a symbol Tradier does not
    know comes back under ``quotes.unmatched_symbols``. None when no positive price is there.
    """
    quotes = body.get("quotes") if isinstance(body, dict) else None
    listed = quotes.get("quote") if isinstance(quotes, dict) else None
    items = [listed] if isinstance(listed, dict) else list(listed or [])
    wanted = symbol.strip().upper()
    for quote in items:
        if isinstance(quote, dict) and str(quote.get("symbol", "")).upper() == wanted:
            last, bid, ask = (_float(quote.get(k)) for k in ("last", "bid", "ask"))
            if last > 0:
                return last
            if bid > 0 and ask > 0:
                return (bid + ask) / 2
    return None


def parity_spot(frame: pl.DataFrame, rate: float, dividend_yield: float) -> float | None:
    """Spot implied by put-call parity, for chains that come without the underlying price.

    Per expiry, at the strike where |C − P| of the mids is smallest (the most liquid, least
    early-exercise-distorted pair), ``F = K + (C − P)·e^{rT}`` and ``S = F·e^{−(r−q)T}``; the
    median over expiries. ``frame`` needs ``expiry_t, strike, right, mid``; None if no pair.
    """
    calls = frame.filter(pl.col("right") == "C").select("expiry_t", "strike", c="mid")
    puts = frame.filter(pl.col("right") == "P").select("expiry_t", "strike", p="mid")
    pairs = calls.join(puts, on=["expiry_t", "strike"]).filter(
        pl.col("c").is_not_nan() & pl.col("p").is_not_nan() & (pl.col("expiry_t") > 0)
    )
    if pairs.height == 0:
        return None
    best = pairs.sort((pl.col("c") - pl.col("p")).abs()).unique("expiry_t", keep="first")
    t = best["expiry_t"].to_numpy()
    forward = best["strike"].to_numpy() + (best["c"] - best["p"]).to_numpy() * np.exp(rate * t)
    return float(np.median(forward * np.exp(-(rate - dividend_yield) * t)))


def price_contracts(frame: pl.DataFrame, ctx: ParseContext) -> pl.DataFrame:
    """Fill ``iv``, greeks and ``iv_note`` of checked rows (see the module docstring)."""
    # Imported here: scipy costs start-up time that commands which never price a chain skip.
    from tradelake.analytics.greeks import greeks, implied_volatility_with_reason

    rate = float(ctx.options.get("rate", 0.04))
    dividend_yield = float(ctx.options.get("dividend_yield", 0.0))
    close = pl.col("expiry").cast(pl.Datetime("us")).dt.offset_by(EXPIRY_CLOSE)
    close = close.dt.replace_time_zone("America/New_York").dt.convert_time_zone("UTC")
    both = (pl.col("bid") > 0) & (pl.col("ask") > 0)
    work = frame.with_columns(
        ((close - pl.col("quote_ts")).dt.total_microseconds() / 1e6 / SECONDS_PER_YEAR).alias(
            "expiry_t"
        ),
        pl.when(both)
        .then((pl.col("bid") + pl.col("ask")) / 2)
        .otherwise(pl.col("last"))
        .fill_null(float("nan"))
        .alias("mid"),
    )
    spot = work["underlying_price"]
    if spot.null_count():
        implied = parity_spot(work, rate, dividend_yield)
        spot = spot if implied is None else spot.fill_null(implied)
    s = spot.cast(pl.Float64).fill_null(float("nan")).to_numpy()
    k, t = work["strike"].to_numpy(), work["expiry_t"].to_numpy()
    mid, is_call = work["mid"].to_numpy(), (work["right"] == "C").to_numpy()
    model = str(ctx.options.get("model", "bsm"))
    iv, reason = implied_volatility_with_reason(mid, s, k, t, rate, dividend_yield, is_call, model)
    g = greeks(s, k, t, rate, iv, dividend_yield, is_call, model)
    note = np.where(np.isnan(mid), "no_price", np.where(np.isnan(s), "no_underlying_price", reason))
    scaled = {"iv": iv, "delta": g.delta, "gamma": g.gamma, "vega_per_vol_pt": g.vega / 100}
    scaled |= {"theta_per_day": g.theta / 365, "rho_per_rate_pt": g.rho / 100}
    return frame.with_columns(
        pl.Series("underlying_price", s).fill_nan(None),
        *(pl.Series(c, v, dtype=pl.Float64).fill_nan(None) for c, v in scaled.items()),
        pl.Series("iv_note", [n or None for n in note.tolist()], dtype=pl.Utf8),
    )


def _finish(
    rows: Sequence[Mapping[str, Any]], quote_ts: datetime | None, name: str, ctx: ParseContext
) -> ParseResult:
    quarantine = Quarantine(OPTIONS_RAW.name)
    if rows and quote_ts is None:
        raise _format_error(name, ctx, "option chain", "carries no quote time; set quote_ts")
    text = pl.DataFrame(
        {c: [_text(r.get(c)) for r in rows] for c in ("symbol", "underlying", *NUMERIC)},
        schema={c: pl.Utf8 for c in ("symbol", "underlying", *NUMERIC)},
    )
    frame = text.select(
        *occ_columns(pl.col("symbol")),
        pl.col("symbol").alias(f"symbol{TEXT_SUFFIX}"),
        *(pl.col(c).cast(pl.Float64, strict=False) for c in NUMERIC),
        *(pl.col(c).alias(f"{c}{TEXT_SUFFIX}") for c in NUMERIC),
        pl.col("underlying").str.strip_chars().str.to_uppercase(),
        pl.lit(quote_ts, pl.Datetime("us", "UTC")).alias("quote_ts"),
        *(pl.lit(None, pl.Float64).alias(c) for c in GREEKS),
        pl.lit(None, pl.Utf8).alias("iv_note"),
    ).with_columns(
        pl.col("underlying").fill_null(pl.col("root").replace(INDEX_ROOTS)),
        *(pl.col(c).cast(pl.Int64, strict=False) for c in ("volume", "open_interest")),
    )
    checked = check_rows(OPTIONS_RAW, frame, quarantine)
    unique, notes = collapse_duplicates(OPTIONS_RAW, checked, quarantine)
    priced = price_contracts(unique, ctx) if unique.height else unique
    if unique.height and unique["underlying_price"].null_count():
        notes.append(
            f"{name}: no underlying price in the payload or options; spot implied by put-call "
            "parity (set the feed option underlying_price, or underlying_quote = true on Tradier)"
        )
    return ParseResult({OPTIONS_RAW.name: priced}, {OPTIONS_RAW.name: quarantine}, notes)


def _json(data: bytes, name: str, ctx: ParseContext, provider: str) -> Any:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _format_error(name, ctx, provider, f"is not JSON ({exc}); truncated?") from exc


def _format_error(name: str, ctx: ParseContext, provider: str, what: str) -> SourceFormatError:
    feed = ctx.source or provider
    return SourceFormatError(
        f"{name} ({feed}): the {provider} response {what}; check the feed's kind and URL, "
        "then re-pull."
    )


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def _newest_epoch_ms(values: Sequence[object]) -> datetime | None:
    stamps = [v for v in (_float(x) for x in values) if v > 0]
    return datetime.fromtimestamp(max(stamps) / 1000, UTC) if stamps else None


def _option_ts(ctx: ParseContext) -> datetime | None:
    configured = ctx.options.get("quote_ts")
    return _wall_time(str(configured), ctx) if configured else None


def _wall_time(text: str, ctx: ParseContext) -> datetime:
    try:
        stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise SourceFormatError(
            f"{ctx.source or 'options'}: quote time {text!r} is not ISO 8601; fix the feed."
        ) from exc
    zone = ZoneInfo(str(ctx.options.get("timezone", "America/New_York")))
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=zone)).astimezone(UTC)
