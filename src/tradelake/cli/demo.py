"""``tradelake demo``: the command and how it tells the demo's story.

:meth:`Platform.demo <tradelake.platform.Platform.demo>` generates the exports, ingests them
and collects the figures (:class:`~tradelake.jobs.demo_story.DemoStory`); this module only
prints them, one section per question a new user has, or the story as JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradelake.cli.common import JsonOpt, command, open_platform
from tradelake.console import Console, rows_table, shown

if TYPE_CHECKING:
    from tradelake.jobs.demo_story import DemoStory
    from tradelake.platform import Platform

POSITION_COLUMNS = ("account", "symbol", "qty", "avg_price", "mark_price", "open_pnl", "held")


def register(app: typer.Typer) -> None:
    """Attach ``demo`` to the ``tradelake`` app."""
    app.command()(demo)


def demo(
    home: Annotated[Path, typer.Option("--home", help="Where to build the demo data home.")] = Path(
        "tradelake-demo"
    ),
    fills: Annotated[int, typer.Option(min=1, help="Fills per generated export.")] = 2000,
    json: JsonOpt = False,
) -> None:
    """Generate realistic ATAS exports, ingest them and print a P&L summary."""
    from tradelake.jobs.demo import DEMO_FILES, DEMO_STEPS

    with command(json) as console:
        with console.working("starting"):  # loading the platform takes a second or more
            platform = open_platform(home)
        with console.progress(DEMO_STEPS, "generating and ingesting the demo exports") as bar:
            story = platform.demo(fills=fills, progress=bar, stages=bar.stage)
        if json:
            console.emit_json(story.to_json())
            return
        console.info(
            f"generated {len(story.files)} files in {shown(platform.settings.input_dir)}: "
            f"{len(DEMO_FILES)} ATAS exports of {fills:,} fills (English, French, and a "
            "corrected re-export of the English one), a second copy of the English export and "
            "a CSV file renamed to .xlsx"
        )
        print_story(console, story)
        console.info(shown(desk_hint(platform)))  # `[stream]` is not rich markup


def desk_hint(platform: Platform) -> str:
    """The demo's last line: where the desk page is once ``tradelake serve`` runs."""
    stream = platform.stream_settings
    return (
        f"Open the desk: TRADELAKE_VIEWER_TOKEN=<any secret> tradelake serve --home "
        f"{platform.settings.home} (needs pip install 'tradelake[stream]'), then "
        f"http://{stream.host}:{stream.port}/ and log in with it"
    )


def print_story(console: Console, story: DemoStory) -> None:
    """The summary for people: one section per question a new user has."""
    for error in story.unexpected:
        console.error(error)
    files = [
        {"file": Path(f["path"]).name, "status": f["status"], "rows": f["rows"],
         "quarantined": f["quarantined"]}
        for f in story.files
    ]  # fmt: skip
    console.frame(rows_table(files), title="What was ingested")
    console.info("\nWhat the checks caught (problems planted in the demo data to show them):")
    for check in story.checks:
        console.info(f"  - {shown(check.subject)}: {shown(check.caught)}")
    console.info(f"Reconciliation: {_reconciliation_text(story.reconciliation)}.\n")
    console.frame(story.by_session, title="P&L by session (realised, after commissions)")
    for total in story.totals():
        won = story.round_trips["won"] / max(story.round_trips["closed"], 1)
        console.info(
            f"Net total: {total['net_pnl']:,.2f} {total['currency']} "
            f"(gross {total['gross_pnl']:,.2f}, commission {total['commission']:,.2f}) over "
            f"{total['sessions']} sessions; {story.round_trips['closed']:,} round trips "
            f"closed, {won:.0%} won. The same total as `tradelake pnl daily`."
        )
    _print_positions(console, story)
    home = shown(story.home)
    console.info(
        "\nTry next:\n"
        f"  tradelake positions --home {home}\n"
        f"  tradelake pnl daily --by account --home {home}\n"
        f"  tradelake reconcile --all --home {home}\n"
        f"  tradelake quality --rejected --home {home}\n"
        f"  tradelake stats --by hour --home {home}\n"
        f'  tradelake sql "SELECT * FROM round_trips LIMIT 5" --home {home}'
    )


def _print_positions(console: Console, story: DemoStory) -> None:
    if story.positions.is_empty():
        console.info("\nNo open positions: every account is flat.")
        return
    import polars as pl

    unrealised = story.positions.group_by("currency").agg(pl.col("open_pnl").sum()).sort("currency")
    text = ", ".join(f"{pnl:,.2f} {currency}" for currency, pnl in unrealised.iter_rows())
    when = f"{story.as_of:%Y-%m-%d %H:%M} UTC" if story.as_of else "the last fill"
    console.info(
        f"\n{story.positions.height} positions are still open (not in the net total); marked at "
        f"each contract's last fill as of {when}, open P&L {text}:"
    )
    console.frame(story.positions.select(POSITION_COLUMNS), title="Open positions")


def _reconciliation_text(statuses: dict[str, int]) -> str:
    matched, total = statuses.get("matched", 0), sum(statuses.values())
    if matched == total:
        return f"all {total:,} closed trades of the ATAS Journal sheet match our round trips"
    others = ", ".join(
        f"{status} {n}" for status, n in sorted(statuses.items()) if status != "matched"
    )
    return (
        f"{matched:,} of {total:,} trades match the ATAS Journal sheet; {others} "
        "(`tradelake reconcile` lists them)"
    )
