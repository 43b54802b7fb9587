"""The output layer as a user meets it: help text, --version, sql's row limit, JSON types,
exports from every data command."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from e2e.helpers import json_out, run_cli
from fixtures.atas import export, ingest_export
from tradelake.cli import app


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("desk") / "home"
    home.mkdir()
    data, _ = export(fills=300, seed=51, mess=True)
    ingest_export(home, "a.xlsx", data, "UTC")
    return home


def test_messages_keep_config_names(tmp_path: Path) -> None:
    """Config section names are not rich markup: `[[feeds]]` must not print as `[]`."""
    result = CliRunner().invoke(app, ["status", "--home", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "no [[feeds]] in tradelake.toml" in result.output


def test_help_keeps_config_names_and_says_ingest_takes_screenshots() -> None:
    ingest = _words(run_cli("ingest", "--help").stdout)
    assert "(overrides [sources.atas] timezone)" in ingest
    assert "chart screenshots" in ingest
    assert "Feed names from [[feeds]] (default: all)" in _words(run_cli("pull", "--help").stdout)
    assert "(else [watch] settle_s)" in _words(run_cli("watch", "--help").stdout)
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("tradelake 0.")


def _words(text: str) -> str:
    """Help text with its line wrapping undone."""
    return " ".join(text.split())


def test_sql_shows_a_limited_page_with_a_notice_and_the_json_types_scripts_need(
    store: Path,
) -> None:
    page = run_cli("sql", "SELECT * FROM trades", "--home", str(store), "--limit", "5")
    assert page.returncode == 0, page.stderr
    lines = page.stdout.splitlines()
    assert len(lines) == 6 and lines[0].split()[:2] == ["trade_id", "account"]  # plain: piped
    total = json_out(
        run_cli("sql", "SELECT count(*) AS n FROM trades", "--home", str(store), "--json")
    )
    assert f"showing the first 5 of {total[0]['n']:,} rows" in page.stderr

    rows = json_out(
        run_cli(
            "sql",
            "SELECT trade_id, extra, sum(qty) OVER () AS total_qty, price * 1.1 AS p FROM trades",
            "--home", str(store), "--json", "--limit", "3",
        )
    )  # fmt: skip
    assert len(rows) == 3
    for row in rows:
        assert isinstance(row["trade_id"], str) and int(row["trade_id"]) > 0
        assert isinstance(row["total_qty"], int)
        assert row["extra"] is None or isinstance(row["extra"], dict)
    summed = json_out(
        run_cli("sql", "SELECT sum(qty) AS s FROM trades", "--home", str(store), "--json")
    )
    assert isinstance(summed[0]["s"], int)


def test_stats_json_money_is_in_cents(store: Path) -> None:
    (row,) = json_out(run_cli("stats", "--home", str(store), "--json"))
    for name in ("gross_wins", "gross_losses", "expectancy", "max_drawdown", "net_total"):
        assert row[name] == round(row[name], 2)
    assert isinstance(row["trades"], int)


EXPORTING_COMMANDS = (
    ("pnl", "daily"),
    ("stats", "--by", "hour"),
    ("reconcile", "--all"),
    ("quality",),
    ("sql", "SELECT * FROM trades", "--limit", "2"),
)


def test_every_data_command_exports_its_full_result(store: Path, tmp_path: Path) -> None:
    """In-process (CliRunner) to stay quick; the export holds every row even when sql shows 2."""
    runner = CliRunner()
    for args in EXPORTING_COMMANDS:
        target = tmp_path / f"{args[0]}.parquet"
        result = runner.invoke(app, [*args, "--home", str(store), "--parquet", str(target)])
        assert result.exit_code == 0, result.output
        exported = pl.read_parquet(target)
        shown_args = args[:2] if args[0] == "sql" else args  # --json without sql's --limit
        as_json = runner.invoke(app, [*shown_args, "--home", str(store), "--json"])
        assert as_json.exit_code == 0, as_json.output
        rows = json.loads(as_json.stdout)
        assert exported.height == len(rows) >= 2, args
        assert f"wrote {exported.height:,} rows to" in " ".join(result.output.split())
