"""Futures contracts: symbol parsing and the instrument spec table (tick, point value, session).

ATAS names instruments ``<root><month><year>@<exchange>``: ``MESZ5@CME_Ind``, ``NQZ5@CME``,
``CLF6@NYMEX``, sometimes with a leading ``#`` (``#MNQU6@CME``) or a ``#atas-id=...`` suffix.
The spec table carries what P&L and validation need: tick size (the price grid), point value
(currency per 1.0 of price per contract), currency, the exchange time zone and the session open
(CME Globex sessions open 17:00 Chicago time the evening *before* the trading date they belong to).
Built-in specs can be overridden or extended from ``[instruments.<ROOT>]`` in ``tradelake.toml``.

Each spec also bounds what validation accepts as sane (``max_qty`` contracts per fill or
journal row, ``max_price``): a fill of 10^15 contracts is a broken export, not a trade. The
defaults (:data:`DEFAULT_MAX_QTY`, :data:`DEFAULT_MAX_PRICE`) are broad on purpose; a desk that
really trades more sets ``max_qty`` for that root.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import time
from typing import Any

from tradelake.errors import ConfigError

MONTH_CODES = "FGHJKMNQUVXZ"
DEFAULT_MAX_QTY = 10_000  # contracts per fill (CME's largest single orders are a few thousand)
DEFAULT_MAX_PRICE = 10_000_000.0  # above every futures price quoted today, by orders of magnitude
MAX_PRICE_DECIMALS = 10  # a configured tick with no short decimal form (1/3) stops here

# Anchored at the end: "MESZ5XYZ" or "NQZ5 foo" is not a contract name (it was once read as
# MESZ5 / NQZ5). Exchange names may carry ATAS feed suffixes such as "_Ind", "-Globex", ".US".
_SYMBOL = re.compile(
    r"^#?(?P<root>[A-Z0-9]+?)(?P<month>[FGHJKMNQUVXZ])(?P<year>\d{1,2})"
    r"(?:@(?P<exchange>[A-Z0-9_.\-]+))?$",
)
_BARE = re.compile(r"^#?(?P<root>[A-Z0-9]+)(?:@(?P<exchange>[A-Z0-9_.\-]+))?$")
_ATAS_ID = re.compile(r"#atas-id", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedSymbol:
    """The parts of an ATAS instrument name. ``symbol`` is the contract, e.g. ``MESZ5``."""

    root: str
    month_code: str | None
    year: str | None
    exchange: str | None

    @property
    def symbol(self) -> str:
        return f"{self.root}{self.month_code or ''}{self.year or ''}"


def parse_symbol(name: str) -> ParsedSymbol:
    """Parse ``MESZ5@CME_Ind`` into root ``MES``, month ``Z``, year ``5``, exchange ``CME``.

    The exchange suffix after ``_`` (ATAS's feed name, e.g. ``_Ind``) is dropped; a
    ``#atas-id=...`` tail is ignored. A name without a month code is a root (continuous).
    """
    text = _ATAS_ID.split(name, maxsplit=1)[0].strip().upper()
    match = _SYMBOL.match(text)
    if match:
        exchange = match["exchange"]
        return ParsedSymbol(
            root=match["root"],
            month_code=match["month"],
            year=match["year"],
            exchange=exchange.split("_", 1)[0] if exchange else None,
        )
    bare = _BARE.match(text)
    if not bare:
        raise ValueError(f"not an instrument name: {name!r}")
    exchange = bare["exchange"]
    return ParsedSymbol(bare["root"], None, None, exchange.split("_", 1)[0] if exchange else None)


@dataclass(frozen=True)
class InstrumentSpec:
    """Contract terms of one futures root."""

    root: str
    tick_size: float
    point_value: float
    currency: str
    exchange: str
    exchange_tz: str
    session_open: time
    max_qty: int = DEFAULT_MAX_QTY
    max_price: float = DEFAULT_MAX_PRICE

    @property
    def tick_value(self) -> float:
        return self.tick_size * self.point_value

    @property
    def price_decimals(self) -> int:
        """Decimal places that write every price on this root's tick grid exactly."""
        return tick_decimals(self.tick_size)


def tick_decimals(tick_size: float) -> int:
    """The fewest decimal places that write ``tick_size``, and so every multiple of it, exactly:
    0.25 → 2, 0.005 → 3, 1/64 → 6, 0.0000005 → 7 (at most :data:`MAX_PRICE_DECIMALS`)."""
    for places in range(MAX_PRICE_DECIMALS):
        if math.isclose(round(tick_size, places), tick_size, rel_tol=1e-12, abs_tol=0.0):
            return places
    return MAX_PRICE_DECIMALS


def _cme(root: str, tick: float, point: float, exchange: str = "CME") -> InstrumentSpec:
    return InstrumentSpec(root, tick, point, "USD", exchange, "America/Chicago", time(17, 0))


def _eurex(root: str, tick: float, point: float) -> InstrumentSpec:
    return InstrumentSpec(root, tick, point, "EUR", "EUREX", "Europe/Berlin", time(1, 10))


BUILTIN_SPECS: dict[str, InstrumentSpec] = {
    spec.root: spec
    for spec in (
        _cme("ES", 0.25, 50.0),
        _cme("MES", 0.25, 5.0),
        _cme("NQ", 0.25, 20.0),
        _cme("MNQ", 0.25, 2.0),
        _cme("RTY", 0.1, 50.0),
        _cme("M2K", 0.1, 5.0),
        _cme("YM", 1.0, 5.0, "CBOT"),
        _cme("MYM", 1.0, 0.5, "CBOT"),
        _cme("ZN", 1 / 64, 1000.0, "CBOT"),
        _cme("ZB", 1 / 32, 1000.0, "CBOT"),
        _cme("ZF", 1 / 128, 1000.0, "CBOT"),
        _cme("CL", 0.01, 1000.0, "NYMEX"),
        _cme("MCL", 0.01, 100.0, "NYMEX"),
        _cme("NG", 0.001, 10000.0, "NYMEX"),
        _cme("GC", 0.1, 100.0, "COMEX"),
        _cme("MGC", 0.1, 10.0, "COMEX"),
        _cme("SI", 0.005, 5000.0, "COMEX"),
        _cme("6E", 0.00005, 125000.0),
        _cme("6B", 0.0001, 62500.0),
        _cme("6J", 0.0000005, 12500000.0),
        _eurex("FDAX", 0.5, 25.0),
        _eurex("FDXM", 1.0, 5.0),
        _eurex("FESX", 1.0, 10.0),
    )
}


class InstrumentTable:
    """Built-in specs overlaid with the user's ``[instruments.*]`` config."""

    def __init__(self, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._specs = dict(BUILTIN_SPECS)
        for root, fields in (overrides or {}).items():
            self._specs[root.upper()] = _apply_override(
                root.upper(), self._specs.get(root.upper()), fields
            )

    def get(self, root: str) -> InstrumentSpec | None:
        return self._specs.get(root.upper())

    def __contains__(self, root: object) -> bool:
        return isinstance(root, str) and root.upper() in self._specs

    def roots(self) -> list[str]:
        return sorted(self._specs)

    def bounds(self) -> dict[str, tuple[int, float]]:
        """``root -> (max_qty, max_price)``: what validation accepts as sane per root."""
        return {root: (s.max_qty, s.max_price) for root, s in self._specs.items()}

    def as_rows(self) -> list[dict[str, Any]]:
        """One dict per root, for joining specs onto frames."""
        return [
            {
                "root": s.root,
                "tick_size": s.tick_size,
                "point_value": s.point_value,
                "currency": s.currency,
                "exchange_tz": s.exchange_tz,
                "session_open_minutes": s.session_open.hour * 60 + s.session_open.minute,
            }
            for s in self._specs.values()
        ]


_FIELDS = (
    "tick_size",
    "point_value",
    "currency",
    "exchange",
    "exchange_tz",
    "session_open",
    "max_qty",
    "max_price",
)


def _apply_override(
    root: str, base: InstrumentSpec | None, fields: Mapping[str, Any]
) -> InstrumentSpec:
    values: dict[str, Any] = dict(fields)
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ConfigError(
            f"[instruments.{root}] has unknown key(s) {', '.join(unknown)}; "
            f"the keys are {', '.join(_FIELDS)}."
        )
    for name in ("tick_size", "point_value", "max_price"):
        if name in values:
            values[name] = _positive(root, name, values[name])
    if "max_qty" in values:
        values["max_qty"] = _positive_whole(root, "max_qty", values["max_qty"])
    if "session_open" in values:
        values["session_open"] = _parse_time(root, values["session_open"])
    if base is not None:
        return replace(base, **values)
    required = ("tick_size", "point_value", "currency", "exchange_tz", "session_open")
    missing = [name for name in required if name not in values]
    if missing:
        raise ConfigError(
            f"[instruments.{root}] is a new root and needs {', '.join(missing)}; "
            "add them to tradelake.toml."
        )
    values.setdefault("exchange", "")
    return InstrumentSpec(root=root, **values)


def _positive(root: str, name: str, value: Any) -> float:
    """A tick size or point value: a number > 0 (a zero tick would divide the tick-grid check)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not number > 0:
        raise ConfigError(f"[instruments.{root}] {name} {value!r} must be a number > 0.")
    return number


def _positive_whole(root: str, name: str, value: Any) -> int:
    """A bound in contracts: a whole number > 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"[instruments.{root}] {name} {value!r} must be a whole number > 0.")
    return value


def _parse_time(root: str, value: Any) -> time:
    """``"17:00"``, ``"17:00:00"`` or a TOML local time (``session_open = 17:00:00``)."""
    if isinstance(value, time):
        return value
    try:
        parts = [int(part) for part in str(value).split(":")]
        if len(parts) not in (2, 3):
            raise ValueError(value)
        return time(parts[0], parts[1], parts[2] if len(parts) == 3 else 0)
    except ValueError as exc:
        raise ConfigError(f"[instruments.{root}] session_open {value!r} must be HH:MM.") from exc
