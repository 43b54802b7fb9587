"""R multiples without stop prices: configured money per 1R (most specific key wins), else the
account's average loss on the root; null rather than a guess where neither exists."""

from __future__ import annotations

import polars as pl
import pytest

from tradelake.analytics.risk import (
    AVERAGE_LOSS,
    CONFIGURED,
    RiskSettings,
    in_r,
    risk_settings,
    risk_table,
)
from tradelake.errors import ConfigError

TRIPS = pl.DataFrame(
    {
        "account": ["A", "A", "A", "A", "B", "B"],
        "root": ["MES", "MES", "MES", "NQ", "MES", "NQ"],
        "net_pnl": [-10.0, -20.005, 50.0, 30.0, -7.0, 12.0],
    }
)


def risks(settings: RiskSettings) -> dict[tuple[str, str], tuple[float | None, str | None]]:
    table = risk_table(TRIPS, settings)
    return {(r["account"], r["root"]): (r["risk"], r["risk_basis"]) for r in table.to_dicts()}


def test_average_loss_is_one_r_when_nothing_is_configured() -> None:
    assert risks(RiskSettings()) == {
        ("A", "MES"): (15.0, AVERAGE_LOSS),  # (10 + 20.005) / 2 = 15.0025, to the cent
        ("A", "NQ"): (None, None),  # no loss yet: no R, not a guess
        ("B", "MES"): (7.0, AVERAGE_LOSS),
        ("B", "NQ"): (None, None),
    }


def test_the_most_specific_configured_amount_wins() -> None:
    settings = risk_settings({"risk_per_trade": {"default": 100, "B": 40, "NQ": 25, "A:MES": 12.5}})
    assert risks(settings) == {
        ("A", "MES"): (12.5, CONFIGURED),
        ("A", "NQ"): (25.0, CONFIGURED),
        ("B", "MES"): (40.0, CONFIGURED),
        ("B", "NQ"): (40.0, CONFIGURED),  # the account beats the root
    }
    assert risks(risk_settings({"risk_per_trade": 80}))[("A", "NQ")] == (80.0, CONFIGURED)


@pytest.mark.parametrize("bad", [0, -5, "100", True, {"default": None}])
def test_a_bad_amount_says_what_to_write(bad: object) -> None:
    with pytest.raises(ConfigError, match="positive amount"):
        risk_settings({"risk_per_trade": bad})


def test_in_r_divides_by_the_rounded_risk_and_keeps_the_money() -> None:
    daily = pl.DataFrame(
        {
            "account": ["A", "A", "B"],
            "root": ["MES", "NQ", "MES"],
            "gross_pnl": [33.0, 40.0, -3.5],
            "net_pnl": [30.0, 37.5, -7.0],
        }
    )
    out = in_r(daily, risk_table(TRIPS, RiskSettings()))
    assert out.columns == [*daily.columns, "risk", "risk_basis", "gross_r", "net_r"]
    assert out["net_pnl"].to_list() == daily["net_pnl"].to_list()
    assert out["net_r"].to_list() == [2.0, None, -1.0]
    assert out["gross_r"].to_list() == [2.2, None, -0.5]
