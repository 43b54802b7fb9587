"""What the output layer knows about a column from its name: money, a price, an id, JSON text.

Tables, exports and ``--json`` all show the same frames; these rules decide how a value is
shown, never what is stored. Money is the served tables' P&L columns (``daily_pnl``,
``round_trips``, ``journal``, ``journal_stats``, ``journal_reconciliation``): amounts in the
instrument's currency, kept to its minor unit (cents: every currency in the instrument table
is USD or EUR) for people and scripts. Ids are 64-bit hashes or exchange numbers, exact only
as text in JavaScript (2**53) and Excel (15 digits).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

MONEY_COLUMNS = frozenset(
    {
        "gross_pnl",
        "commission",
        "net_pnl",
        "pnl",
        "journal_pnl",
        "pnl_diff",
        "price_pnl",
        "gross_wins",
        "gross_losses",
        "expectancy",
        "avg_win",
        "avg_loss",
        "largest_win",
        "largest_loss",
        "max_drawdown",
        "net_total",
        "open_pnl",
        "risk",  # money per 1R (tradelake.analytics.risk)
    }
)
MONEY_DECIMALS = 2  # USD and EUR cents; a currency with another minor unit needs a map here
# Prices of one instrument (a fill, a round trip's average entry and exit): a page that knows
# the instrument shows them at its tick's precision (tradelake.instruments.tick_decimals).
PRICE_COLUMNS = frozenset({"price", "entry_price", "exit_price", "open_price", "close_price"})
# Columns that hold a JSON object as text: scripts get the object, not a string to parse again.
JSON_TEXT_COLUMNS = frozenset({"extra", "quarantined_by_rule"})
# Larger integers lose digits as a JavaScript number (and Excel keeps 15 significant digits).
MAX_SAFE_INTEGER = 2**53 - 1
# Non-money floats keep this many significant digits: enough for any ratio or price, and it
# drops binary noise such as 0.30000000000000004.
FLOAT_DIGITS = 12


def is_money(name: str) -> bool:
    """A P&L amount in the instrument's currency."""
    return name in MONEY_COLUMNS


def is_price(name: str) -> bool:
    """A price of one instrument, on its tick grid (or an average of such prices)."""
    return name in PRICE_COLUMNS


def is_id(name: str) -> bool:
    """A key that must survive exactly (``trade_id``, ``journal_id``, ``order_id``, ...)."""
    return name == "id" or name.endswith("_id")


def json_value(name: str, value: Any) -> Any:
    """``value`` of column ``name`` as a script should get it.

    Money is rounded to cents; other floats to :data:`FLOAT_DIGITS` significant digits;
    decimals (``sum()`` of an integer column in DuckDB) become numbers; ids and integers past
    2**53 become strings; NaN and infinities (not JSON) become null; JSON text columns become
    objects (left as text if not valid JSON).
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        value = int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, int):
        return str(value) if is_id(name) or abs(value) > MAX_SAFE_INTEGER else value
    if isinstance(value, float):
        return round_float(name, value) if math.isfinite(value) else None
    if isinstance(value, str) and name in JSON_TEXT_COLUMNS:
        return _parsed(value)
    return value


def round_float(name: str, value: float) -> float:
    """Money to cents, anything else to :data:`FLOAT_DIGITS` significant digits (NaN and
    infinities unchanged)."""
    if not math.isfinite(value):
        return value
    if is_money(name):
        return round(value, MONEY_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    return float(f"{value:.{FLOAT_DIGITS}g}")


def json_row(row: dict[str, Any]) -> dict[str, Any]:
    """Every value of one row through :func:`json_value`."""
    return {name: json_value(name, value) for name, value in row.items()}


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
