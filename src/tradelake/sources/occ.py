"""OCC option symbols (the OSI format every US options feed uses), parsed and formatted.

The OSI symbol is ``root`` (1–6 characters) + expiry ``YYMMDD`` + ``C``/``P`` + the strike
times 1000 as 8 digits: ``AAPL261016C00350000`` is the AAPL 2026-10-16 350 call. In the
21-character form the root is padded with spaces to 6 (``AAPL  261016C00350000``); feeds mostly
send the compact form. Roots may end in a digit after corporate actions (``AAPL1``) or carry a
class letter (``SPXW`` weeklies, ``BRKB``), so the symbol is read from the right: its last 15
characters are fixed width. Years are two digits and read as 20YY.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import polars as pl

OCC_PATTERN = r"^(?:O:)?([A-Z0-9.]{1,6})\s*(\d{6})([CP])(\d{8})$"
_OCC = re.compile(OCC_PATTERN)
MAX_STRIKE = 99_999.999


@dataclass(frozen=True)
class OccSymbol:
    """One option contract: root, expiry date, right (``C``/``P``), strike in currency."""

    root: str
    expiry: date
    right: str
    strike: float

    def compact(self) -> str:
        """``AAPL261016C00350000``."""
        return format_occ(self.root, self.expiry, self.right, self.strike)


def format_occ(root: str, expiry: date, right: str, strike: float, *, padded: bool = False) -> str:
    """The OSI symbol; ``padded`` gives the 21-character form with the root padded to 6."""
    if not 1 <= len(root) <= 6 or right not in ("C", "P") or not 0 < strike <= MAX_STRIKE:
        raise ValueError(f"cannot form an OCC symbol from {root!r} {expiry} {right} {strike}")
    if not 2000 <= expiry.year <= 2099:
        raise ValueError(f"OCC symbols carry two-digit years; {expiry} is out of range")
    head = root.ljust(6) if padded else root
    return f"{head}{expiry:%y%m%d}{right}{round(strike * 1000):08d}"


def parse_occ(symbol: str) -> OccSymbol:
    """Parse the compact or padded OSI form; raises ``ValueError`` naming the symbol."""
    match = _OCC.match(symbol.strip().upper())
    if match is None:
        raise ValueError(f"{symbol!r} is not an OCC option symbol (ROOT YYMMDD C|P 8-digit strike)")
    root, yymmdd, right, strike = match.groups()
    try:
        expiry = date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
    except ValueError as exc:
        raise ValueError(f"{symbol!r} has an impossible expiry {yymmdd}") from exc
    return OccSymbol(root, expiry, right, int(strike) / 1000)


def occ_columns(symbol: pl.Expr) -> list[pl.Expr]:
    """Vectorised :func:`parse_occ`: ``root, expiry, right, strike`` (NULL where unparseable).

    Also returns ``symbol`` normalised to the compact form, which is the natural key.
    """
    text = symbol.str.strip_chars().str.to_uppercase()
    part = [text.str.extract(OCC_PATTERN, i) for i in (1, 2, 3, 4)]
    compact = pl.concat_str(part)
    return [
        compact.alias("symbol"),
        part[0].alias("root"),
        pl.concat_str([pl.lit("20"), part[1]]).str.to_date("%Y%m%d", strict=False).alias("expiry"),
        part[2].alias("right"),
        (part[3].cast(pl.Int64, strict=False) / 1000).alias("strike"),
    ]
