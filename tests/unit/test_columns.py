"""JSON for scripts: money to cents, numbers as numbers, ids as exact text, JSON as objects."""

from __future__ import annotations

import json
from decimal import Decimal

from tradelake.columns import json_row, json_value


def test_money_is_rounded_to_cents_and_other_floats_lose_only_binary_noise() -> None:
    assert json_value("net_pnl", -10.000000000395914) == -10.0
    assert json_value("pnl_diff", 1234.5678) == 1234.57
    assert json_value("commission", -0.001) == 0.0  # no "-0.0"
    assert json_value("win_rate", 0.3983440662373505) == 0.398344066237
    assert json_value("price", 0.1 + 0.2) == 0.3
    assert json_value("profit_factor", float("inf")) is None  # JSON has no Infinity


def test_duckdb_decimals_become_numbers_not_strings() -> None:
    assert json_value("sum(qty)", Decimal("9")) == 9
    assert isinstance(json_value("sum(qty)", Decimal("9")), int)
    assert json_value("avg", Decimal("2.50")) == 2.5


def test_ids_and_integers_past_2_53_are_exact_strings() -> None:
    assert json_value("trade_id", 72280658002609729) == "72280658002609729"
    assert json_value("journal_id", 5) == "5"
    assert json_value("n", 2**60) == str(2**60)
    assert json_value("qty", -4) == -4
    assert json_value("order_id", "410532744") == "410532744"


def test_json_text_columns_become_objects_and_a_row_dumps_cleanly() -> None:
    row = json_row(
        {"trade_id": 2**62 + 1, "extra": '{"Broker": "Rithmic"}', "net_pnl": 1.005, "ok": True}
    )
    assert row == {
        "trade_id": str(2**62 + 1),
        "extra": {"Broker": "Rithmic"},
        "net_pnl": 1.0,
        "ok": True,
    }
    assert json.loads(json.dumps(row)) == row
    assert json_value("extra", "not json") == "not json"
