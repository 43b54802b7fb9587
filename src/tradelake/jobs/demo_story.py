"""What ``tradelake demo`` tells a new user after its ingest: what went in, what the checks
caught in the problems planted in the demo data (and why), the totals and the open positions.
The figures are collected here (:meth:`Platform.demo <tradelake.platform.Platform.demo>`
returns them); :mod:`tradelake.cli.demo` prints them with the commands to try next.

Every figure comes from the same served tables the other commands read, so the story agrees
with them: the net total is the ``total`` row of ``pnl daily --by day``, the sum of
``pnl daily --json``'s ``net_pnl``; the open positions are ``tradelake positions`` as of the
last fill (historical demo data: "held" is measured to it, not to today).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from tradelake.analytics.totals import TOTAL_KEY
from tradelake.columns import json_row

if TYPE_CHECKING:
    from tradelake.platform import Platform

# The problems the demo plants, by file name: each is expected, and said to be planted.
DUPLICATE_OF = {"journal-en (1).xlsx": "journal-en.xlsx"}
BROKEN = "journal-export.xlsx"
CORRECTED = {"journal-en-corrected.xlsx": "journal-en.xlsx"}


@dataclass(frozen=True)
class Check:
    """One thing the pipeline caught: the file (or table) and what it did, in words."""

    subject: str
    caught: str


@dataclass(frozen=True)
class DemoStory:
    """The figures of the demo's summary (printed for people, returned for ``--json``)."""

    home: Path
    files: list[dict[str, Any]]
    checks: list[Check]
    unexpected: list[str]  # errors of files that were not planted to fail: real problems
    by_session: pl.DataFrame  # pnl_totals(by="day"): one row per session, then the totals
    round_trips: dict[str, Any]
    reconciliation: dict[str, int]
    positions: pl.DataFrame
    as_of: datetime | None

    def totals(self) -> list[dict[str, Any]]:
        """The ``total`` rows (one per currency) of :attr:`by_session`, typed for JSON."""
        rows = self.by_session.filter(pl.col("day") == TOTAL_KEY).iter_rows(named=True)
        return [json_row(row) for row in rows]

    def to_json(self) -> dict[str, Any]:
        return {
            "home": str(self.home),
            "files": self.files,
            "checks": [{"subject": c.subject, "caught": c.caught} for c in self.checks],
            "totals": self.totals(),
            "by_session": [json_row(row) for row in self.by_session.iter_rows(named=True)],
            "round_trips": self.round_trips,
            "reconciliation": self.reconciliation,
            "open_positions": [json_row(row) for row in self.positions.iter_rows(named=True)],
            "positions_as_of": self.as_of.isoformat() if self.as_of else None,
        }


def collect_story(platform: Platform, files: list[dict[str, Any]]) -> DemoStory:
    """Read the story's figures from the data home the demo just ingested into."""
    as_of = platform.features.query("SELECT max(timestamp) AS t FROM trades").item()
    trips = platform.features.query(
        "SELECT count(*) AS closed, count(*) FILTER (WHERE net_pnl > 0) AS won FROM round_trips"
    ).row(0, named=True)
    statuses = platform.features.query(
        "SELECT status, count(*) AS n FROM journal_reconciliation GROUP BY 1"
    )
    return DemoStory(
        home=platform.settings.home,
        files=files,
        checks=_checks(platform, files),
        unexpected=[f["error"] for f in files if f["error"] and Path(f["path"]).name != BROKEN],
        by_session=platform.pnl_totals("day"),
        round_trips={"closed": trips["closed"], "won": trips["won"]},
        reconciliation=dict(statuses.iter_rows()),
        positions=platform.positions(as_of=as_of),
        as_of=as_of,
    )


def _checks(platform: Platform, files: list[dict[str, Any]]) -> list[Check]:
    checks = []
    for row in files:
        name = Path(row["path"]).name
        if name in DUPLICATE_OF and row["status"] == "duplicate":
            checks.append(Check(name, f"the same bytes as {DUPLICATE_OF[name]}, dropped twice: "
                                      "recognised by content and not ingested again"))  # fmt: skip
        elif name == BROKEN and row["status"] == "error":
            checks.append(Check(name, f"a CSV file renamed to .xlsx: refused ({row['error']}); "
                                      "the other files went on"))  # fmt: skip
    corrected = platform.features.query(
        "SELECT count(*) FILTER (WHERE version > 1) AS fills FROM trades"
    ).item()
    for name, original in CORRECTED.items():
        if any(Path(f["path"]).name == name and f["status"] == "ingested" for f in files):
            changed = f"{corrected} fill" + ("s" if corrected != 1 else "")
            checks.append(Check(name, f"a corrected re-export of {original}: the {changed} "
                                      "it changed became version 2, the unchanged rest added "
                                      "nothing"))  # fmt: skip
    rules = _quarantine_rules(platform)
    if rules:
        listed = ", ".join(f"{rule} {n}" for rule, n in rules.most_common())
        checks.append(Check("quarantine", f"{sum(rules.values())} bad rows over the exports "
                                          f"kept aside with their reasons, by rule: {listed} "
                                          "(tradelake quality --rejected)"))  # fmt: skip
    return checks


def _quarantine_rules(platform: Platform) -> Counter[str]:
    """Rows quarantined per rule over every file of the demo."""
    counts: Counter[str] = Counter()
    frame = platform.data_quality(rejected_only=True, last=1000)
    for text in frame["quarantined_by_rule"].to_list():
        counts.update(json.loads(text))
    return counts
