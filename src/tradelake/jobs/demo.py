"""``tradelake demo``: a realistic desk day end to end on embedded defaults.

Generates ATAS exports the way traders produce them (an English and a French workbook, messy
cells, a corrected re-export, the same file dropped twice, and a CSV someone renamed to
``.xlsx``), ingests them through the real pipeline and summarises what the feature store now
serves. Deterministic: the same seed gives the same files, so running it twice shows that
re-ingesting changes nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl

from tradelake.columns import json_row
from tradelake.config import CONFIG_FILE, write_default_config
from tradelake.console import Console, rows_table
from tradelake.platform import Platform
from tradelake.sources import atas_samples

DEMO_TIMEZONE = "Europe/Paris"


@dataclass(frozen=True)
class DemoFile:
    name: str
    seed: int
    language: Literal["en", "fr"]
    accounts: tuple[str, ...]
    correction: Literal["price", "commission"] | None = None


DEMO_FILES = (
    DemoFile("journal-en.xlsx", 7, "en", ("SIM-1042", "APEX-88731")),
    DemoFile("journal-fr.xlsx", 11, "fr", ("PARIS-2201",)),
    DemoFile("journal-en-corrected.xlsx", 7, "en", ("SIM-1042", "APEX-88731"), "price"),
)


def run_demo(platform: Platform, *, fills: int, console: Console) -> dict[str, Any]:
    """Write the demo exports into ``input/``, ingest them, print and return a summary."""
    home = platform.settings.home
    if not (home / CONFIG_FILE).exists():
        write_default_config(home, timezone=DEMO_TIMEZONE)
    inbox = platform.settings.input_dir
    with console.progress(len(DEMO_FILES), "generating ATAS exports") as bar:
        paths = write_demo_files(inbox, fills=fills, progress=bar, stages=bar.stage)
    console.info(f"generated {len(paths)} ATAS exports in {inbox}")
    with console.progress(len(paths), "ingesting") as bar:
        report = platform.ingest(paths, tz=DEMO_TIMEZONE, progress=bar, stages=bar.stage)
    files = [result.to_dict() for result in report.files]
    daily = platform.daily_pnl()
    overall = platform.statistics("all")
    recon = platform.sql(
        "SELECT status, count(*) AS trades FROM journal_reconciliation GROUP BY 1 ORDER BY 1"
    )
    if not console.json_mode:
        _print_summary(console, files, daily, overall, recon, home)
    return {
        "home": str(home),
        "files": files,
        "daily_pnl": [json_row(row) for row in daily.iter_rows(named=True)],
        "statistics": [json_row(row) for row in overall.iter_rows(named=True)],
        "reconciliation": [json_row(row) for row in recon.iter_rows(named=True)],
    }


def write_demo_files(
    inbox: Path,
    *,
    fills: int,
    progress: Callable[[str], None] | None = None,
    stages: Callable[[str, float], None] | None = None,
) -> list[Path]:
    """The demo's input folder: three exports, one re-dropped copy and one broken file.

    ``stages`` hears as each export starts and ``progress`` as it is written: generating is
    most of a large demo's time."""
    inbox.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in DEMO_FILES:
        path = inbox / spec.name
        if stages:
            stages(f"generating {spec.name} ({fills:,} fills)", 0.0)
        if not path.exists():
            atas_samples.write_workbook(
                path,
                fills=fills,
                seed=spec.seed,
                language=spec.language,
                timezone=DEMO_TIMEZONE,
                accounts=spec.accounts,
                mess=True,
                correction=spec.correction,
            )
        paths.append(path)
        if progress:
            progress(spec.name)
    copy = inbox / "journal-en (1).xlsx"
    shutil.copyfile(paths[0], copy)
    broken = inbox / "journal-export.xlsx"
    broken.write_bytes(atas_samples.csv_renamed("en"))
    return [*paths, copy, broken]


def _print_summary(
    console: Console,
    files: list[dict[str, Any]],
    daily: pl.DataFrame,
    overall: pl.DataFrame,
    recon: pl.DataFrame,
    home: Path,
) -> None:
    for row in files:
        if row["error"]:
            console.error(row["error"])
    keys = ("path", "status", "rows", "quarantined")
    shown = [
        {k: Path(v).name if k == "path" else v for k, v in r.items() if k in keys} for r in files
    ]
    console.frame(rows_table(shown), title="Ingest")
    console.frame(daily.tail(10), title="Daily P&L, last 10 session rows")
    console.frame(_vertical(overall), title="Journal statistics (all trades)")
    console.frame(recon, title="Round trips vs ATAS Journal")
    console.info(
        f"\nData home: {home}. Try:\n"
        f"  tradelake pnl daily --home {home}\n"
        f"  tradelake stats --by instrument --home {home}\n"
        f'  tradelake sql "SELECT * FROM round_trips LIMIT 5" --home {home}'
    )


def _vertical(frame: pl.DataFrame) -> pl.DataFrame:
    """One metric per line: a wide one-row table reads badly in a terminal."""
    columns = [c for c in frame.columns if c != "key"]
    text = frame.select(
        [pl.col(c).round(2) if frame.schema[c].is_float() else pl.col(c) for c in columns]
    )
    return pl.DataFrame(
        {
            "metric": columns,
            **{f"value {i + 1}": [str(v) for v in row] for i, row in enumerate(text.rows())},
        }
    )
