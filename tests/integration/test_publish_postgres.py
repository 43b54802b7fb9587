"""``tradelake publish`` against the machine's PostgreSQL (127.0.0.1:5432, trust auth).

Each test gets its own database, dropped afterwards. The two roles are cluster-wide, so they
are shared by every run (creating them is idempotent).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from e2e.helpers import run_cli
from fixtures.atas import export, ingest_export
from tradelake.errors import PublishError, PublishUnavailableError
from tradelake.publish import PublishedTable, publish_settings
from tradelake.publish.postgres import PostgresDestination
from tradelake.stream.alerts import Alert
from tradelake.stream.alerts.store import ALERTS_FILE, AlertStore

psycopg = pytest.importorskip("psycopg")
pytestmark = pytest.mark.postgres
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _admin() -> psycopg.Connection:
    try:
        return psycopg.connect(ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL is not running on 127.0.0.1:5432 ({exc}); .ci/run starts it")


@pytest.fixture
def database() -> Iterator[str]:
    name = f"tl_publish_{uuid.uuid4().hex[:12]}"
    with _admin() as con:
        con.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with _admin() as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _as(url: str, role: str) -> str:
    return url.replace("postgres@", f"{role}@", 1)


def test_publish_copies_the_tables_and_a_rerun_changes_nothing(home: Path, database: str) -> None:
    data, _ = export(fills=300, seed=7, timezone="America/Chicago")
    platform = ingest_export(home, "desk.xlsx", data, "America/Chicago")
    store = AlertStore(home / "state" / ALERTS_FILE)
    now = datetime(2025, 11, 24, 15, 0, tzinfo=UTC)
    store.add(
        Alert("a1", "flags", "desk1", "f1", "bull_flag", 0.91, now, now, now, "2+ab", "l" * 64)
    )
    store.close()

    first = platform.publish(to=database)
    counts = {t.table: t for t in first.tables}
    assert counts["trades"].inserted == platform.sql("SELECT count(*) FROM trades").item() > 250
    assert counts["round_trips"].inserted == platform.sql("SELECT count(*) FROM round_trips").item()
    assert counts["alerts"].inserted == 1
    with psycopg.connect(database) as con:
        net = con.execute("SELECT sum(net_pnl) FROM tradelake.daily_pnl").fetchone()[0]
        sent = con.execute("SELECT sent_ts, prob FROM tradelake.alerts").fetchone()
        traced = con.execute(
            "SELECT count(*) FROM tradelake.trades WHERE length(landing_id) = 64 AND version >= 1"
        ).fetchone()[0]
    assert net == pytest.approx(platform.sql("SELECT sum(net_pnl) FROM daily_pnl").item())
    assert sent == (now, pytest.approx(0.91))
    assert traced == counts["trades"].rows  # every published row still names its landing object

    again = platform.publish(to=database)
    assert again.changed_rows == 0 and all(t.unchanged for t in again.tables)
    forced = platform.publish(to=database, full=True)
    assert forced.changed_rows == 0 and not any(t.unchanged for t in forced.tables)


def test_only_the_difference_is_written(database: str) -> None:
    table = PublishedTable("positions_test", ("account", "symbol"), drop=("embedding",))
    destination = PostgresDestination(publish_settings({}, database))
    before = pl.DataFrame(
        {
            "account": ["A", "A", "B"],
            "symbol": ["ESZ5", "NQZ5", "ESZ5"],
            "qty": [1, -2, 3],
            "probs": [[0.1, 0.9], None, []],
            "embedding": [[1.0], [2.0], [3.0]],
        }
    )
    first = destination.publish([(table, before)]).tables[0]
    assert (first.inserted, first.updated, first.deleted) == (3, 0, 0)
    after = pl.DataFrame(
        {
            "account": ["A", "B", "C"],
            "symbol": ["ESZ5", "ESZ5", "CLF6"],
            "qty": [1, 4, 5],
            "probs": [[0.1, 0.9], [], None],
            "embedding": [[1.0], [3.0], [5.0]],
        }
    )
    second = destination.publish([(table, after)]).tables[0]
    assert (second.inserted, second.updated, second.deleted) == (1, 1, 1)
    with psycopg.connect(database) as con:
        rows = con.execute(
            "SELECT account, symbol, qty, probs FROM tradelake.positions_test ORDER BY 1, 2"
        ).fetchall()
        columns = [
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'positions_test'"
            )
        ]
    assert rows == [("A", "ESZ5", 1, [0.1, 0.9]), ("B", "ESZ5", 4, []), ("C", "CLF6", 5, None)]
    assert "embedding" not in columns


def test_a_repeated_natural_key_is_refused_before_anything_is_written(database: str) -> None:
    table = PublishedTable("dupes_test", ("k",))
    destination = PostgresDestination(publish_settings({}, database))
    with pytest.raises(PublishError, match="repeat a natural key"):
        destination.publish([(table, pl.DataFrame({"k": [1, 1], "v": [1, 2]}))])
    with psycopg.connect(database) as con:
        assert con.execute("SELECT to_regclass('tradelake.dupes_test')").fetchone()[0] is None


def test_the_analyst_role_can_only_read(home: Path, database: str) -> None:
    data, _ = export(fills=120, seed=3, timezone="UTC")
    platform = ingest_export(home, "desk.xlsx", data, "UTC")
    platform.publish(to=database, tables=["trades", "daily_pnl"])

    analyst = _as(database, "tradelake_analyst")
    with psycopg.connect(analyst) as con:
        assert con.execute("SELECT count(*) FROM tradelake.trades").fetchone()[0] > 0
    refused = [
        "INSERT INTO tradelake.daily_pnl (session_date, account, instrument) "
        "VALUES ('2025-01-01', 'x', 'y')",
        "UPDATE tradelake.trades SET price = 0",
        "DELETE FROM tradelake.trades",
        "TRUNCATE tradelake.trades",
        "DROP TABLE tradelake.trades",
        "ALTER TABLE tradelake.trades ADD COLUMN x int",
        "CREATE TABLE tradelake.mine (x int)",
        "CREATE TABLE public.mine (x int)",
    ]
    for statement in refused:
        with psycopg.connect(analyst) as con, pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute(statement)

    # The writer role publishes by itself once the roles exist (and owns the tables).
    as_writer = platform.publish(
        to=_as(database, "tradelake_writer"), tables=["trades", "daily_pnl"], full=True
    )
    assert as_writer.changed_rows == 0 and not as_writer.notices
    with psycopg.connect(database) as con:
        owner = con.execute(
            "SELECT tableowner FROM pg_tables "
            "WHERE schemaname = 'tradelake' AND tablename = 'trades'"
        ).fetchone()[0]
    assert owner == "tradelake_writer"


def test_an_unreachable_database_is_one_line_with_the_password_masked(home: Path) -> None:
    url = "postgresql://desk:hunter2secret@127.0.0.1:1/analytics"
    with pytest.raises(PublishUnavailableError) as caught:
        ingest_export(home, "d.xlsx", export(fills=20, seed=1, timezone="UTC")[0], "UTC").publish(
            to=url
        )
    assert "hunter2secret" not in str(caught.value) and "***" in str(caught.value)

    result = run_cli("publish", "--to", url, "--home", str(home))
    assert result.returncode != 0
    assert "hunter2secret" not in result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_reports_json(home: Path, database: str) -> None:
    ingest_export(home, "d.xlsx", export(fills=60, seed=2, timezone="UTC")[0], "UTC")
    result = run_cli(
        "publish", "--to", database, "--table", "trades", "--json", "--home", str(home)
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert [t["table"] for t in body["tables"]] == ["trades"]
    assert body["changed_rows"] == body["tables"][0]["inserted"] > 0

    unknown = run_cli("publish", "--to", database, "--table", "nope", "--home", str(home))
    assert unknown.returncode != 0 and "not a published table" in unknown.stderr
