"""ATAS instrument names and the instrument spec table (built-ins plus tradelake.toml overrides)."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradelake.errors import ConfigError
from tradelake.instruments import (
    MAX_PRICE_DECIMALS,
    MONTH_CODES,
    InstrumentTable,
    ParsedSymbol,
    parse_symbol,
    tick_decimals,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("MESZ5@CME_Ind", ParsedSymbol("MES", "Z", "5", "CME")),
        ("NQZ5@CME", ParsedSymbol("NQ", "Z", "5", "CME")),
        ("CLF6@NYMEX", ParsedSymbol("CL", "F", "6", "NYMEX")),
        ("#MNQU6@CME", ParsedSymbol("MNQ", "U", "6", "CME")),
        ("MNQU6@CME#atas-id=70211", ParsedSymbol("MNQ", "U", "6", "CME")),
        ("#MNQU6@CME#ATAS-ID=70211", ParsedSymbol("MNQ", "U", "6", "CME")),
        ("  mesz5@cme_ind ", ParsedSymbol("MES", "Z", "5", "CME")),
        ("6EZ25@CME", ParsedSymbol("6E", "Z", "25", "CME")),
        ("SR3H6", ParsedSymbol("SR3", "H", "6", None)),
        ("M2K", ParsedSymbol("M2K", None, None, None)),
        ("ES@CME", ParsedSymbol("ES", None, None, "CME")),
    ],
)
def test_atas_names_parse_into_root_month_year_exchange(name: str, expected: ParsedSymbol) -> None:
    assert parse_symbol(name) == expected


def test_symbol_is_the_contract_without_exchange() -> None:
    assert parse_symbol("#MNQU6@CME#atas-id=1").symbol == "MNQU6"
    assert parse_symbol("ES").symbol == "ES"


@pytest.mark.parametrize("name", ["???", "", "   ", "NQZ5 foo", "MES Z5@CME"])
def test_text_that_is_no_instrument_name_is_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="not an instrument name"):
        parse_symbol(name)


def test_trailing_garbage_is_not_read_as_a_contract() -> None:
    assert parse_symbol("MESZ5XYZ").root == "MESZ5XYZ"  # an unknown root, not MES


@settings(max_examples=200, deadline=None)
@given(
    root=st.from_regex(r"[A-Z0-9]{1,4}", fullmatch=True),
    month=st.sampled_from(MONTH_CODES),
    year=st.integers(0, 99).map(str),
    exchange=st.from_regex(r"[A-Z][A-Z0-9]{1,6}", fullmatch=True),
    feed=st.sampled_from(["", "_Ind", "_NB"]),
    hashed=st.booleans(),
    atas_id=st.one_of(st.just(""), st.integers(1, 10**6).map(lambda n: f"#atas-id={n}")),
)
def test_any_generated_atas_name_round_trips(
    root: str, month: str, year: str, exchange: str, feed: str, hashed: bool, atas_id: str
) -> None:
    name = f"{'#' if hashed else ''}{root}{month}{year}@{exchange}{feed}{atas_id}"
    assert parse_symbol(name) == ParsedSymbol(root, month, year, exchange)


def test_overrides_change_a_builtin_root_and_add_a_new_one() -> None:
    table = InstrumentTable(
        {
            "mes": {"point_value": 50, "session_open": time(18, 0)},
            "ZZ": {"tick_size": 0.5, "point_value": 10, "currency": "EUR",
                   "exchange_tz": "Europe/Berlin", "session_open": "08:00:00"},
        }
    )  # fmt: skip
    mes, zz = table.get("MES"), table.get("zz")
    assert mes is not None and zz is not None
    assert (mes.point_value, mes.tick_size, mes.session_open) == (50.0, 0.25, time(18, 0))
    assert (zz.tick_value, zz.session_open, zz.exchange) == (5.0, time(8, 0), "")
    assert "ZZ" in table and "ZZ" in table.roots()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"MES": {"tick": 0.25}}, "[instruments.MES] has unknown key(s) tick"),
        ({"MES": {"tick_size": 0}}, "[instruments.MES] tick_size 0 must be a number > 0."),
        ({"MES": {"point_value": "x"}}, "[instruments.MES] point_value 'x' must be a number > 0."),
        ({"MES": {"session_open": "25:00"}}, "session_open '25:00' must be HH:MM."),
        ({"QQ": {"tick_size": 1}}, "[instruments.QQ] is a new root and needs point_value"),
    ],
)
def test_bad_overrides_are_config_errors_naming_the_key(
    overrides: dict[str, dict[str, object]], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        InstrumentTable(overrides)
    assert message in str(caught.value)


def test_price_decimals_write_every_builtin_tick_exactly_and_no_shorter() -> None:
    for root in InstrumentTable().roots():
        spec = InstrumentTable().get(root)
        assert spec is not None
        exponent = Decimal(repr(spec.tick_size)).normalize().as_tuple().exponent
        assert isinstance(exponent, int)
        assert spec.price_decimals == max(-exponent, 0), root


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 999), st.integers(0, 7), st.integers(0, 10**7))
def test_every_multiple_of_a_tick_is_exact_at_its_decimals(
    digits: int, scale: int, ticks: int
) -> None:
    tick = digits / 10**scale
    places = tick_decimals(tick)
    price = ticks * tick
    assert float(f"{price:.{places}f}") == pytest.approx(price, rel=1e-12, abs=1e-12)


def test_a_tick_without_a_short_decimal_form_stops_at_the_cap() -> None:
    assert tick_decimals(1 / 3) == MAX_PRICE_DECIMALS
