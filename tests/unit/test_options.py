from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from fixtures import feeds
from tradelake.analytics.greeks import price
from tradelake.errors import SourceFormatError
from tradelake.features.option_chain import chain_features
from tradelake.sources.base import ParseContext
from tradelake.sources.options import parse_cboe, parse_options_csv, parse_tradier

CHAIN = feeds.chain()
SIGMA = {c.symbol: c.sigma for c in CHAIN}
TRADIER = ParseContext(source="options:tradier", options={"symbol": "AAPL"})


def _liquid(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("delta").abs().is_between(0.1, 0.9))


def test_tradier_chain_is_normalised_priced_and_bad_rows_are_quarantined() -> None:
    result = parse_tradier(feeds.tradier(CHAIN), "aapl-1.json", TRADIER)
    frame = result.frames["options_raw"]
    bad = result.quarantine["options_raw"].frame()

    assert frame.height == len(CHAIN) - 4
    assert sorted(bad["reason"]) == [
        "bid 3.4 > ask 3.1",
        "strike 0.0 is not positive",
        "unparseable bid 'n/a'",
        "unparseable symbol 'AAPL2612XXC00230000'",
    ]
    assert frame["quote_ts"].unique().to_list() == [feeds.SNAPSHOT]
    assert frame["underlying"].unique().to_list() == ["AAPL"]
    # No underlying price in a Tradier chain: put-call parity recovers it from the mids.
    assert frame["underlying_price"].unique().to_list() == [pytest.approx(230.0, abs=0.05)]
    liquid = _liquid(frame)
    assert liquid.height > 60
    for symbol, iv in zip(liquid["symbol"], liquid["iv"], strict=True):
        assert iv == pytest.approx(SIGMA[symbol], abs=0.01), symbol
    no_price = frame.filter(pl.col("symbol") == CHAIN[13].symbol).row(0, named=True)
    assert no_price["iv_note"] == "no_price" and no_price["iv"] is None
    assert frame.filter(pl.col("symbol") == CHAIN[20].symbol)["provider_iv"][0] == CHAIN[20].sigma


def test_greeks_use_the_desk_units_and_satisfy_parity() -> None:
    frame = parse_cboe(feeds.cboe(CHAIN, 230.0, symbol="AAPL"), "c.json", TRADIER).frames[
        "options_raw"
    ]
    row = frame.filter(pl.col("symbol") == "AAPL270115C00230000").row(0, named=True)
    t = feeds.years_to(row["expiry"])
    bump = price(230.0, 230.0, t, 0.04, row["iv"] + 0.01) - price(230.0, 230.0, t, 0.04, row["iv"])
    assert row["vega_per_vol_pt"] == pytest.approx(float(bump), rel=0.02)  # per vol point
    day = price(230.0, 230.0, t - 1 / 365, 0.04, row["iv"]) - price(
        230.0, 230.0, t, 0.04, row["iv"]
    )
    assert row["theta_per_day"] == pytest.approx(float(day), rel=0.02)  # per calendar day
    sd = row["iv"] * math.sqrt(t)
    d1 = (math.log(230.0 / 230.0) + (0.04 + row["iv"] ** 2 / 2) * t) / sd
    assert row["delta"] == pytest.approx(0.5 * (1 + math.erf(d1 / math.sqrt(2))), abs=1e-9)
    calls, puts = frame.filter(pl.col("right") == "C"), frame.filter(pl.col("right") == "P")
    assert calls["delta"].drop_nulls().is_between(0, 1).all()
    assert puts["delta"].drop_nulls().is_between(-1, 0).all()
    assert (frame["gamma"].drop_nulls() > 0).all()


def test_single_contract_chains_and_empty_chains() -> None:
    single = parse_tradier(feeds.tradier_single(CHAIN[30]), "one.json", TRADIER)
    frame = single.frames["options_raw"]
    assert frame["symbol"].to_list() == [CHAIN[30].symbol]
    assert frame["iv_note"].to_list() == ["no_underlying_price"]  # no pair to imply spot from
    empty = parse_tradier(b'{"options": null}', "none.json", TRADIER).frames["options_raw"]
    assert empty.height == 0 and "iv_note" in empty.columns


def test_cboe_index_prefix_new_york_timestamp_and_percent_iv() -> None:
    spx = feeds.chain(root="SPXW", spot=5800.0, step=25.0)
    payload = feeds.cboe(spx, 5800.0, symbol="_SPX", percent_iv=True)
    frame = parse_cboe(payload, "spx-1.json", ParseContext(source="options:cboe")).frames[
        "options_raw"
    ]
    assert frame.height == len(spx)
    assert frame["underlying"].unique().to_list() == ["SPX"]
    assert frame["quote_ts"].unique().to_list() == [feeds.SNAPSHOT]
    assert frame["underlying_price"].unique().to_list() == [5800.0]
    first = frame.row(0, named=True)
    assert first["provider_iv"] == pytest.approx(SIGMA_SPX(spx)[first["symbol"]], abs=1e-4)


def SIGMA_SPX(contracts: list[feeds.Contract]) -> dict[str, float]:
    return {c.symbol: c.sigma for c in contracts}


def test_options_csv_takes_expiry_and_underlying_from_the_symbol() -> None:
    result = parse_options_csv(feeds.options_csv(CHAIN), "aapl.csv", ParseContext(source="o:yf"))
    frame = result.frames["options_raw"]
    assert frame.height == len(CHAIN)
    assert frame["underlying"].unique().to_list() == ["AAPL"]
    assert frame["quote_ts"].unique().to_list() == [feeds.SNAPSHOT]  # newest lastTradeDate
    assert frame["volume"].null_count() == sum(1 for i in range(len(CHAIN)) if i % 10 == 3)
    assert _liquid(frame).height > 60


def test_configured_quote_time_wins_and_naive_times_are_new_york() -> None:
    ctx = ParseContext(options={"quote_ts": "2026-11-20 15:00:00"})
    frame = parse_options_csv(feeds.options_csv(CHAIN[:4]), "a.csv", ctx).frames["options_raw"]
    assert frame["quote_ts"].unique().to_list() == [datetime(2026, 11, 20, 20, 0, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("parse", "payload", "message"),
    [
        (parse_tradier, feeds.truncated(feeds.tradier(CHAIN)), "is not JSON"),
        (parse_tradier, b'{"fault": {"faultstring": "Invalid Access Token"}}', "no 'options'"),
        (parse_cboe, b'{"data": {"symbol": "AAPL"}}', "no data.options"),
        (parse_options_csv, b"symbol,price\nA,1\n", "lacks column"),
    ],
)
def test_payloads_that_are_not_chains_stop_the_file(parse, payload: bytes, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SourceFormatError, match=message):
        parse(payload, "chain-1.json", TRADIER)


def test_chain_features_recover_the_planted_smile() -> None:
    frame = parse_cboe(feeds.cboe(CHAIN, 230.0, symbol="AAPL"), "c.json", TRADIER).frames[
        "options_raw"
    ]
    features = chain_features(frame)
    assert features.height == 1
    row = features.row(0, named=True)

    days = np.array([feeds.years_to(e) * 365 for e in sorted({c.expiry for c in CHAIN})])
    atm = np.array([feeds.smile(230.0, 230.0, d / 365) for d in days])
    var = atm**2 * days
    expected_atm = math.sqrt(
        (var[0] + (var[1] - var[0]) * (30 - days[0]) / (days[1] - days[0])) / 30
    )
    assert row["atm_iv"] == pytest.approx(expected_atm, abs=0.003)
    assert row["term_slope"] == pytest.approx(np.polyfit(days / 365, atm, 1)[0], abs=0.01)
    t = days[0] / 365
    expected_skew = feeds.smile(230, _strike_at_delta(-0.25, t), t) - feeds.smile(
        230, _strike_at_delta(0.25, t), t
    )
    assert row["skew_25d"] == pytest.approx(expected_skew, abs=0.002)
    volume = {
        r: sum(50 * (i % 9) for i, c in enumerate(CHAIN) if c.call == (r == "C")) for r in "CP"
    }
    assert row["put_call_volume_ratio"] == pytest.approx(volume["P"] / volume["C"])
    oi = {r: sum(1000 + i for i, c in enumerate(CHAIN) if c.call == (r == "C")) for r in "CP"}
    assert row["put_call_oi_ratio"] == pytest.approx(oi["P"] / oi["C"])
    assert chain_features(frame.clear()).columns == features.columns


def _strike_at_delta(target: float, t: float, spot: float = 230.0) -> float:
    """Strike whose BSM delta (at its own smile vol) is ``target``: bisection."""
    lo, hi = spot * 0.5, spot * 1.5
    for _ in range(80):
        k = 0.5 * (lo + hi)
        sigma = feeds.smile(spot, k, t)
        d1 = (math.log(spot / k) + (feeds.RATE + sigma * sigma / 2) * t) / (sigma * math.sqrt(t))
        delta = 0.5 * (1 + math.erf(d1 / math.sqrt(2))) - (1.0 if target < 0 else 0.0)
        lo, hi = (k, hi) if delta > target else (lo, k)
    return 0.5 * (lo + hi)
