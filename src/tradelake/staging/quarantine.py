"""Rows that failed validation, kept with every original field and the reason.

Bad data is not an exception path (STYLE: Errors). A parser or validator that rejects a row
appends it here; the writer stores it under ``_quarantine/<table>/`` next to the good rows of the
same landing object, so nothing is ever dropped silently and every rejection is countable.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import polars as pl


@dataclass
class Quarantine:
    """Accumulates rejected rows of one table from one landing object.

    Every frame added is stringified so rows whose fields could not even be parsed keep their
    original text; ``reason`` says which rule failed and ``row_number`` points into the source.
    """

    table: str
    frames: list[pl.DataFrame] = field(default_factory=list)

    def add(self, rows: pl.DataFrame, reason: str | pl.Expr) -> None:
        """Quarantine ``rows`` (any columns) with a fixed reason or a per-row reason expression."""
        if rows.height == 0:
            return
        reason_expr = pl.lit(reason) if isinstance(reason, str) else reason
        text = rows.with_columns(reason_expr.alias("reason")).select(
            pl.all().cast(pl.Utf8, strict=False)
        )
        self.frames.append(text)

    @property
    def count(self) -> int:
        return sum(frame.height for frame in self.frames)

    def by_reason(self) -> dict[str, int]:
        """Rejected rows per reason: the data-quality result of a batch."""
        counts: Counter[str] = Counter()
        for frame in self.frames:
            counts.update(frame["reason"].to_list())
        return dict(counts)

    def frame(self) -> pl.DataFrame:
        """All quarantined rows as one text frame (``reason`` last)."""
        if not self.frames:
            return pl.DataFrame({"reason": []}, schema={"reason": pl.Utf8})
        combined = pl.concat(self.frames, how="diagonal")
        return combined.select([c for c in combined.columns if c != "reason"] + ["reason"])
