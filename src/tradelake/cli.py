"""``tradelake``: a thin command line over :class:`tradelake.platform.Platform`.

Every command unpacks its options, calls one platform method and prints through
:class:`tradelake.console.Console`; data commands take ``--json`` for scripting. Expected
failures print one line on stderr (no traceback) and exit non-zero.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from tradelake.config import resolve_home, write_default_config
from tradelake.console import Console, rows_table
from tradelake.errors import TradelakeError
from tradelake.platform import Platform

app = typer.Typer(
    help="tradelake: land, validate, stage and analyse a trading desk's data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
pnl_app = typer.Typer(help="Profit and loss from the feature store.", no_args_is_help=True)
app.add_typer(pnl_app, name="pnl")

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Data home (else $TRADELAKE_HOME, else the current directory)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")]
TzOpt = Annotated[
    str | None,
    typer.Option("--tz", help="Time zone of the exporting machine (overrides [sources.atas])."),
]

EXIT_FAILED = 1
EXIT_PARTIAL = 2


@contextmanager
def _command(json_mode: bool) -> Iterator[Console]:
    console = Console(json_mode=json_mode)
    try:
        yield console
    except TradelakeError as exc:
        console.error(str(exc))
        raise typer.Exit(EXIT_FAILED) from None


@app.command()
def init(
    home: HomeOpt = None,
    force: Annotated[bool, typer.Option(help="Rewrite an existing tradelake.toml.")] = False,
) -> None:
    """Create a data home with a commented default tradelake.toml and an input/ folder."""
    with _command(False) as console:
        root = resolve_home(home)
        target = write_default_config(root, overwrite=force)
        (root / "input").mkdir(exist_ok=True)
        console.info(f"wrote {target}; drop ATAS exports into {root / 'input'}")


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="ATAS .xlsx exports or folders of them.")],
    home: HomeOpt = None,
    tz: TzOpt = None,
    json: JsonOpt = False,
) -> None:
    """Land, parse, validate and stage files, then refresh the feature store.

    Exit code 0 when every file was ingested or was a duplicate, 2 when any file failed.
    """
    with _command(json) as console:
        platform = Platform.open(home)
        with console.progress(len(paths), "ingesting") as advance:
            report = platform.ingest(paths, tz=tz, progress=advance)
        _print_ingest(console, [r.to_dict() for r in report.files])
        if not report.ok:
            raise typer.Exit(EXIT_PARTIAL)


@app.command()
def watch(
    home: HomeOpt = None,
    tz: TzOpt = None,
    settle: Annotated[float, typer.Option(help="Seconds a file must stay unchanged.")] = 1.0,
) -> None:
    """Watch the input/ folder and ingest each export once it is completely written."""
    from tradelake.jobs.watch import watch as watch_folder

    with _command(False) as console:
        platform = Platform.open(home)
        folder = platform.settings.input_dir
        folder.mkdir(parents=True, exist_ok=True)
        console.info(f"watching {folder} (Ctrl-C to stop)")

        def handle(batch: list[Path]) -> None:
            report = platform.ingest(batch, tz=tz)
            _print_ingest(console, [r.to_dict() for r in report.files])

        watch_folder(folder, handle, settle_s=settle, should_stop=_stop_flag())


@app.command()
def replay(home: HomeOpt = None, json: JsonOpt = False) -> None:
    """Rebuild staging and the feature store from the landing zone alone."""
    with _command(json) as console:
        platform = Platform.open(home)
        total = len(platform.landing.list())
        with console.progress(total, "replaying") as advance:
            result = platform.replay(progress=advance)
        payload = {
            "objects": result.objects,
            "errors": [r.to_dict() for r in result.results if r.status == "error"],
        }
        if json:
            console.emit_json(payload)
        else:
            console.info(f"replayed {result.objects} landing objects")


@pnl_app.command("daily")
def pnl_daily(
    home: HomeOpt = None,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    date_from: Annotated[
        datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="First session date.")
    ] = None,
    date_to: Annotated[
        datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="Last session date.")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Daily P&L by trading session date, account and contract (gross, commission, net)."""
    with _command(json) as console:
        frame = Platform.open(home).daily_pnl(
            account=account, date_from=_date(date_from), date_to=_date(date_to)
        )
        console.frame(frame, title="Daily P&L by session")


@app.command()
def stats(
    home: HomeOpt = None,
    by: Annotated[str, typer.Option(help="all, account, instrument, weekday or hour.")] = "all",
    json: JsonOpt = False,
) -> None:
    """Journal statistics: win rate, profit factor, expectancy, drawdown, ..."""
    with _command(json) as console:
        console.frame(Platform.open(home).statistics(by), title=f"Journal statistics ({by})")


@app.command()
def reconcile(
    home: HomeOpt = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Also show matched trades.")] = False,
    json: JsonOpt = False,
) -> None:
    """Compare our round trips with the ATAS Journal sheet and list the differences."""
    with _command(json) as console:
        frame = Platform.open(home).reconciliation(differences_only=not all_rows)
        console.frame(frame, title="Round trips vs ATAS Journal")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL to run read-only on the feature store.")],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Run a read-only SQL query against the feature store."""
    with _command(json) as console:
        console.frame(Platform.open(home).sql(query))


@app.command()
def demo(
    home: Annotated[Path, typer.Option("--home", help="Where to build the demo data home.")] = Path(
        "tradelake-demo"
    ),
    fills: Annotated[int, typer.Option(help="Fills per generated export.")] = 2000,
    json: JsonOpt = False,
) -> None:
    """Generate realistic ATAS exports, ingest them and print a P&L summary."""
    from tradelake.jobs.demo import run_demo

    with _command(json) as console:
        summary = run_demo(Platform.open(home), fills=fills, console=console)
        if json:
            console.emit_json(summary)


def _print_ingest(console: Console, rows: list[dict[str, Any]]) -> None:
    if console.json_mode:
        console.emit_json(rows)
        return
    for row in rows:
        if row["error"]:
            console.error(row["error"])
    table_rows = [{k: row[k] for k in ("path", "status", "rows", "quarantined")} for row in rows]
    console.frame(rows_table(table_rows), title="Ingest")
    for row in rows:
        for note in row["notes"]:
            console.info(f"[yellow]note[/] {Path(row['path']).name}: {note}")


def _stop_flag() -> Callable[[], bool]:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop.is_set


def _date(value: datetime | None) -> date | None:
    return value.date() if value else None


def main() -> None:
    """Console-script entry point."""
    app()
