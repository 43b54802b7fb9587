"""``tradelake lineage``: where a table, an alert or a run came from and what it fed.

Reads the OpenLineage events of the data home (``<home>/lineage/events.jsonl``, written by every
job run: :mod:`tradelake.ops.lineage`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from tradelake.cli.common import HomeOpt, JsonOpt, command, open_platform
from tradelake.console import rows_table


def register(app: typer.Typer) -> None:
    """Add ``lineage`` to the ``tradelake`` app."""
    app.command("lineage")(lineage)


def lineage(
    target: Annotated[
        str | None,
        typer.Argument(
            help="A table (trades_raw, daily_pnl, img_signals, alerts), an alert or landing "
            "id, or a run id. Without it: the newest runs."
        ),
    ] = None,
    depth: Annotated[int, typer.Option(min=1, help="Runs to follow each way.")] = 6,
    limit: Annotated[
        int, typer.Option(min=1, help="Runs shown per dataset (the rest are counted).")
    ] = 5,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Runs listed without TARGET.")] = 20,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Upstream and downstream of TARGET from the lineage events: the runs that wrote it and
    what they read, back to the landed files and frames; the runs that read it and what they
    wrote. An alert's lineage ends at its frame's landed image."""
    from tradelake.ops.lineage_graph import tree_lines

    with command(json) as console:
        platform = open_platform(home)
        if target is None:
            rows = platform.lineage_runs(runs)
            if json:
                console.emit_json(rows)
            elif not rows:
                console.info(f"no lineage events yet in {platform.ops_lineage_file}")
            else:
                console.frame(rows_table(rows), title="Lineage runs")
            return
        result = platform.lineage_of(target, depth=depth, limit=limit)
        if json:
            console.emit_json(result)
            return
        for line in tree_lines(result):
            console.info(line)
