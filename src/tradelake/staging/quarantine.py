"""Rows that failed validation, kept with every original field and the reason.

Bad data is not an exception path (STYLE: Errors). A parser or validator that rejects a row
appends it here; the writer stores it under ``_quarantine/<table>/`` next to the good rows of the
same landing object, so nothing is ever dropped silently and every rejection is countable.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from tradelake.redaction import MASK, REDACTOR


@dataclass
class Quarantine:
    """Accumulates rejected rows of one table from one landing object.

    Every frame added is stringified so rows whose fields could not even be parsed keep their
    original text; ``rule`` names the rule that failed (a stable key to count by), ``reason``
    says why in words with the offending value, and ``row_number`` points into the source.
    """

    table: str
    frames: list[pl.DataFrame] = field(default_factory=list)

    def add(self, rows: pl.DataFrame, reason: str | pl.Expr, *, rule: str | pl.Expr) -> None:
        """Quarantine ``rows`` (any columns) with a reason and a rule name, fixed or per row."""
        if rows.height == 0:
            return
        reason_expr = pl.lit(reason) if isinstance(reason, str) else reason
        rule_expr = pl.lit(rule) if isinstance(rule, str) else rule
        text = rows.with_columns(reason_expr.alias("reason"), rule_expr.alias("rule")).select(
            pl.all().cast(pl.Utf8, strict=False)
        )
        self.frames.append(_mask_secrets(text))

    @property
    def count(self) -> int:
        return sum(frame.height for frame in self.frames)

    def by_reason(self) -> dict[str, int]:
        """Rejected rows per reason (the words, values included)."""
        return self._count("reason")

    def by_rule(self) -> dict[str, int]:
        """Rejected rows per rule: the data-quality result of a batch."""
        return self._count("rule")

    def frame(self) -> pl.DataFrame:
        """All quarantined rows as one text frame (``rule`` and ``reason`` last)."""
        if not self.frames:
            return pl.DataFrame(schema={"rule": pl.Utf8, "reason": pl.Utf8})
        combined = pl.concat(self.frames, how="diagonal")
        tail = ["rule", "reason"]
        return combined.select([c for c in combined.columns if c not in tail] + tail)

    def _count(self, column: str) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for frame in self.frames:
            counts.update(frame[column].to_list())
        return dict(sorted(counts.items()))


def _mask_secrets(text: pl.DataFrame) -> pl.DataFrame:
    """A provider that echoes its key in a row (an error item, a reason) must not write it to
    the quarantine: registered secrets are masked in every text column (:mod:`redaction`)."""
    secrets = sorted(REDACTOR.values, key=len, reverse=True)
    if not secrets:
        return text
    return text.with_columns(pl.all().str.replace_many(secrets, [MASK] * len(secrets)))
