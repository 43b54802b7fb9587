"""Row rules of the pulled-feed tables (macro, news, options): bad rows go to quarantine.

Bad data is not an exception path (STYLE: Errors): a parser converts a whole payload, then
:func:`check_rows` moves every row that breaks a rule into the :class:`Quarantine` with a reason
naming the rule and the offending value, and returns exactly the table's content columns.

Three kinds of rule, tried in this order (a row gets the first reason that applies):

1. *Unparseable*: a parser keeps the producer's text of a converted column ``c`` in
   ``c__text`` (NULL where the producer marks the value missing, e.g. FRED's ``"."``). A row
   whose ``c`` is NULL while ``c__text`` is not could not be converted.
2. *Required*: columns a row is useless without (a date, a strike, a headline).
3. *Table rules*: cross-field sanity (``bid <= ask``, ``realtime_end >= realtime_start``, ...).

Finally :func:`collapse_duplicates` handles a natural key repeated inside one payload: an
identical repeat is collapsed (and counted in the parse notes), a conflicting one is
quarantined, because the writer versions against *other* landing objects only.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tradelake.staging.quarantine import Quarantine
from tradelake.tables import TableSpec

TEXT_SUFFIX = "__text"
_REASON = "__reason"
_RULE_NAME = "__rule"


@dataclass(frozen=True)
class RowRule:
    """A rule: ``failing`` is true for rows that break it; ``reason`` says why, per row;
    ``name`` is the stable key the data-quality result counts rejections by."""

    name: str
    failing: pl.Expr
    reason: pl.Expr


REQUIRED: dict[str, tuple[str, ...]] = {
    "macro_raw": ("series_id", "observation_date", "realtime_start", "realtime_end", "learned_ts"),
    "news_raw": ("uuid", "headline", "published"),
    "options_raw": ("underlying", "symbol", "expiry", "strike", "right", "quote_ts"),
}


def _rule(name: str, failing: pl.Expr, template: str, *columns: str) -> RowRule:
    shown = (pl.col(c).cast(pl.Utf8).fill_null("NULL") for c in columns)
    return RowRule(name, failing, pl.format(template, *shown))


FEED_RULES: dict[str, tuple[RowRule, ...]] = {
    "macro_raw": (
        _rule(
            "realtime_end_before_start",
            pl.col("realtime_end") < pl.col("realtime_start"),
            "realtime_end {} before realtime_start {}",
            "realtime_end",
            "realtime_start",
        ),
    ),
    "news_raw": (
        _rule(
            "sentiment_out_of_range",
            ~pl.col("sentiment").is_between(-1.0, 1.0),
            "sentiment {} outside [-1, 1]",
            "sentiment",
        ),
    ),
    "options_raw": (
        _rule("strike_not_positive", pl.col("strike") <= 0, "strike {} is not positive", "strike"),
        _rule(
            "right_invalid", ~pl.col("right").is_in(["C", "P"]), "right {} is not C or P", "right"
        ),
        _rule(
            "negative_quote",
            (pl.col("bid") < 0) | (pl.col("ask") < 0),
            "negative quote bid {} ask {}",
            "bid",
            "ask",
        ),
        # An ask of 0 is "no offer" on Tradier and CBOE, not a crossed market.
        _rule(
            "crossed_quote",
            (pl.col("ask") > 0) & (pl.col("bid") > pl.col("ask")),
            "bid {} > ask {}",
            "bid",
            "ask",
        ),
        _rule(
            "negative_volume",
            (pl.col("volume") < 0) | (pl.col("open_interest") < 0),
            "negative volume {} or open interest {}",
            "volume",
            "open_interest",
        ),
        _rule(
            "underlying_price_not_positive",
            pl.col("underlying_price") <= 0,
            "underlying price {} not positive",
            "underlying_price",
        ),
    ),
}


def check_rows(spec: TableSpec, frame: pl.DataFrame, quarantine: Quarantine) -> pl.DataFrame:
    """Quarantine the rows of ``frame`` that break a rule; return the rest, content columns only.

    NULL never fails a table rule (a missing bid is not a crossed market); missing values that
    matter are caught by the *required* list.
    """
    reasons = [*_parse_rules(frame), *_required_rules(spec.name), *FEED_RULES.get(spec.name, ())]
    if frame.height == 0 or not reasons:
        return frame.select(list(spec.content))
    first_failure = pl.coalesce(
        [pl.when(rule.failing.fill_null(False)).then(rule.reason) for rule in reasons]
    )
    first_rule = pl.coalesce(
        [pl.when(rule.failing.fill_null(False)).then(pl.lit(rule.name)) for rule in reasons]
    )
    marked = frame.with_columns(
        first_failure.cast(pl.Utf8).alias(_REASON), first_rule.alias(_RULE_NAME)
    )
    bad = marked.filter(pl.col(_REASON).is_not_null())
    quarantine.add(
        bad.rename({_REASON: "reason"}).drop(_RULE_NAME),
        pl.lit(bad.get_column(_REASON)),
        rule=pl.lit(bad.get_column(_RULE_NAME)),
    )
    good = marked.filter(pl.col(_REASON).is_null())
    return good.select(list(spec.content))


def collapse_duplicates(
    spec: TableSpec, frame: pl.DataFrame, quarantine: Quarantine
) -> tuple[pl.DataFrame, list[str]]:
    """Keep the first row per natural key; quarantine later rows that disagree with it."""
    key = list(spec.natural_key)
    if frame.height == 0:
        return frame, []
    with_index = frame.with_row_index("__row")
    first = with_index.unique(subset=key, keep="first", maintain_order=True)
    later = with_index.join(first.select("__row"), on="__row", how="anti")
    if later.height == 0:
        return frame, []
    compare = list(spec.hash_columns)
    against = later.join(
        first.drop("__row"), on=key, how="left", suffix="__first", nulls_equal=True
    )
    same = pl.all_horizontal([pl.col(c).eq_missing(pl.col(f"{c}__first")) for c in compare])
    conflicting = against.filter(~same).select(later.columns).drop("__row")
    notes = []
    identical = later.height - conflicting.height
    if identical:
        notes.append(f"{spec.name}: {identical} repeated row(s) with the same key and content")
    quarantine.add(
        conflicting,
        f"duplicate {'/'.join(key)} in payload with different content",
        rule="conflicting_duplicate",
    )
    return first.drop("__row"), notes


def _parse_rules(frame: pl.DataFrame) -> list[RowRule]:
    rules = []
    for text_column in (c for c in frame.columns if c.endswith(TEXT_SUFFIX)):
        column = text_column.removesuffix(TEXT_SUFFIX)
        if column in frame.columns:
            rules.append(
                RowRule(
                    f"{column}_unparseable",
                    pl.col(column).is_null() & pl.col(text_column).is_not_null(),
                    pl.format(f"unparseable {column} '{{}}'", pl.col(text_column)),
                )
            )
    return rules


def _required_rules(table: str) -> list[RowRule]:
    return [
        RowRule(f"{column}_missing", pl.col(column).is_null(), pl.lit(f"missing {column}"))
        for column in REQUIRED.get(table, ())
    ]
