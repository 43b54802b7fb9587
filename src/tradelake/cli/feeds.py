"""``tradelake pull | run | status``: the pulled feeds on the command line.

Thin like the rest of the CLI: each command calls one :class:`~tradelake.platform.Platform`
method and prints through :class:`tradelake.console.Console`. ``tradelake.cli`` attaches them with
:func:`register`.

Exit codes: 0 when every feed pulled (or had nothing new), 1 for a setup error (bad
``[[feeds]]`` entry, unknown feed name), 2 when any feed failed or had a payload rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradelake.cli.common import (
    EXIT_PARTIAL,
    CsvOpt,
    Exports,
    HomeOpt,
    JsonOpt,
    ParquetOpt,
    WideOpt,
    XlsxOpt,
    command,
    open_platform,
    rows_frame,
    stop_on_signals,
    write_exports,
)
from tradelake.console import Console, rows_table, shown

if TYPE_CHECKING:  # the jobs load on first use: `tradelake --help` stays quick
    from tradelake.jobs.feed_state import FeedState
    from tradelake.jobs.feeds import FeedConfig
    from tradelake.jobs.pull import PullResult

NamesArg = Annotated[
    list[str] | None, typer.Argument(help="Feed names from [[feeds]] (default: all).")
]


def register(app: typer.Typer) -> None:
    """Add ``pull``, ``run`` and ``status`` to the ``tradelake`` app."""
    app.command("pull")(pull)
    app.command("run")(run)
    app.command("status")(status)


def pull(names: NamesArg = None, home: HomeOpt = None, json: JsonOpt = False) -> None:
    """Pull feeds once: fetch what is new, land it, stage it, refresh the feature store.

    Exit code 0 when every feed pulled or had nothing new, 2 when any failed or was rejected.
    """
    with command(json) as console:
        results = open_platform(home).pull(names or [])
        _print_pull(console, results)
        if not all(result.ok for result in results):
            raise typer.Exit(EXIT_PARTIAL)


def run(
    home: HomeOpt = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Port of /metrics on 127.0.0.1 ([metrics] port, 9464; 0 = off)."),
    ] = None,
) -> None:
    """Run every feed and [[jobs]] entry on its schedule and watch input/ until SIGTERM or Ctrl-C.

    Serves Prometheus metrics at http://127.0.0.1:9464/metrics ([metrics] host/port).
    On a stop signal, pulls in flight finish and save their state, then the command exits 0.
    """
    from tradelake.ops.metrics_endpoint import exposing_metrics

    with command(False) as console:
        platform = open_platform(home)
        stop = stop_on_signals()
        scheduler = platform.feed_scheduler(report=lambda line: console.info(shown(line)))
        with exposing_metrics(platform.settings.raw, metrics_port) as where:
            _seed_feed_metrics(platform.feed_states())
            console.info(
                f"running {len(scheduler.slots)} feed(s), {len(scheduler.job_slots)} job(s) and "
                f"watching {platform.settings.input_dir}{where}; stop with Ctrl-C or SIGTERM"
            )
            scheduler.run(stop)
        console.info("stopped: in-flight pulls finished")


def status(
    home: HomeOpt = None,
    json: JsonOpt = False,
    wide: WideOpt = False,
    csv: CsvOpt = None,
    parquet: ParquetOpt = None,
    xlsx: XlsxOpt = None,
) -> None:
    """Each feed's last run, last success, last error, rows staged, next run, news latency.

    News feeds also show freshness per story over the last 7 days: seconds from publication
    to first scoring (fresh_p50_s, fresh_p99_s; target 300). Exports hold every field of
    every feed, as --json does.
    """
    with command(json, wide=wide) as console:
        rows = open_platform(home).feed_status()
        if json:
            console.emit_json(rows)
        elif not rows:
            console.info("no \\[\\[feeds]] in tradelake.toml")
        else:
            console.frame(rows_table([_human(row) for row in rows]), title="Feeds")
        write_exports(console, rows_frame(rows), Exports(csv, parquet, xlsx))


def _seed_feed_metrics(states: Sequence[tuple[FeedConfig, FeedState]]) -> None:
    """Each feed's last success from its saved state, so the lag gauge starts right."""
    from tradelake.ops import metrics

    for feed, state in states:
        metrics.observe_feed_state(feed.name, state.last_success_ts, state.consecutive_failures)


def _print_pull(console: Console, results: Sequence[PullResult]) -> None:
    if console.json_mode:
        console.emit_json([result.to_dict() for result in results])
        return
    for result in results:
        if result.error:
            console.error(result.error)
        for reason in result.rejected:
            console.error(f"feed {result.feed}: payload quarantined: {reason}")
    columns = ("feed", "status", "pages", "landed", "rows", "quarantined", "latency_max_s")
    table = [{key: result.to_dict()[key] for key in columns} for result in results]
    console.frame(rows_table(table), title="Pull")


def _human(row: dict[str, Any]) -> dict[str, Any]:
    """The columns people read, timestamps to the second (UTC) and errors clipped."""
    error = row["last_error"] or ""
    return {
        "feed": row["feed"],
        "status": row["last_status"],
        "last success (UTC)": _clock(row["last_success_ts"]),
        "rows": row["rows_staged_last"],
        "next run (UTC)": _clock(row["next_run_ts"]),
        "latency p50 s": row["latency_p50_s"],
        "fresh p99 s": row.get("fresh_p99_s"),
        "last error": error if len(error) <= 80 else error[:77] + "...",
    }


def _clock(iso: str | None) -> str | None:
    return iso[:19].replace("T", " ") if iso else None
