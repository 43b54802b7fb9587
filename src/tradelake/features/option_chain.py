"""The shape of one option-chain snapshot in five numbers (pure functions over quotes).

Per (underlying, quote_ts), from our own ``iv`` and ``delta`` (BSM, see
:mod:`tradelake.sources.options`); expiries closer than :data:`MIN_DAYS` are ignored for the
volatility numbers because their IVs are dominated by bid/ask noise and event risk:

- ``atm_iv``: 30-day constant-maturity at-the-money IV. Per expiry, the IV at strike = spot
  is interpolated linearly in strike (call and put IVs averaged per strike); the two expiries
  around 30 days are interpolated linearly in *total variance* ``iv²·T`` (the VIX convention).
  Without expiries on both sides, the nearest expiry's ATM IV.
- ``skew_25d``: IV of the 25-delta put minus IV of the 25-delta call at the expiry nearest to
  30 days (interpolated in delta within each wing, never extrapolated): positive when
  downside protection is dear, as it usually is for equity indices.
- ``term_slope``: least-squares slope of ATM IV against time to expiry in years, over
  expiries up to one year (volatility per year; positive = upward-sloping term structure).
- ``put_call_volume_ratio`` / ``put_call_oi_ratio``: summed put over summed call volume /
  open interest across the whole snapshot (NULL when the call side is zero).

Time to expiry runs to 16:00 New York on the expiry date in years of 365 days, as for ``iv``.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numpy.typing import NDArray

MIN_DAYS = 7.0
TARGET_DAYS = 30.0
MAX_DAYS = 365.0
SNAPSHOT = ("underlying", "quote_ts")
SCHEMA: dict[str, pl.DataType] = {
    "underlying": pl.Utf8(),
    "quote_ts": pl.Datetime("us", "UTC"),
    "underlying_price": pl.Float64(),
    "expiries": pl.Int64(),
    "atm_iv": pl.Float64(),
    "skew_25d": pl.Float64(),
    "term_slope": pl.Float64(),
    "put_call_volume_ratio": pl.Float64(),
    "put_call_oi_ratio": pl.Float64(),
}
Floats = NDArray[np.float64]


def chain_features(quotes: pl.DataFrame) -> pl.DataFrame:
    """One row per snapshot of ``quotes`` (the ``options`` table's columns); see module doc."""
    if quotes.height == 0:
        return pl.DataFrame(schema=SCHEMA)
    # DuckDB hands TIMESTAMPTZ back in its session zone (often "Etc/UTC"): normalise first.
    quotes = quotes.with_columns(pl.col("quote_ts").dt.convert_time_zone("UTC"))
    ratios = quotes.group_by(SNAPSHOT).agg(
        pl.col("underlying_price").median(),
        _put_call_ratio("volume").alias("put_call_volume_ratio"),
        _put_call_ratio("open_interest").alias("put_call_oi_ratio"),
    )
    smiles = _per_expiry(quotes)
    shapes = [
        {"underlying": key[0], "quote_ts": key[1], **term_structure(group)}
        for key, group in smiles.partition_by(list(SNAPSHOT), as_dict=True).items()
    ]
    shape_frame = pl.DataFrame(
        shapes,
        schema={c: SCHEMA[c] for c in ("underlying", "quote_ts", "expiries", "atm_iv")}
        | {"skew_25d": pl.Float64(), "term_slope": pl.Float64()},
    )
    joined = ratios.join(shape_frame, on=list(SNAPSHOT), how="left", nulls_equal=True)
    return joined.select([pl.col(c).cast(t) for c, t in SCHEMA.items()]).sort(list(SNAPSHOT))


def term_structure(smiles: pl.DataFrame) -> dict[str, float | int | None]:
    """``expiries, atm_iv, skew_25d, term_slope`` of one snapshot's per-expiry smile points."""
    usable = smiles.filter(pl.col("days").is_between(MIN_DAYS, MAX_DAYS)).sort("days")
    with_atm = usable.filter(pl.col("atm").is_not_null())
    days = with_atm["days"].to_numpy()
    atm = with_atm["atm"].to_numpy()
    slope = None
    if days.size >= 2 and np.ptp(days) > 0:
        slope = float(np.polyfit(days / 365.0, atm, 1)[0])
    skew = None
    if usable.height:
        nearest = usable.row(
            int(np.argmin(np.abs(usable["days"].to_numpy() - TARGET_DAYS))), named=True
        )
        if nearest["put25"] is not None and nearest["call25"] is not None:
            skew = nearest["put25"] - nearest["call25"]
    return {
        "expiries": usable.height,
        "atm_iv": constant_maturity_iv(days, atm, TARGET_DAYS),
        "skew_25d": skew,
        "term_slope": slope,
    }


def constant_maturity_iv(days: Floats, atm: Floats, target: float) -> float | None:
    """IV at ``target`` days, linear in total variance between the bracketing expiries."""
    if days.size == 0:
        return None
    below, above = np.flatnonzero(days <= target), np.flatnonzero(days >= target)
    if below.size == 0 or above.size == 0:
        return float(atm[int(np.argmin(np.abs(days - target)))])
    i, j = below[-1], above[0]
    if i == j:
        return float(atm[i])
    var_i, var_j = atm[i] ** 2 * days[i], atm[j] ** 2 * days[j]
    variance = var_i + (var_j - var_i) * (target - days[i]) / (days[j] - days[i])
    return float(np.sqrt(variance / target))


def atm_iv(strikes: Floats, ivs: Floats, spot: float) -> float | None:
    """IV at strike = ``spot`` by linear interpolation; None unless strikes straddle ``spot``."""
    order = np.argsort(strikes)
    k, v = strikes[order], ivs[order]
    if k.size == 0 or not k[0] <= spot <= k[-1]:
        return None
    return float(np.interp(spot, k, v))


def wing_iv(deltas: Floats, ivs: Floats, target: float) -> float | None:
    """IV at ``target`` delta within one wing; None unless the deltas straddle it."""
    order = np.argsort(deltas)
    d, v = deltas[order], ivs[order]
    if d.size == 0 or not d[0] <= target <= d[-1]:
        return None
    return float(np.interp(target, d, v))


def _per_expiry(quotes: pl.DataFrame) -> pl.DataFrame:
    close = pl.col("expiry").cast(pl.Datetime("us")).dt.offset_by("16h")
    close = close.dt.replace_time_zone("America/New_York").dt.convert_time_zone("UTC")
    priced = quotes.filter(pl.col("iv").is_not_null() & pl.col("delta").is_not_null()).with_columns(
        ((close - pl.col("quote_ts")).dt.total_seconds() / 86_400).alias("days")
    )
    rows = []
    for key, group in priced.partition_by([*SNAPSHOT, "expiry"], as_dict=True).items():
        strikes = group.group_by("strike").agg(pl.col("iv").mean())
        calls = group.filter(pl.col("right") == "C")
        puts = group.filter(pl.col("right") == "P")
        spot = group["underlying_price"].median()
        rows.append(
            {
                "underlying": key[0],
                "quote_ts": key[1],
                "days": group["days"][0],
                "atm": atm_iv(strikes["strike"].to_numpy(), strikes["iv"].to_numpy(), float(spot))
                if isinstance(spot, float)
                else None,
                "put25": wing_iv(puts["delta"].to_numpy(), puts["iv"].to_numpy(), -0.25),
                "call25": wing_iv(calls["delta"].to_numpy(), calls["iv"].to_numpy(), 0.25),
            }
        )
    schema = {"underlying": pl.Utf8(), "quote_ts": SCHEMA["quote_ts"], "days": pl.Float64()}
    schema |= {"atm": pl.Float64(), "put25": pl.Float64(), "call25": pl.Float64()}
    return pl.DataFrame(rows, schema=schema)


def _put_call_ratio(column: str) -> pl.Expr:
    puts = pl.col(column).filter(pl.col("right") == "P").sum()
    calls = pl.col(column).filter(pl.col("right") == "C").sum()
    return pl.when(calls > 0).then(puts / calls).otherwise(None).cast(pl.Float64)
