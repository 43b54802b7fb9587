"""``tradelake demo``: a realistic desk day end to end on embedded defaults.

Generates ATAS exports the way traders produce them (an English and a French workbook, messy
cells, a corrected re-export, the same file dropped twice, and a CSV someone renamed to
``.xlsx``), ingests them through the real pipeline and summarises what the feature store now
serves. Deterministic: the same seed gives the same files, so running it twice shows that
re-ingesting changes nothing. :meth:`tradelake.platform.Platform.demo` runs it; what it tells
the user is :mod:`tradelake.jobs.demo_story`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

from tradelake.config import CONFIG_FILE, write_default_config
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
EXTRA_FILES = 2  # the re-dropped copy and the renamed CSV
# What Platform.demo's progress callback hears: each export written, then each file ingested.
DEMO_STEPS = 2 * len(DEMO_FILES) + EXTRA_FILES


def configure_home(home: Path) -> None:
    """A demo home without ``tradelake.toml`` gets the default one, in the demo's zone."""
    if not (home / CONFIG_FILE).exists():
        write_default_config(home, timezone=DEMO_TIMEZONE)


def write_demo_files(
    inbox: Path,
    *,
    fills: int,
    progress: Callable[[str], None] | None = None,
    stages: Callable[[str, float], None] | None = None,
) -> list[Path]:
    """The demo's input folder: three exports, one re-dropped copy and one broken file.

    ``stages`` hears as each export starts and how far it is, ``progress`` when it is written:
    generating is most of a large demo's time."""
    inbox.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in DEMO_FILES:
        path = inbox / spec.name
        within = partial(stages, f"generating {spec.name} ({fills:,} fills)") if stages else None
        if within:
            within(0.0)
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
                progress=within,  # the fraction of the export written
            )
        paths.append(path)
        if progress:
            progress(spec.name)
    copy = inbox / "journal-en (1).xlsx"
    shutil.copyfile(paths[0], copy)
    broken = inbox / "journal-export.xlsx"
    broken.write_bytes(atas_samples.csv_renamed("en"))
    return [*paths, copy, broken]
