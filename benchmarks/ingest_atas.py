"""Time the end-to-end ATAS ingest against pandas/openpyxl and against a bare fastexcel read.

Run: ``python benchmarks/ingest_atas.py`` (200,000 fills, pandas included: about 2 minutes),
or ``python benchmarks/ingest_atas.py --fills 20000 --skip-pandas`` for a quick look.

The export is written by :func:`tradelake.sources.atas_samples.write_workbook` (English,
Europe/Paris) and cached under ``--workdir`` keyed by size and seed, because writing 200,000
fills takes about 16 s. Then, ``--repeat`` times, in an order that rotates each round so every
contender sees the same machine load, and keeping the best run of each:

- ``ours``: ``Platform.open(fresh_home).ingest([path], tz="Europe/Paris")``: land, parse,
  validate, stage and refresh the feature store, on a fresh data home each time;
- ``ours, by stage``: the same work with the job's steps called one after another and timed
  (land, parse, validate, stage, refresh) on another fresh home: the breakdown. The job
  overlaps them (the Journal sheet is staged while the Executions sheet is read, partition
  files are written behind while the refresh computes), so the sum exceeds the end-to-end time;
- ``bare read``: ``fastexcel.read_excel(bytes)`` loading the Executions and the Journal sheet
  ``.to_polars()``: the floor for a parser that must read both sheets (the Executions-only
  read is printed for information);
- ``pandas``: ``pandas.read_excel(engine="openpyxl")`` of both sheets, then ``to_parquet`` of
  each: what a plain script would do (about 26 s at 200,000 fills; ``--skip-pandas``).

One untimed warm-up of ours and of the bare read runs first (imports, first-call setup).
Targets: ours at most 1.5x the bare two-sheet read, and at least 10x faster than pandas.

``--mode process`` (or ``both``, the default) also times whole processes, as a user meets
them, start-up and imports included: ``tradelake ingest FILE --home <fresh> --tz ...`` against
``python -c "polars.read_excel(FILE, sheet_name=[Executions, Journal])"`` (target: at most
1.5x), and ``tradelake --help`` (target: at most 0.3 s) beside ``python -c pass``. The
processes run with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` removed: this VM sets it,
an installed tradelake never compiles its sources at start-up) after one untimed warm-up each.

The fresh data homes are removed when the whole run ends, not after each contender: an ingest
creates about 900 files and folders, and on ext4 without a journal (this VM's root disk) the
kernel skips inodes deleted in the last minute or so when it allocates new ones, so removing
a home just before the next timed ingest makes each of its file creations scan past the
thousand dead inodes: it measured up to 1 ms per file and 0.3 s per ingest, a cost of the
benchmark's own cleanup rather than of ingesting.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import fastexcel
import polars as pl
from rich.console import Console
from rich.table import Table

from tradelake.jobs import ingest as ingest_job
from tradelake.platform import Platform
from tradelake.sources import atas_samples
from tradelake.sources.base import source_for_path
from tradelake.staging.validate import validate_frame
from tradelake.tables import TABLES

TIMEZONE = "Europe/Paris"
LANGUAGE = "en"
STAGES = ("land", "parse", "validate", "stage", "refresh")
TARGET_VS_BARE = 1.5
TARGET_VS_PANDAS = 10.0
TARGET_HELP_S = 0.3
MODES = ("in-process", "process", "both")
_, JOURNAL_SHEET, EXECUTIONS_SHEET = atas_samples.LANGUAGES[LANGUAGE].sheets


def cached_export(workdir: Path, fills: int, seed: int, console: Console) -> Path:
    """The export for (fills, seed), written once (temp name, then renamed) and reused."""
    path = workdir / f"atas-{LANGUAGE}-{fills}-fills-seed{seed}.xlsx"
    if path.exists():
        return path
    console.print(f"writing {path} ({fills:,} fills) once; later runs reuse it ...")
    start = time.perf_counter()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.xlsx")
    atas_samples.write_workbook(tmp, fills=fills, seed=seed, language=LANGUAGE, timezone=TIMEZONE)
    os.replace(tmp, path)
    console.print(f"  written in {time.perf_counter() - start:.1f} s")
    return path


@contextmanager
def scratch_dir(workdir: Path) -> Iterator[Path]:
    """A folder under ``workdir`` for this run's data homes, removed when the run ends (see
    the module docstring for why not after each contender)."""
    path = Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def fresh_dir(scratch: Path, prefix: str) -> Path:
    """A new empty folder under ``scratch``."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=scratch))


def ours(path: Path, home: Path) -> float:
    """Wall time of one end-to-end ``Platform.ingest`` on an empty data home."""
    start = time.perf_counter()
    report = Platform.open(home).ingest([path], tz=TIMEZONE)
    elapsed = time.perf_counter() - start
    if not report.ok or report.files[0].status != "ingested":
        raise SystemExit(f"ingest failed: {[r.to_dict() for r in report.files]}")
    return elapsed


def ours_by_stage(path: Path, home: Path) -> dict[str, float]:
    """The job's steps (as ``jobs.ingest.process_object`` runs them), each timed on its own."""
    platform_ = Platform.open(home)
    env = platform_.ingest_env
    source = source_for_path(path)
    times: dict[str, float] = {}

    @contextmanager
    def stage(name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        times[name] = time.perf_counter() - start

    with stage("land"):
        data = path.read_bytes()
        obj = ingest_job.land(env, source, path, data, timezone=TIMEZONE)
    with stage("parse"):
        context = ingest_job.parse_context(obj, env.instruments)
        parsed = source.parse(data, obj.original_name, context)
    with stage("validate"):
        valid = {
            table: validate_frame(
                TABLES[table], frame, parsed.quarantine[table], env.instruments, contract=False
            )
            for table, frame in parsed.frames.items()
        }
    with stage("stage"):
        staged = {
            table: env.staging.stage(TABLES[table], frame, obj, parsed.quarantine[table])
            for table, frame in valid.items()
        }
        env.staging.record_quality(obj, staged)
        env.staging.mark_processed(obj.landing_id, {t: r.staged for t, r in staged.items()})
    with stage("refresh"):
        platform_.features.refresh()
    return times


def bare_read(path: Path, sheets: tuple[str, ...]) -> float:
    """Wall time of reading the file and loading ``sheets`` into polars with fastexcel."""
    start = time.perf_counter()
    reader = fastexcel.read_excel(path.read_bytes())
    for sheet in sheets:
        reader.load_sheet(sheet).to_polars()
    return time.perf_counter() - start


def pandas_baseline(path: Path, out: Path) -> float:
    """Wall time of ``pandas.read_excel`` (openpyxl) of both sheets and ``to_parquet`` of each."""
    import pandas as pd

    start = time.perf_counter()
    frames = pd.read_excel(path, sheet_name=[EXECUTIONS_SHEET, JOURNAL_SHEET], engine="openpyxl")
    for name, frame in frames.items():
        frame.to_parquet(out / f"{name}.parquet")
    return time.perf_counter() - start


def process_env() -> dict[str, str]:
    """The environment of the timed processes: this one, with bytecode caching allowed."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    return env


def timed_process(argv: list[str], env: dict[str, str]) -> float:
    """Wall time of one whole process (fails loudly if it fails)."""
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed ({done.returncode}): {done.stderr.decode()[-800:]}")
    return elapsed


def process_commands(path: Path, scratch: Path) -> dict[str, Callable[[], list[str]]]:
    """Each whole-process contender's command line (a fresh data home for every ingest)."""
    read = (
        "import sys, polars as pl; "
        f"pl.read_excel(sys.argv[1], sheet_name=[{EXECUTIONS_SHEET!r}, {JOURNAL_SHEET!r}])"
    )
    python = sys.executable
    return {
        "ingest": lambda: [
            python, "-m", "tradelake", "ingest", str(path), "--home",
            str(fresh_dir(scratch, "proc-")), "--tz", TIMEZONE, "--json",
        ],
        "bare_read": lambda: [python, "-c", read, str(path)],
        "help": lambda: [python, "-m", "tradelake", "--help"],
        "python": lambda: [python, "-c", "pass"],
    }  # fmt: skip


def run_processes(args: argparse.Namespace, path: Path, scratch: Path) -> dict[str, Any]:
    """Whole-process times: one warm-up each, then ``--repeat`` rotating rounds, best kept."""
    env = process_env()
    commands = process_commands(path, scratch)
    for command in commands.values():
        timed_process(command(), env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for round_ in range(args.repeat):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(timed_process(commands[name](), env))
    best = {name: min(values) for name, values in times.items()}
    # Each round runs every contender back to back: the median of the rounds' own ratios is
    # steadier than best against best when other jobs load the machine in bursts.
    ratios = [i / b for i, b in zip(times["ingest"], times["bare_read"], strict=True)]
    return {
        "times_s": times,
        "best_s": best,
        "median_s": {name: statistics.median(values) for name, values in times.items()},
        "ingest_vs_bare_read": best["ingest"] / best["bare_read"],
        "ingest_vs_bare_read_median_of_rounds": statistics.median(ratios),
        "targets": {"ingest_vs_bare_read_at_most": TARGET_VS_BARE, "help_s_at_most": TARGET_HELP_S},
    }


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """Warm up, then time every contender ``--repeat`` times in a rotating order."""
    load_before = round(os.getloadavg()[0], 2)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    path = cached_export(workdir, args.fills, args.seed, console)
    processes = None
    with scratch_dir(workdir) as scratch:
        if args.mode in ("process", "both"):
            processes = run_processes(args, path, scratch)
        if args.mode == "process":
            return _machine_only(args, path, load_before) | {"processes": processes}
        times, stage_runs = _timed_rounds(args, path, scratch, console)
    best = {name: min(values) for name, values in times.items()}
    stages = {name: min(run[name] for run in stage_runs) for name in STAGES}
    ratios = {"ours_vs_bare": best["ours"] / best["bare"]}
    if "pandas" in best:
        ratios["pandas_vs_ours"] = best["pandas"] / best["ours"]
    return _machine_only(args, path, load_before) | {
        "processes": processes,
        "times_s": times,
        "best_s": best,
        "stages_best_s": stages,
        "stage_runs_s": stage_runs,
        "ratios": ratios,
        "targets": {
            "ours_vs_bare_at_most": TARGET_VS_BARE,
            "pandas_vs_ours_at_least": TARGET_VS_PANDAS,
        },
    }


def _machine_only(args: argparse.Namespace, path: Path, load_before: float) -> dict[str, Any]:
    """What was measured on what: the run's parameters and the machine."""
    return {
        "fills": args.fills,
        "seed": args.seed,
        "repeat": args.repeat,
        "mode": args.mode,
        "export": str(path),
        "export_bytes": path.stat().st_size,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "polars": pl.__version__,
            "duckdb": duckdb.__version__,
            "fastexcel": fastexcel.__version__,
            # 1-minute load average before and after: other work on the machine skews ratios.
            "load_before_after": [load_before, round(os.getloadavg()[0], 2)],
        },
    }


def _timed_rounds(
    args: argparse.Namespace, path: Path, scratch: Path, console: Console
) -> tuple[dict[str, list[float]], list[dict[str, float]]]:
    """The warm-up, then ``--repeat`` rounds of every contender (rotating the order)."""
    ours(path, fresh_dir(scratch, "warmup-"))
    bare_read(path, (EXECUTIONS_SHEET, JOURNAL_SHEET))
    times: dict[str, list[float]] = {"ours": [], "bare": [], "bare_executions": []}
    stage_runs: list[dict[str, float]] = []
    if not args.skip_pandas:
        times["pandas"] = []

    def run_ours() -> None:
        times["ours"].append(ours(path, fresh_dir(scratch, "home-")))

    def run_stages() -> None:
        stage_runs.append(ours_by_stage(path, fresh_dir(scratch, "home-")))

    def run_bare() -> None:
        times["bare"].append(bare_read(path, (EXECUTIONS_SHEET, JOURNAL_SHEET)))
        times["bare_executions"].append(bare_read(path, (EXECUTIONS_SHEET,)))

    def run_pandas() -> None:
        times["pandas"].append(pandas_baseline(path, fresh_dir(scratch, "pandas-")))

    contenders: list[Callable[[], None]] = [run_ours, run_bare, run_stages]
    if not args.skip_pandas:
        contenders.append(run_pandas)
    for round_ in range(args.repeat):
        shift = round_ % len(contenders)
        for contender in contenders[shift:] + contenders[:shift]:
            contender()
        if not args.json:
            console.print(f"round {round_ + 1}/{args.repeat} done")
    return times, stage_runs


def report(result: dict[str, Any], console: Console) -> None:
    """The timings, ratios and per-stage breakdown as tables."""
    machine = result["machine"]
    console.print(
        f"{result['fills']:,} fills, export {result['export_bytes'] / 1e6:.1f} MB, "
        f"best of {result['repeat']}; {machine['cpus']} CPUs, Python {machine['python']}, "
        f"polars {machine['polars']}, duckdb {machine['duckdb']}, "
        f"fastexcel {machine['fastexcel']}; load average {machine['load_before_after'][0]} "
        f"before, {machine['load_before_after'][1]} after"
    )
    if result.get("processes"):
        report_processes(result["processes"], console)
    if "best_s" not in result:
        return
    best, times, ratios = result["best_s"], result["times_s"], result["ratios"]
    labels = {
        "ours": "ours: Platform.ingest (land+parse+validate+stage+refresh)",
        "bare": "bare read: fastexcel Executions + Journal .to_polars()",
        "bare_executions": "bare read: fastexcel Executions only (information)",
        "pandas": "pandas.read_excel(openpyxl) both sheets + to_parquet",
    }
    table = Table(title="end to end")
    for column in ("contender", "best (s)", "runs (s)", "vs ours"):
        table.add_column(column, justify="left" if column == "contender" else "right")
    for name, label in labels.items():
        if name in best:
            runs = " ".join(f"{t:.3f}" for t in times[name])
            table.add_row(label, f"{best[name]:.3f}", runs, f"{best[name] / best['ours']:.2f}x")
    console.print(table)

    stages = Table(title="ours, by stage (best of each stage)")
    for column in ("stage", "best (s)", "runs (s)", "share"):
        stages.add_column(column, justify="left" if column == "stage" else "right")
    total = sum(result["stages_best_s"].values())
    for name in STAGES:
        runs = " ".join(f"{run[name]:.3f}" for run in result["stage_runs_s"])
        value = result["stages_best_s"][name]
        stages.add_row(name, f"{value:.3f}", runs, f"{value / total:.0%}")
    stages.add_row("sum", f"{total:.3f}", "", "")
    console.print(stages)

    vs_bare = ratios["ours_vs_bare"]
    verdict = "meets" if vs_bare <= TARGET_VS_BARE else "misses"
    console.print(
        f"ours / bare two-sheet read: {vs_bare:.2f}x ({verdict} the target <= {TARGET_VS_BARE}x)"
    )
    if "pandas_vs_ours" in ratios:
        speedup = ratios["pandas_vs_ours"]
        verdict = "meets" if speedup >= TARGET_VS_PANDAS else "misses"
        console.print(
            f"pandas / ours: {speedup:.1f}x faster ({verdict} the target >= {TARGET_VS_PANDAS}x)"
        )


def report_processes(processes: dict[str, Any], console: Console) -> None:
    """Whole-process times (start-up and imports included) and their ratio."""
    best, times = processes["best_s"], processes["times_s"]
    labels = {
        "ingest": "tradelake ingest FILE (whole process)",
        "bare_read": "python -c polars.read_excel(FILE, both sheets) (baseline)",
        "help": "tradelake --help",
        "python": "python -c pass (information)",
    }
    table = Table(title="whole processes")
    median = processes["median_s"]
    for column in ("process", "best (s)", "median (s)", "runs (s)"):
        table.add_column(column, justify="left" if column == "process" else "right")
    for name, label in labels.items():
        runs = " ".join(f"{t:.3f}" for t in times[name])
        table.add_row(label, f"{best[name]:.3f}", f"{median[name]:.3f}", runs)
    console.print(table)
    ratio = processes["ingest_vs_bare_read"]
    verdict = "meets" if ratio <= TARGET_VS_BARE else "misses"
    console.print(
        f"process ingest / process bare read: {ratio:.2f}x best against best, "
        f"{processes['ingest_vs_bare_read_median_of_rounds']:.2f}x median of the rounds' "
        f"ratios ({verdict} the target <= {TARGET_VS_BARE}x)"
    )
    verdict = "meets" if best["help"] <= TARGET_HELP_S else "misses"
    help_s = best["help"]
    console.print(f"tradelake --help: {help_s:.3f} s ({verdict} the target <= {TARGET_HELP_S} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=200_000, help="fills in the export")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated export")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs each; best is kept")
    parser.add_argument(
        "--workdir",
        default=str(Path(tempfile.gettempdir()) / "tradelake-bench"),
        help="where the export is cached and the fresh data homes are made",
    )
    parser.add_argument("--skip-pandas", action="store_true", help="skip the ~26 s baseline")
    parser.add_argument("--json", action="store_true", help="print the results as JSON only")
    parser.add_argument(
        "--mode", choices=MODES, default="both", help="in-process timings, whole processes, or both"
    )
    args = parser.parse_args()
    console = Console(stderr=args.json, width=120)
    result = run(args, console)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        report(result, console)


if __name__ == "__main__":
    main()
