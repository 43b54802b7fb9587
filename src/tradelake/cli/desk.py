"""Desk commands: init, ingest, watch, replay, P&L, statistics, reconciliation, SQL."""

from __future__ import annotations

import json as json_module
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradelake.cli.common import (
    EXIT_PARTIAL,
    HELP_MARKUP,
    CsvOpt,
    Exports,
    HomeOpt,
    JsonOpt,
    ParquetOpt,
    TzOpt,
    WideOpt,
    XlsxOpt,
    command,
    open_platform,
    show,
    stop_on_signals,
    write_exports,
)
from tradelake.cli.landing import exit_on_problems, report
from tradelake.config import resolve_home, write_default_config
from tradelake.console import Console, rows_table, shown
from tradelake.errors import LandingError, QueryOptionError

if TYPE_CHECKING:
    from tradelake.jobs.ingest import FileResult

# Which columns a narrow terminal keeps first (the others are hidden from the right; --wide
# shows all): the key, then the money a trader reads first.
DAILY_PNL_PRIORITY = ("session_date", "account", "instrument", "net_pnl", "gross_pnl")
STATS_PRIORITY = (
    "key",
    "trades",
    "win_rate",
    "net_total",
    "expectancy",
    "profit_factor",
    "max_drawdown",
)
POSITIONS_PRIORITY = ("account", "symbol", "qty", "avg_price", "mark_price", "open_pnl", "held")
RECONCILE_PRIORITY = ("status", "account", "symbol", "pnl", "journal_pnl", "pnl_diff", "open_ts")
SQL_DISPLAY_LIMIT = 1000

pnl_app = typer.Typer(
    help="Profit and loss from the feature store.",
    no_args_is_help=True,
    rich_markup_mode=HELP_MARKUP,
)

AccountOpt = Annotated[str | None, typer.Option(help="Only this account.")]
InstrumentOpt = Annotated[
    str | None, typer.Option(help="Only this contract, as the data names it (e.g. MESZ5).")
]


def register(app: typer.Typer) -> None:
    """Attach the desk commands to the ``tradelake`` app."""
    for function in (
        init,
        ingest,
        watch,
        refresh,
        replay,
        positions,
        stats,
        reconcile,
        quality,
        sql,
    ):
        app.command()(function)
    app.add_typer(pnl_app, name="pnl")


def init(
    home: HomeOpt = None,
    force: Annotated[bool, typer.Option(help="Rewrite an existing tradelake.toml.")] = False,
    timezone: Annotated[
        str | None,
        typer.Option(
            "--timezone",
            help="Time zone of the machine that exports the ATAS workbooks (IANA name, e.g. "
            "Europe/Berlin); asked for when not given, or this machine's zone with --yes.",
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Ask nothing: take this machine's time zone.")
    ] = False,
) -> None:
    """Create a data home with a commented default tradelake.toml and an input/ folder.

    ATAS writes times without a UTC offset, so the exporting machine's time zone is needed to
    put fills in the right session: init asks for it (default: this machine's zone), or takes
    this machine's zone without asking when given --yes or when not run from a terminal.
    """
    from tradelake.config import config_target, load_settings, validate_timezone

    with command(False) as console:
        root = resolve_home(home)
        config_target(root, overwrite=force)
        if timezone is not None:
            zone: str | None = validate_timezone(timezone, "--timezone")
        elif load_settings(root).atas_timezone_configured:
            zone = None  # set by TRADELAKE_SOURCES__ATAS__TIMEZONE, which wins over the file
            console.info("ATAS time zone: set by TRADELAKE_SOURCES__ATAS__TIMEZONE")
        elif yes or not _interactive():
            zone = _machine_zone()
            console.info(
                f"ATAS exports will be read in {zone}, this machine's time zone; if they come "
                "from a machine elsewhere, change \\[sources.atas] timezone in tradelake.toml"
            )
        else:
            zone = _ask_zone(_machine_zone())
        target = write_default_config(root, overwrite=force, timezone=zone)
        (root / "input").mkdir(exist_ok=True)
        console.info(f"wrote {target}; drop ATAS exports into {root / 'input'}")


def _interactive() -> bool:
    """Whether a person can answer a question (stdin is a terminal)."""
    import sys

    return sys.stdin.isatty()


def _machine_zone() -> str:
    from tradelake.config import FALLBACK_TIMEZONE, machine_timezone

    return machine_timezone() or FALLBACK_TIMEZONE


def _ask_zone(default: str) -> str:
    """Ask until the answer is an IANA zone name."""
    from tradelake.config import validate_timezone
    from tradelake.errors import ConfigError

    while True:
        answer = typer.prompt(
            "Time zone of the machine that exports your ATAS workbooks", default=default
        )
        try:
            return validate_timezone(str(answer).strip(), "the time zone")
        except ConfigError as exc:
            typer.echo(str(exc), err=True)


def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(help="ATAS .xlsx exports, chart screenshots (PNG/JPEG) or folders of them."),
    ],
    home: HomeOpt = None,
    tz: TzOpt = None,
    json: JsonOpt = False,
) -> None:
    """Land, parse, validate and stage files, then refresh the feature store.

    Takes ATAS exports (.xlsx) and chart screenshots (.png, .jpg: classified by the chart
    model into img_signals); folders are walked. Exit code 0 when every file was ingested or
    was a duplicate, 2 when any file failed.
    """
    from tradelake.jobs.ingest import expand_paths

    with command(json) as console:
        platform = open_platform(home)
        files = expand_paths(paths)  # the bar counts files, not arguments (a folder is many)
        with console.progress(len(files), "ingesting") as bar:
            report = platform.ingest(paths, tz=tz, progress=bar, stages=bar.stage)
        _print_ingest(console, [r.to_dict() for r in report.files])
        if not report.ok:
            raise typer.Exit(EXIT_PARTIAL)


def watch(
    home: HomeOpt = None,
    tz: TzOpt = None,
    settle: Annotated[
        float | None,
        typer.Option(help="Seconds a file must stay unchanged (else [watch] settle_s)."),
    ] = None,
) -> None:
    """Watch the input/ folder and ingest each export once it is completely written.

    Never exits on one file: a busy feature store is waited for (tried again after [watch]
    retry_s), a failed file is reported once, a file that never completes is reported, not
    ingested.
    """
    with command(False) as console:
        platform = open_platform(home)
        console.info(f"watching {shown(platform.settings.input_dir)} (Ctrl-C to stop)")

        def file_done(result: FileResult) -> None:
            console.info(_log_line(result.to_dict()))
            for warning in result.warnings:
                console.warning(warning)

        def problem(line: str) -> None:
            console.info(f"{_stamp()} [yellow]{shown(line)}[/]")

        platform.watch(
            on_result=file_done,
            report=problem,
            should_stop=stop_on_signals().is_set,
            tz=tz,
            settle_s=settle,
        )


def replay(
    home: HomeOpt = None,
    json: JsonOpt = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="Only verify landing (every object read); change nothing."),
    ] = False,
) -> None:
    """Rebuild staging and the feature store from the landing zone alone.

    The landing zone is verified first; exit code 2 (one line per problem, nothing changed)
    when a manifest row is missing, altered or corrupt or an object is missing or altered.
    """
    with command(json) as console:
        platform = open_platform(home)
        verification = platform.verify_landing(deep=check)
        exit_on_problems(console, verification, json, "replay")
        if check:
            report(console, verification, json)
            return
        with console.progress(len(verification.rows), "replaying") as advance:
            try:
                result = platform.replay(progress=advance, verified=verification)
            except LandingError as exc:  # an object unreadable or altered since the check
                console.error(f"{exc} (replay stopped; nothing was changed)")
                raise typer.Exit(EXIT_PARTIAL) from None
        payload = {
            "objects": result.objects,
            "errors": [r.to_dict() for r in result.results if r.status == "error"],
            "notes": result.notes,
        }
        if json:
            console.emit_json(payload)
        else:
            console.info(f"replayed {result.objects} landing objects")
            for note in result.notes:
                console.info(f"note: {note}")


def refresh(home: HomeOpt = None, json: JsonOpt = False) -> None:
    """Refresh the feature store from staging (what ingest does last).

    With staging on S3 this first pulls what other homes staged there, so a home that only
    reads the bucket (an analytics host) gets the desk's tables with `refresh`.
    """
    with command(json) as console:
        result = open_platform(home).refresh()
        payload = {
            "files_loaded": result.files_loaded,
            "files_removed": result.files_removed,
            "rebuilt": list(result.rebuilt),
        }
        if json:
            console.emit_json(payload)
        else:
            console.info(
                f"loaded {result.files_loaded} staged files, removed {result.files_removed}; "
                f"rebuilt {len(result.rebuilt)} tables"
            )


@pnl_app.command("daily")
def pnl_daily(
    home: HomeOpt = None,
    account: AccountOpt = None,
    instrument: InstrumentOpt = None,
    date_from: Annotated[
        datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="First session date.")
    ] = None,
    date_to: Annotated[
        datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="Last session date.")
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            help="Sum by day, week, month, account or instrument, with a total row per "
            "currency (default: one row per session, account and contract)."
        ),
    ] = None,
    unit: Annotated[
        str,
        typer.Option(
            help="money, or r: also in R (net_r, gross_r; risk = money per 1R, from "
            "[desk] risk_per_trade or the account's average loss on the root)."
        ),
    ] = "money",
    json: JsonOpt = False,
    wide: WideOpt = False,
    csv: CsvOpt = None,
    parquet: ParquetOpt = None,
    xlsx: XlsxOpt = None,
) -> None:
    """Daily P&L by trading session date, account and contract (gross, commission, net)."""
    with command(json, wide=wide) as console:
        platform = open_platform(home)
        first, last = _date(date_from), _date(date_to)
        title, priority = "Daily P&L by session", list(DAILY_PNL_PRIORITY)
        if unit not in ("money", "r"):
            raise QueryOptionError(f"--unit {unit!r}: use money or r")
        if unit == "r" and by is not None:
            raise QueryOptionError("--unit r is per session row; leave out --by")
        if by is None:
            frame = platform.daily_pnl(
                account=account,
                instrument=instrument,
                date_from=first,
                date_to=last,
                unit="r" if unit == "r" else "money",
            )
            if unit == "r":
                priority = [*priority[:3], "net_r", "risk", *priority[3:]]
        else:
            frame = platform.pnl_totals(
                by, account=account, instrument=instrument, date_from=first, date_to=last
            )
            title, priority = f"P&L by {by}", [by, "currency", "net_pnl", "gross_pnl"]
        if frame.is_empty() and not json:
            wanted = _filter_text(account, instrument) + _dates_text(first, last)
            console.note(f"no P&L rows{wanted}")
            write_exports(console, frame, Exports(csv, parquet, xlsx))
            return
        show(console, frame, Exports(csv, parquet, xlsx), title=title, priority=priority)
        if by is None and not json:  # the detail has no total row: say it under the table
            totals = platform.pnl_totals(
                "day", account=account, instrument=instrument, date_from=first, date_to=last
            )
            console.note(_totals_text(totals))


def _totals_text(by_day: Any) -> str:
    """``total net ...`` per currency, from the ``total`` rows of
    :meth:`Platform.pnl_totals` by day."""
    amounts = "; ".join(
        f"{row['net_pnl']:,.2f} {row['currency']} (gross {row['gross_pnl']:,.2f}, commission "
        f"{row['commission']:,.2f}) over {row['sessions']} sessions"
        for row in by_day.iter_rows(named=True)
        if row["day"] == "total"
    )
    return f"total net {amounts}; --by day|week|month|account|instrument for subtotals"


def _dates_text(first: date | None, last: date | None) -> str:
    if first and last:
        return f" from {first} to {last}"
    return f" from {first}" if first else (f" up to {last}" if last else "")


def positions(
    home: HomeOpt = None,
    account: AccountOpt = None,
    instrument: InstrumentOpt = None,
    json: JsonOpt = False,
    wide: WideOpt = False,
    csv: CsvOpt = None,
    parquet: ParquetOpt = None,
    xlsx: XlsxOpt = None,
) -> None:
    """Open positions per account and contract: signed qty, FIFO average price, open P&L.

    Open P&L is marked at the contract's last fill price in the data (mark_price, at mark_ts:
    there is no market feed behind it); held is the time since the position left flat.
    """
    with command(json, wide=wide) as console:
        frame = open_platform(home).positions(account=account, instrument=instrument)
        exports = Exports(csv, parquet, xlsx)
        if frame.is_empty() and not json:
            console.note(f"no open positions{_filter_text(account, instrument)}: flat")
            write_exports(console, frame, exports)
            return
        show(console, frame, exports, title="Open positions", priority=POSITIONS_PRIORITY)
        if not frame.is_empty():
            console.note(_mark_note(frame))


def _filter_text(account: str | None, instrument: str | None) -> str:
    parts = (f"account {account}" if account else "",
             f"contract {instrument}" if instrument else "")  # fmt: skip
    text = " and ".join(part for part in parts if part)
    return f" for {text}" if text else ""


def _mark_note(frame: Any) -> str:
    """Which price the open P&L uses, and how old it is."""
    newest = frame["mark_ts"].max()
    return (
        "open P&L is marked at each contract's last fill price (mark_price at mark_ts, "
        f"newest {newest:%Y-%m-%d %H:%M:%S} UTC), before closing commissions"
    )


def stats(
    home: HomeOpt = None,
    by: Annotated[
        str,
        typer.Option(help="all, account, instrument, weekday (Monday first) or hour (0-23)."),
    ] = "all",
    json: JsonOpt = False,
    wide: WideOpt = False,
    csv: CsvOpt = None,
    parquet: ParquetOpt = None,
    xlsx: XlsxOpt = None,
) -> None:
    """Journal statistics: win rate, profit factor, expectancy, drawdown, ..."""
    with command(json, wide=wide) as console:
        frame = open_platform(home).statistics(by)
        show(
            console,
            frame,
            Exports(csv, parquet, xlsx),
            title=f"Journal statistics ({by})",
            priority=STATS_PRIORITY,
        )


def reconcile(
    home: HomeOpt = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Also show matched trades.")] = False,
    json: JsonOpt = False,
    wide: WideOpt = False,
    csv: CsvOpt = None,
    parquet: ParquetOpt = None,
    xlsx: XlsxOpt = None,
) -> None:
    """Compare our round trips with the ATAS Journal sheet and list the differences."""
    with command(json, wide=wide) as console:
        frame = open_platform(home).reconciliation(differences_only=not all_rows)
        show(
            console,
            frame,
            Exports(csv, parquet, xlsx),
            title="Round trips vs ATAS Journal",
            priority=RECONCILE_PRIORITY,
        )


def quality(
    home: HomeOpt = None,
    rejected: Annotated[
        bool, typer.Option("--rejected", help="Only files and tables with quarantined rows.")
    ] = False,
    last: Annotated[int, typer.Option(min=1, help="How many recent results to show.")] = 20,
    json: JsonOpt = False,
    wide: WideOpt = False,
    csv: CsvOpt = None,
    parquet: ParquetOpt = None,
    xlsx: XlsxOpt = None,
) -> None:
    """Data quality per ingested file and table: rows in, passed, quarantined by rule.

    The rows themselves, with their reasons, are in staging/_quarantine/ (or
    `tradelake sql "SELECT * FROM data_quality"` for every result). Exports hold every field.
    """
    with command(json, wide=wide) as console:
        frame = open_platform(home).data_quality(rejected_only=rejected, last=last)
        if json:
            console.frame(frame)
        else:
            rows = rows_table(_quality_rows(frame))
            console.frame(rows, title="Data quality (newest first)", multiline=["by rule"])
        write_exports(console, frame, Exports(csv, parquet, xlsx))


def _quality_rows(frame: Any) -> list[dict[str, Any]]:
    """Rows for people: short times, ``new`` (rows new or changed; the other rows that passed
    were already staged), and the rule counts as ``rule n`` lines; ``--json`` has every field."""
    return [
        {
            "ingested": row["ingest_ts"].strftime("%m-%d %H:%M"),
            "file": row["original_name"],
            "table": row["table_name"],
            "rows": row["rows_in"],
            "new": row["staged"],
            "quarantined": row["quarantined"],
            "by rule": "\n".join(
                f"{rule} {n}" for rule, n in json_module.loads(row["quarantined_by_rule"]).items()
            ),
        }
        for row in frame.iter_rows(named=True)
    ]


def sql(
    query: Annotated[str, typer.Argument(help="SQL to run read-only on the feature store.")],
    home: HomeOpt = None,
    limit: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Show at most this many rows (default 1,000 in a table, all with --json); "
            "exports always hold every row.",
        ),
    ] = None,
    json: JsonOpt = False,
    wide: WideOpt = False,
    csv: CsvOpt = None,
    parquet: ParquetOpt = None,
    xlsx: XlsxOpt = None,
) -> None:
    """Run a read-only SQL query against the feature store.

    A table shows the first --limit rows (default 1,000) with a note giving the full count;
    --json prints every row unless --limit is given; --csv, --parquet and --xlsx write every
    row.
    """
    with command(json, wide=wide) as console:
        platform = open_platform(home)
        exports = Exports(csv, parquet, xlsx)
        if limit is None and not json:
            limit = SQL_DISPLAY_LIMIT
        if limit is None or exports.targets():  # every row is needed: fetch them once
            frame = platform.sql(query)
            total = frame.height
            write_exports(console, frame, exports)
            frame = frame if limit is None else frame.head(limit)
        else:
            frame, total = platform.sql_page(query, limit=limit)
        console.frame(frame)
        if total > frame.height:
            console.note(
                f"showing the first {frame.height:,} of {total:,} rows; "
                "--limit N or --csv FILE for all"
            )


def _print_ingest(console: Console, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        for warning in row["warnings"]:
            console.warning(warning)
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
            console.info(f"[yellow]note[/] {shown(Path(row['path']).name)}: {shown(note)}")


def _log_line(row: dict[str, Any]) -> str:
    """One line per file for long-running commands, where a table per batch is noise."""
    stamp = _stamp()
    name = shown(Path(row["path"]).name)
    if row["error"]:
        return f"{stamp} [red]error[/] {name}: {shown(row['error'])}"
    return f"{stamp} {row['status']} {name}: {row['rows']} rows, {row['quarantined']} quarantined"


def _stamp() -> str:
    return datetime.now().strftime("%H:%M:%S")


def _date(value: datetime | None) -> date | None:
    return value.date() if value else None
