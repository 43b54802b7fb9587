"""R multiples: P&L divided by the money a trade risked, without stop prices.

Journal apps express results in R (1R = what the trade risked, normally entry to stop). ATAS
exports carry no stop price, so tradelake defines 1R per account and instrument root, in
the instrument's currency, in this order:

1. configured: ``[desk] risk_per_trade`` in ``tradelake.toml``, either one amount for every
   trade or a table whose keys are ``"ACCOUNT:ROOT"``, ``"ACCOUNT"``, ``"ROOT"`` or
   ``default`` (the most specific key wins)::

       [desk.risk_per_trade]
       default = 100
       "SIM-1042" = 50
       MES = 25
       "SIM-1042:MES" = 20

2. otherwise the trader's average loss: the mean of ``|net_pnl|`` over that account's losing
   round trips on that root (all of them, not only the ones a filter shows, so 1R does not
   change with the dates on screen). It is a measured, after-the-fact unit: it says "this day
   was worth three typical losses", not what was planned at entry.

Where neither exists (no setting, no loss yet) R is null rather than a guess. ``risk`` is
rounded to cents first and every R value is computed from the rounded amount, so a reader
can check ``net_r == net_pnl / risk`` with the numbers shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from tradelake.errors import ConfigError

Unit = Literal["money", "r"]
"""``money``: amounts in the instrument's currency (the $ view); ``r``: also in R."""
CONFIGURED = "configured"
AVERAGE_LOSS = "average loss"
RISK_SCHEMA: dict[str, pl.DataType] = {
    "account": pl.Utf8(),
    "root": pl.Utf8(),
    "risk": pl.Float64(),
    "risk_basis": pl.Utf8(),
}
R_COLUMNS = {"gross_pnl": "gross_r", "net_pnl": "net_r"}


@dataclass(frozen=True)
class RiskSettings:
    """``[desk] risk_per_trade``: money per 1R by key (see the module doc); empty: none set."""

    amounts: Mapping[str, float] = field(default_factory=dict)

    def configured(self, account: str, root: str) -> float | None:
        for key in (f"{account}:{root}", account, root, "default"):
            if key in self.amounts:
                return self.amounts[key]
        return None


def risk_settings(desk: Mapping[str, Any]) -> RiskSettings:
    """Read ``[desk] risk_per_trade`` (a positive amount, or a table of them)."""
    value = desk.get("risk_per_trade")
    if value is None:
        return RiskSettings()
    table = value if isinstance(value, Mapping) else {"default": value}
    amounts: dict[str, float] = {}
    for key, amount in table.items():
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount <= 0:
            raise ConfigError(
                f"[desk] risk_per_trade {key!r} = {amount!r}: use a positive amount of money "
                "in the instrument's currency, e.g. risk_per_trade = 100"
            )
        amounts[str(key)] = float(amount)
    return RiskSettings(amounts)


def risk_table(trips: pl.DataFrame, settings: RiskSettings) -> pl.DataFrame:
    """Money per 1R for every (account, root) in ``trips`` (``account, root, net_pnl``) and
    where it comes from (``risk_basis``: ``configured`` or ``average loss``)."""
    if trips.is_empty():
        return pl.DataFrame(schema=RISK_SCHEMA)
    losses = trips.group_by("account", "root").agg(
        pl.col("net_pnl").filter(pl.col("net_pnl") < 0).abs().mean().alias("avg_loss")
    )
    rows = []
    for row in losses.sort("account", "root").iter_rows(named=True):
        configured = settings.configured(row["account"], row["root"])
        if configured is not None:
            risk, basis = configured, CONFIGURED
        elif row["avg_loss"] is not None:
            risk, basis = row["avg_loss"], AVERAGE_LOSS
        else:
            risk, basis = None, None
        rows.append(
            {
                "account": row["account"],
                "root": row["root"],
                "risk": None if risk is None else round(risk, 2),
                "risk_basis": basis,
            }
        )
    return pl.DataFrame(rows, schema=RISK_SCHEMA)


def in_r(frame: pl.DataFrame, risk: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (with ``account`` and ``root``) plus ``risk``, ``risk_basis`` and each P&L
    column in R (``gross_r``, ``net_r``); its own columns and order are kept."""
    joined = frame.join(risk, on=["account", "root"], how="left", maintain_order="left")
    r_values = [
        pl.when(pl.col("risk") > 0).then(pl.col(money) / pl.col("risk")).alias(r_name)
        for money, r_name in R_COLUMNS.items()
        if money in frame.columns
    ]
    return joined.with_columns(r_values)
