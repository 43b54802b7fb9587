"""The feature-store refresh's shortcuts give the tables the plain path gives.

``main.<latest>`` is a view over staging while no natural key repeats and a ranked table once a
correction adds a second version; staged rows load unordered, derived tables keep their order.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from fixtures.atas import export, ingest_export
from tradelake.analytics import pnl
from tradelake.features import catalog
from tradelake.platform import Platform

TZ = "Europe/Paris"
DERIVED = ("round_trips", "daily_pnl", "open_positions", "journal_stats", "journal_reconciliation")


def _ingest(home: Path, name: str, data: bytes) -> Platform:
    return ingest_export(home, name, data, TZ)


def _kinds(platform: Platform) -> dict[str, str]:
    """VIEW (over staging) or TABLE (ranked rows in a file of their own) per latest table."""
    published = catalog.read(platform.features.catalog_path)
    assert published is not None
    return {name: published.relations[("main", name)].duck_kind for name in ("trades", "journal")}


def _derived(platform: Platform) -> dict[str, pl.DataFrame]:
    tables = {}
    for name in DERIVED:
        frame = platform.sql(f"SELECT * FROM {name}")
        tables[name] = frame.sort(frame.columns, nulls_last=True)
    return tables


def test_latest_is_a_view_until_a_correction_then_a_ranked_table(home: Path) -> None:
    original, truth = export(fills=600, seed=41, timezone=TZ)
    platform = _ingest(home, "original.xlsx", original)
    assert _kinds(platform) == {"trades": "VIEW", "journal": "VIEW"}
    assert platform.sql("SELECT count(*) FROM trades").item() == truth.fills.height

    corrected, fixed = export(fills=600, seed=41, timezone=TZ, correction="price")
    platform = _ingest(home, "corrected.xlsx", corrected)
    assert _kinds(platform)["trades"] == "TABLE"
    trades = platform.sql("SELECT exchange_id, price, version FROM trades")
    assert trades.height == trades["exchange_id"].n_unique() == fixed.fills.height
    assert trades.filter(pl.col("version") == 2).height == 1
    expected = fixed.fills.select("exchange_id", "price").sort("exchange_id")
    assert trades.select("exchange_id", "price").sort("exchange_id").equals(expected)
    # The derived tables follow the corrected fill (built on the connection: keys repeat).
    latest = platform.sql("SELECT * FROM trades")
    report = pnl.pnl_report(latest, platform.instruments)
    assert platform.sql("SELECT sum(gross_pnl) FROM round_trips").item() == pytest.approx(
        report.round_trips["gross_pnl"].sum()
    )


def test_derived_tables_keep_the_order_they_are_built_in(home: Path) -> None:
    data, _ = export(fills=500, seed=42, timezone=TZ)
    platform = _ingest(home, "x.xlsx", data)
    daily = platform.sql("SELECT * FROM daily_pnl")
    assert daily.height > 1
    assert daily.equals(daily.sort("session_date", "account", "instrument"))
    trades = platform.sql(f"SELECT {', '.join(pnl.FILL_COLUMNS)} FROM trades")
    expected = pnl.pnl_report(trades, platform.instruments).round_trips
    assert platform.sql("SELECT * FROM round_trips").equals(expected)


def test_a_refresh_with_nothing_new_loads_and_rebuilds_nothing(home: Path) -> None:
    data, _ = export(fills=300, seed=43, timezone=TZ)
    platform = _ingest(home, "x.xlsx", data)
    before = _derived(platform)
    again = platform.refresh()
    assert (again.files_loaded, again.tables_changed, again.rebuilt) == (0, (), ())
    after = _derived(platform)
    assert all(before[name].equals(after[name]) for name in DERIVED)
    con = platform.features.connect(read_only=True)
    try:
        staged = con.execute("SELECT count(*) FROM staging.trades_raw").fetchone()
        trades = con.execute("SELECT count(*) FROM main.trades").fetchone()
    finally:
        con.close()
    assert staged == trades


def _derived_files(platform: Platform) -> dict[str, list[str]]:
    root = platform.features.tables_dir
    return {name: sorted(p.name for p in (root / name).glob("*.parquet")) for name in DERIVED}


def test_a_replaced_derived_file_outlives_its_catalog_by_the_grace_then_goes(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, _ = export(fills=300, seed=44, timezone=TZ)
    platform = _ingest(home, "x.xlsx", data)
    first = _derived_files(platform)
    assert all(len(files) == 1 for files in first.values())
    before = _derived(platform)

    platform.features.refresh(rebuild_all=True)
    second = _derived_files(platform)  # the replaced file stays for readers of the old catalog
    assert all(len(second[name]) == 2 and first[name][0] in second[name] for name in DERIVED)
    published = catalog.read(platform.features.catalog_path)
    assert published is not None
    retired = {Path(f).parent.name: Path(f).name for f in published.retired}
    assert all(retired[name] == first[name][0] for name in DERIVED)

    monkeypatch.setattr(catalog, "RETIRED_GRACE_S", 0.0)  # no grace: deleted on the next commit
    platform.features.refresh(rebuild_all=True)
    third = _derived_files(platform)
    assert all(len(files) == 1 and files[0] not in second[name] for name, files in third.items())
    after = _derived(platform)
    assert all(before[name].equals(after[name]) for name in DERIVED)


@pytest.mark.parametrize(
    "target",
    [
        "tradelake.features.trading.reconcile.reconcile_journal",
        # computed on the writer thread (a deferred frame): its error still rolls back
        "tradelake.features.trading.stats.statistics_table",
    ],
)
def test_a_failed_rebuild_keeps_the_committed_tables_and_leaves_no_file(
    home: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    data, _ = export(fills=300, seed=45, timezone=TZ)
    platform = _ingest(home, "x.xlsx", data)
    files, before = _derived_files(platform), _derived(platform)

    def broken(*_: object, **__: object) -> pl.DataFrame:
        raise RuntimeError("builder crashed")

    monkeypatch.setattr(target, broken)
    with pytest.raises(RuntimeError, match="builder crashed"):
        platform.features.refresh(rebuild_all=True)
    # round_trips & co. were written before the crash: their files are gone with the rollback.
    assert _derived_files(platform) == files
    after = _derived(platform)
    assert all(before[name].equals(after[name]) for name in DERIVED)


def test_staging_that_keeps_changing_under_a_refresh_is_a_clear_error(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tradelake.errors import FeatureStoreError
    from tradelake.features import store

    data, _ = export(fills=200, seed=47, timezone=TZ)
    platform = _ingest(home, "x.xlsx", data)
    before = _derived(platform)
    calls: list[str] = []

    def moving(self: store.FeatureStore, *_: object) -> None:
        calls.append("apply")
        raise store._StagingChanged("trades_raw")

    monkeypatch.setattr(store.FeatureStore, "_apply", moving)
    with pytest.raises(FeatureStoreError, match="another process is writing"):
        platform.features.refresh(rebuild_all=True)
    assert calls == ["apply", "apply"]  # planned again once, from disk
    monkeypatch.undo()
    after = _derived(platform)
    assert all(before[name].equals(after[name]) for name in DERIVED)


def test_a_connection_opened_ahead_is_used_by_the_refresh_or_closed(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, truth = export(fills=200, seed=47, timezone=TZ)
    platform = _ingest(home, "x.xlsx", data)
    store = platform.features
    with store.connecting_ahead():
        pass  # no refresh: the connection is closed on the way out, releasing the lock
    assert platform.sql("SELECT count(*) FROM trades").item() == truth.fills.height

    opened: list[duckdb.DuckDBPyConnection] = []
    connect = catalog.connect

    def counting(published: catalog.Catalog | None) -> duckdb.DuckDBPyConnection:
        opened.append(connect(published))
        return opened[-1]

    monkeypatch.setattr(catalog, "connect", counting)
    with store.connecting_ahead():
        store.refresh(rebuild_all=True)
        store.refresh()  # the second refresh opens its own
    assert len(opened) == 2
    monkeypatch.undo()
    assert platform.sql("SELECT count(*) FROM round_trips").item() > 0
