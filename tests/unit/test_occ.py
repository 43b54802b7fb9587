from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradelake.sources.occ import OccSymbol, format_occ, occ_columns, parse_occ


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("AAPL261016C00350000", OccSymbol("AAPL", date(2026, 10, 16), "C", 350.0)),
        ("AAPL  261016P00350000", OccSymbol("AAPL", date(2026, 10, 16), "P", 350.0)),
        ("SPXW261218P05812500", OccSymbol("SPXW", date(2026, 12, 18), "P", 5812.5)),
        ("AAPL1261016C00002500", OccSymbol("AAPL1", date(2026, 10, 16), "C", 2.5)),
        ("O:TSLA270115C01000000", OccSymbol("TSLA", date(2027, 1, 15), "C", 1000.0)),
        ("  f261218c00012345 ", OccSymbol("F", date(2026, 12, 18), "C", 12.345)),
    ],
)
def test_parse_occ_reads_compact_padded_and_odd_roots(symbol: str, expected: OccSymbol) -> None:
    assert parse_occ(symbol) == expected


@pytest.mark.parametrize(
    "symbol", ["AAPL", "AAPL261016X00350000", "AAPL261316C00350000", "TOOLONGR261016C00350000"]
)
def test_parse_occ_refuses_what_is_not_a_contract(symbol: str) -> None:
    with pytest.raises(ValueError, match=symbol.strip()):
        parse_occ(symbol)


def test_padded_form_is_21_characters() -> None:
    text = format_occ("AAPL", date(2026, 10, 16), "C", 350.0, padded=True)
    assert text == "AAPL  261016C00350000" and len(text) == 21


def test_vectorised_columns_match_the_scalar_parser_and_null_junk() -> None:
    symbols = ["AAPL261016C00350000", "SPXW  261218P05812500", "junk", None]
    out = pl.DataFrame({"s": symbols}).select(occ_columns(pl.col("s")))
    assert out.row(0) == ("AAPL261016C00350000", "AAPL", date(2026, 10, 16), "C", 350.0)
    assert out.row(1) == ("SPXW261218P05812500", "SPXW", date(2026, 12, 18), "P", 5812.5)
    assert out.row(2) == (None,) * 5 and out.row(3) == (None,) * 5


roots = st.from_regex(r"[A-Z]{1,4}[A-Z0-9]{0,2}", fullmatch=True)
expiries = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
strikes = st.integers(min_value=1, max_value=99_999_999).map(lambda n: n / 1000)


@settings(max_examples=200, deadline=None)
@given(roots, expiries, st.sampled_from(["C", "P"]), strikes, st.booleans())
def test_format_parse_round_trip(
    root: str, expiry: date, right: str, strike: float, padded: bool
) -> None:
    text = format_occ(root, expiry, right, strike, padded=padded)
    parsed = parse_occ(text)
    assert parsed == OccSymbol(root, expiry, right, strike)
    assert parsed.compact() == format_occ(root, expiry, right, strike)
    vector = pl.DataFrame({"s": [text]}).select(occ_columns(pl.col("s")))
    assert vector.row(0) == (parsed.compact(), root, expiry, right, strike)
