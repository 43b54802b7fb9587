from __future__ import annotations

import json
from datetime import UTC, date, datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures import feeds
from tradelake.errors import ConfigError, SourceFormatError
from tradelake.sources.base import ParseContext
from tradelake.sources.macro import parse_fred, parse_fred_csv, parse_macro_csv

LANDED = datetime(2026, 11, 20, 13, 45, tzinfo=UTC)


def _ctx(**options: object) -> ParseContext:
    return ParseContext(source="fred", options={"ingest_ts": LANDED.isoformat(), **options})


def test_fred_json_keeps_every_vintage_and_marks_missing_values() -> None:
    payload, facts = feeds.fred_json(n=160)
    result = parse_fred(payload, "gdp-1.json", _ctx(series_id="GDP"))
    frame = result.frames["macro_raw"]

    revised: dict[date, tuple[list[date], list[float]]] = facts["revised"]  # type: ignore[assignment]
    expected_rows = 160 + sum(len(starts) - 1 for starts, _ in revised.values())
    assert frame.height == expected_rows
    assert frame["series_id"].unique().to_list() == ["GDP"]
    assert frame["learned_ts"].unique().to_list() == [LANDED]
    obs, (starts, values) = next(iter(revised.items()))
    vintages = frame.filter(pl.col("observation_date") == obs).sort("realtime_start")
    assert vintages["realtime_start"].to_list() == starts
    assert vintages["value"].to_list() == pytest.approx(values)
    assert vintages["realtime_end"][-1] == date(9999, 12, 31)
    assert vintages["realtime_end"][0] == date.fromordinal(starts[1].toordinal() - 1)
    missing = frame.filter(pl.col("value").is_null())["observation_date"].unique().sort()
    assert missing.to_list() == sorted(facts["missing"])  # type: ignore[arg-type]
    assert "1 repeated row(s)" in result.notes[0]
    assert result.quarantine["macro_raw"].count == 0


def test_fred_series_id_may_come_from_the_landed_name_but_must_come_from_somewhere() -> None:
    payload, _ = feeds.fred_json(n=4, vintages=False)
    named = parse_fred(payload, "observations?series_id=CPIAUCSL", _ctx())
    assert named.frames["macro_raw"]["series_id"].unique().to_list() == ["CPIAUCSL"]
    with pytest.raises(ConfigError, match="series_id"):
        parse_fred(payload, "page-1.json", _ctx())


def test_fred_error_body_and_truncated_body_stop_the_file_with_one_line() -> None:
    with pytest.raises(SourceFormatError, match="FRED error 400: Bad Request") as error:
        parse_fred(feeds.fred_error(), "gdp-1.json", _ctx(series_id="GDP"))
    assert "\n" not in str(error.value) and "gdp-1.json" in str(error.value)
    payload, _ = feeds.fred_json(n=20)
    with pytest.raises(SourceFormatError, match="is not JSON"):
        parse_fred(feeds.truncated(payload), "gdp-2.json", _ctx(series_id="GDP"))


def test_macro_parsers_need_the_landing_time() -> None:
    payload, _ = feeds.fred_json(n=3)
    with pytest.raises(ConfigError, match="landing time"):
        parse_fred(payload, "gdp.json", ParseContext(options={"series_id": "GDP"}))


@pytest.mark.parametrize("legacy", [False, True])
def test_fred_graph_csv_is_one_open_vintage_learned_on_the_landing_day(legacy: bool) -> None:
    payload = feeds.fred_graph_csv(series=("UNRATE", "PAYEMS"), n=60, legacy=legacy)
    result = parse_fred_csv(payload, "fredgraph.csv", _ctx())
    frame = result.frames["macro_raw"]

    assert frame.height == 120
    assert sorted(frame["series_id"].unique()) == ["PAYEMS", "UNRATE"]
    assert frame["realtime_start"].unique().to_list() == [LANDED.date()]
    assert frame["realtime_end"].unique().to_list() == [date(9999, 12, 31)]
    unrate = frame.filter(pl.col("series_id") == "UNRATE").sort("observation_date")
    assert unrate["value"].is_null().to_list() == [i % 13 == 4 for i in range(60)]
    payems = frame.filter(pl.col("series_id") == "PAYEMS").sort("observation_date")
    assert payems["value"].is_null().to_list() == [i % 17 == 8 for i in range(60)]
    bad = result.quarantine["macro_raw"].frame()
    assert bad["reason"].to_list() == ["unparseable observation_date '2023-13-01'"] * 2


def test_generic_csv_uses_the_mapping_decimal_comma_and_date_format() -> None:
    options = {
        "date_column": "Stichtag",
        "value_column": "Wert",
        "series_id": "BUND_IDX",
        "decimal": ",",
        "date_format": "%d.%m.%Y",
        "missing": ["n/a", ""],
    }
    result = parse_macro_csv(feeds.macro_csv_european(), "bund.csv", _ctx(**options))
    frame = result.frames["macro_raw"].sort("observation_date")

    assert frame.height == 24 + 1  # the n/a row stays, with a NULL value
    assert frame["observation_date"][0] == date(2024, 1, 31)
    assert frame.filter(pl.col("observation_date") == date(2024, 6, 30))["value"][0] == 1234.5
    assert frame.filter(pl.col("observation_date") == date(2026, 6, 30))["value"][0] is None
    reasons = sorted(result.quarantine["macro_raw"].frame()["reason"])
    assert reasons == ["unparseable observation_date '31.13.2025'", "unparseable value 'abc'"]


def test_generic_csv_without_its_mapping_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="date_column, value_column"):
        parse_macro_csv(b"a,b\n1,2\n", "x.csv", _ctx(series_id="X"))
    with pytest.raises(SourceFormatError, match="no column"):
        options = {"date_column": "d", "value_column": "v", "series_id": "X"}
        parse_macro_csv(b"a,b\n1,2\n", "x.csv", _ctx(**options))


values = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False).map(lambda v: round(v, 4))


@settings(max_examples=40, deadline=None)
@given(st.lists(values, min_size=1, max_size=30), st.booleans())
def test_generic_csv_values_round_trip_in_both_decimal_conventions(
    numbers: list[float], comma: bool
) -> None:
    days = [date.fromordinal(date(2000, 1, 1).toordinal() + i) for i in range(len(numbers))]
    separator = ";" if comma else ","
    cells = [f"{v:.4f}".replace(".", ",") if comma else f"{v:.4f}" for v in numbers]
    rows = [f"{d}{separator}{c}" for d, c in zip(days, cells, strict=True)]
    text = "\n".join([f"d{separator}v", *rows])
    options = {"date_column": "d", "value_column": "v", "series_id": "S"}
    options |= {"decimal": ","} if comma else {}
    frame = parse_macro_csv(text.encode(), "s.csv", _ctx(**options)).frames["macro_raw"]
    assert frame.sort("observation_date")["value"].to_list() == pytest.approx(numbers)


def test_inverted_vintages_and_conflicting_repeats_are_quarantined() -> None:
    rows = [
        {"realtime_start": "2026-03-01", "realtime_end": "2026-02-01", "date": "2026-01-01",
         "value": "1.0"},
        {"realtime_start": "2026-03-01", "realtime_end": "9999-12-31", "date": "2026-02-01",
         "value": "2.0"},
        {"realtime_start": "2026-03-01", "realtime_end": "9999-12-31", "date": "2026-02-01",
         "value": "2.5"},
    ]  # fmt: skip
    payload = json.dumps({"observations": rows}).encode()
    result = parse_fred(payload, "x.json", _ctx(series_id="X"))
    assert result.frames["macro_raw"]["value"].to_list() == [2.0]
    assert sorted(result.quarantine["macro_raw"].frame()["reason"]) == [
        "duplicate series_id/observation_date/realtime_start in payload with different content",
        "realtime_end 2026-02-01 before realtime_start 2026-03-01",
    ]
