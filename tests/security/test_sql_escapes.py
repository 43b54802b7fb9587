"""`tradelake sql` cannot write anywhere or read outside the served tables (issue 10, item 1).

Each escape below worked on the read-only connection before the sandbox: COPY forged staged
fills that the next ingest served, COPY overwrote a landed object, ATTACH wrote another
database, and read_csv/read_text/glob read or listed any local file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.atas import export, ingest_export
from tradelake.errors import AccessError, TradelakeError
from tradelake.features.analyst import check_read_only
from tradelake.platform import Platform

FILLS = 200


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Platform:
    home = tmp_path_factory.mktemp("home")
    data, _ = export(fills=FILLS, seed=7)
    return ingest_export(home, "a.xlsx", data, tz="Europe/Berlin")


def _trades(platform: Platform) -> int:
    return int(platform.sql("SELECT count(*) AS n FROM trades")["n"][0])


def test_reads_of_served_tables_work(served: Platform) -> None:
    assert _trades(served) == FILLS
    assert served.sql("SELECT count(*) AS n FROM round_trips")["n"][0] > 0
    assert "trades" in served.sql("SHOW TABLES")["name"].to_list()
    assert served.sql("DESCRIBE trades").height > 10
    assert served.sql("WITH t AS (SELECT qty FROM trades) SELECT count(*) AS n FROM t")[
        "n"
    ].to_list() == [FILLS]
    assert served.sql("EXPLAIN SELECT * FROM trades").height >= 1


def test_copy_cannot_forge_staged_fills(served: Platform) -> None:
    target = served.staging.root / "trades_raw" / "month=2026-01" / "source=atas"
    forged = target / "part-forged.parquet"
    with pytest.raises(AccessError, match="COPY"):
        served.sql(f"COPY (SELECT * FROM trades LIMIT 50) TO '{forged}' (FORMAT parquet)")
    assert not forged.exists()
    served.refresh()
    assert _trades(served) == FILLS


def test_copy_cannot_overwrite_a_landed_object(served: Platform) -> None:
    obj = next(iter(served.landing.list()))
    path = Path(served.settings.landing_url) / obj.key
    before = path.read_bytes()
    with pytest.raises(AccessError):
        served.sql(f"COPY (SELECT 1 AS x) TO '{path}' (FORMAT csv)")
    assert path.read_bytes() == before


def test_attach_cannot_write_another_database(served: Platform, tmp_path: Path) -> None:
    other = tmp_path / "x.duckdb"
    with pytest.raises(AccessError):
        served.sql(f"ATTACH '{other}' (READ_ONLY false)")
    assert not other.exists()


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM sniff_csv('/etc/passwd')",
        "SELECT count(*) FROM read_parquet('{home}/staging/../landing/**')",
        "SELECT * FROM glob('{home}/landing/**')",
        "SELECT * FROM read_text('{home}/tradelake.toml')",
    ],
)
def test_no_file_outside_the_served_tables_can_be_read(served: Platform, query: str) -> None:
    with pytest.raises(AccessError):
        served.sql(query.format(home=served.settings.home))


@pytest.mark.parametrize(
    "query",
    [
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SELECT 1; SET enable_external_access = true",
        "PRAGMA enable_profiling",
        "CALL pragma_version()",
        "EXPORT DATABASE '/tmp/tradelake-export'",
        "CREATE TABLE hack AS SELECT 1",
        "INSERT INTO trades SELECT * FROM trades",
        "DROP VIEW trades",
        "CHECKPOINT",
    ],
)
def test_statements_that_are_not_reads_are_refused(served: Platform, query: str) -> None:
    with pytest.raises(AccessError):
        served.sql(query)
    assert _trades(served) == FILLS


def test_the_statement_gate_alone_refuses_every_write_kind() -> None:
    for query in ("COPY (SELECT 1) TO 'x.csv'", "ATTACH 'x.duckdb'", "INSTALL httpfs", "SET a=1"):
        with pytest.raises(AccessError):
            check_read_only(query)
    check_read_only("FROM trades SELECT count(*)")


def test_a_query_that_does_not_parse_is_one_clear_error(served: Platform) -> None:
    with pytest.raises(TradelakeError, match="parse"):
        served.sql("SELEC nonsense")


def test_the_cli_refuses_an_escape_in_one_line(served: Platform) -> None:
    from e2e.helpers import run_cli

    home = str(served.settings.home)
    result = run_cli("sql", f"COPY (SELECT 1) TO '{home}/staging/x.parquet'", "--home", home)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "read-only" in result.stderr
    assert not (served.settings.home / "staging" / "x.parquet").exists()
