"""``tradelake landing verify | seal``: check the landing zone, and seal rows landed before
manifest digests.

Exit codes: 0 when the zone verifies (notes, such as unsealed old rows, do not fail it), 2 when
any problem was found (one line per problem on stderr, or ``--json``); nothing is changed then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tradelake.cli.common import EXIT_PARTIAL, HELP_MARKUP, HomeOpt, JsonOpt, command, open_platform
from tradelake.console import Console

if TYPE_CHECKING:
    from tradelake.landing.verify import Verification

landing_app = typer.Typer(
    help="Check the landing zone's integrity.", no_args_is_help=True, rich_markup_mode=HELP_MARKUP
)


def register(app: typer.Typer) -> None:
    """Add ``landing verify`` and ``landing seal`` to the ``tradelake`` app."""
    app.add_typer(landing_app, name="landing")


@landing_app.command("verify")
def verify(
    home: HomeOpt = None,
    json: JsonOpt = False,
    quick: Annotated[
        bool, typer.Option(help="Skip reading every object's bytes (rows and keys only).")
    ] = False,
) -> None:
    """Check every manifest row, ledger entry and object; read-only."""
    with command(json) as console:
        verification = open_platform(home).verify_landing(deep=not quick)
        exit_on_problems(console, verification, json, "verify")
        report(console, verification, json)


@landing_app.command("seal")
def seal(home: HomeOpt = None, json: JsonOpt = False) -> None:
    """Record digests of rows landed before digests (or whose ledger entry a crash lost), so
    later edits to them are detected; refused if anything else is wrong."""
    with command(json) as console:
        verification = open_platform(home).seal_landing()
        exit_on_problems(console, verification, json, "seal")
        report(console, verification, json)


def exit_on_problems(console: Console, verification: Verification, json: bool, what: str) -> None:
    """One line per problem (or the JSON report), then exit 2: the caller changes nothing."""
    if verification.ok:
        return
    if json:
        console.emit_json(verification.to_dict())
    else:
        for line in verification.lines():
            console.error(line)
        console.error(
            f"{what} refused: {len(verification.problems)} problems in {verification.url}; "
            "nothing was changed"
        )
    raise typer.Exit(EXIT_PARTIAL)


def report(console: Console, verification: Verification, json: bool) -> None:
    """The passing verification: counts and notes (or the JSON report)."""
    if json:
        console.emit_json(verification.to_dict())
        return
    depth = "rows, ledger and object bytes" if verification.deep else "rows and ledger"
    console.info(f"landing verified ({depth}): {len(verification.rows)} objects, no problems")
    for note in verification.notes():
        console.info(f"note: {note}")
