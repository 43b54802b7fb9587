"""``tradelake publish``: copy the feature tables to the analytics database (PostgreSQL)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import polars as pl
import typer

from tradelake.cli.common import HomeOpt, JsonOpt, command, open_platform

if TYPE_CHECKING:
    from tradelake.publish import PublishReport


def register(app: typer.Typer) -> None:
    """Add ``publish`` to the ``tradelake`` app."""
    app.command("publish")(publish)


def publish(
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="postgresql://USER[:PASSWORD]@HOST:5432/DB; default: [publish] url in "
            "tradelake.toml (or url_env / url_file).",
        ),
    ] = None,
    table: Annotated[
        list[str] | None,
        typer.Option(
            "--table",
            help="Publish only this table (repeatable): trades, round_trips, daily_pnl, "
            "open_positions, journal_stats, macro, news, options, option_chain_features, "
            "img_signals, alerts.",
        ),
    ] = None,
    full: Annotated[
        bool, typer.Option(help="Compare every table, even those unchanged since last time.")
    ] = False,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Copy the feature tables to PostgreSQL, writing only new and changed rows.

    The tables land in the `tradelake` schema, upserted on their natural keys (a re-run
    changes nothing). Connected as an administrator, the first publish creates two roles:
    tradelake_writer (owns and publishes the tables) and tradelake_analyst (SELECT only).
    """
    with command(json) as console:
        report = open_platform(home).publish(to=to, tables=table or [], full=full)
        if json:
            console.emit_json(report.to_dict())
            return
        console.frame(_summary(report), title=f"published to {report.target} ({report.schema})")
        for role in report.roles:
            console.info(f"created role {role}")
        for notice in report.notices:
            console.note(notice)
        console.info(f"{report.changed_rows} rows changed")


def _summary(report: PublishReport) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "table": t.table,
                "rows": t.rows,
                "inserted": t.inserted,
                "updated": t.updated,
                "deleted": t.deleted,
                "status": "unchanged" if t.unchanged else "published",
            }
            for t in report.tables
        ],
        schema={
            "table": pl.Utf8,
            "rows": pl.Int64,
            "inserted": pl.Int64,
            "updated": pl.Int64,
            "deleted": pl.Int64,
            "status": pl.Utf8,
        },
    )
