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
from functools import partial
from pathlib import Path
from typing import Any, Literal

from tradelake.config import CONFIG_FILE, write_default_config
from tradelake.console import Console, shown
from tradelake.jobs.demo_story import collect_story, print_story
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
    """Write the demo exports into ``input/``, ingest them, tell the story
    (:mod:`tradelake.jobs.demo_story`) and return it for ``--json``."""
    home = platform.settings.home
    if not (home / CONFIG_FILE).exists():
        write_default_config(home, timezone=DEMO_TIMEZONE)
    inbox = platform.settings.input_dir
    with console.progress(len(DEMO_FILES), "generating ATAS exports") as bar:
        paths = write_demo_files(inbox, fills=fills, progress=bar, stages=bar.stage)
    console.info(
        f"generated {len(paths)} files in {shown(inbox)}: {len(DEMO_FILES)} ATAS exports of "
        f"{fills:,} fills (English, French, and a corrected re-export of the English one), "
        "a second copy of the English export and a CSV file renamed to .xlsx"
    )
    with console.progress(len(paths), "ingesting") as bar:
        report = platform.ingest(paths, tz=DEMO_TIMEZONE, progress=bar, stages=bar.stage)
    story = collect_story(platform, [result.to_dict() for result in report.files])
    if not console.json_mode:
        print_story(console, story)
    return story.to_json()


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
