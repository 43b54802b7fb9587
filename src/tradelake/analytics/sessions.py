"""Trading sessions: the session date of a fill, exchange-local time and the instrument specs.

Session dates follow CME convention (see :func:`session_date`): a session that opens in the
evening trades on the next calendar date, weekend dates roll forward to Monday, and there is no
holiday calendar. Each instrument's exchange time zone and session open come from its spec
(``[instruments.<ROOT>]``), joined on ``root`` by :func:`with_specs`.
"""

from __future__ import annotations

from datetime import time

import polars as pl

from tradelake.errors import ConfigError
from tradelake.instruments import InstrumentTable

# A session opening at or after noon opens the evening before its trading date (CME Globex);
# one opening in the morning (Eurex 01:10) trades on its own calendar date.
_EVENING = 12 * 60
_DAY_US = 86_400_000_000


def session_date(ts: pl.Expr | str, exchange_tz: str, session_open: time) -> pl.Expr:
    """Trading session date (``pl.Date``) of UTC timestamps on one exchange.

    Evening opens (at or after noon, CME 17:00 America/Chicago): a time at or after the open
    belongs to the next calendar date, so Tuesday 17:30 CT is Wednesday's session and Sunday
    17:00 opens Monday's. Morning opens (Eurex 01:10 Europe/Berlin): the local calendar date.
    A date that lands on a weekend rolls forward to Monday (Friday-evening and weekend fills
    count in Monday's session). Local time is taken in ``exchange_tz``, so DST is respected.
    """
    expr = pl.col(ts) if isinstance(ts, str) else ts
    local = expr.dt.convert_time_zone(exchange_tz).dt.replace_time_zone(None)
    minutes = session_open.hour * 60 + session_open.minute
    return roll_weekend(session_day(local, pl.lit(minutes)))


def session_day(local: pl.Expr, open_minutes: pl.Expr) -> pl.Expr:
    """Days since 1970-01-01 of the session a naive local time belongs to (before weekends)."""
    # Shifting an evening-opening session's local time by (24h - open) lands every time at or
    # after the open on the next date; integer maths is much cheaper than date expressions.
    shift = pl.when(open_minutes >= _EVENING).then((1440 - open_minutes) * 60_000_000)
    micros = local.dt.cast_time_unit("us").cast(pl.Int64)
    return (micros + shift.otherwise(0)) // _DAY_US


def roll_weekend(day: pl.Expr) -> pl.Expr:
    """The ``pl.Date`` of a session day number, a Saturday or Sunday rolled forward to Monday."""
    weekday = (day + 3) % 7  # day 0, 1970-01-01, was a Thursday: Monday 0 ... Sunday 6
    rolled = day + (weekday >= 5).cast(pl.Int64) * (7 - weekday)  # Saturday +2, Sunday +1
    return rolled.cast(pl.Int32).cast(pl.Date)


def local_time(ts: str, tz_column: str, tzs: list[str]) -> pl.Expr:
    """Naive exchange-local time of UTC ``ts`` where each row names its zone in ``tz_column``."""
    branches = [
        pl.when(pl.col(tz_column) == tz).then(
            pl.col(ts).dt.convert_time_zone(tz).dt.replace_time_zone(None)
        )
        for tz in tzs
    ]
    return pl.coalesce(branches) if branches else pl.col(ts).dt.replace_time_zone(None)


def instrument_frame(instruments: InstrumentTable | pl.DataFrame) -> pl.DataFrame:
    """The spec rows (root, point_value, currency, exchange_tz, session_open_minutes, ...)."""
    if isinstance(instruments, InstrumentTable):
        return pl.DataFrame(instruments.as_rows())
    return instruments


def with_specs(frame: pl.DataFrame, instruments: InstrumentTable | pl.DataFrame) -> pl.DataFrame:
    """Join the instrument specs on ``root``; a root without a spec stops with ConfigError."""
    specs = instrument_frame(instruments).select(
        "root", "point_value", "currency", "exchange_tz", "session_open_minutes"
    )
    joined = frame.join(specs, on="root", how="left", maintain_order="left")
    missing = joined.filter(pl.col("point_value").is_null())["root"].unique().sort().to_list()
    if missing:
        raise ConfigError(
            f"no instrument spec for root(s) {', '.join(map(str, missing))}; add "
            "[instruments.<ROOT>] with tick_size, point_value, currency, exchange_tz and "
            "session_open to tradelake.toml."
        )
    return joined
