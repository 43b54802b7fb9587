"""Natural keys live in the table registry: publish upserts on what tradelake.tables declares."""

from __future__ import annotations

import pytest

from tradelake.publish.tables import PUBLISHED
from tradelake.tables import DERIVED_KEYS, TABLES, natural_key


def test_a_staged_tables_latest_version_is_keyed_like_its_contract() -> None:
    for spec in TABLES.values():
        assert natural_key(spec.latest) == spec.natural_key
    assert natural_key("trades") == ("trade_id",)
    assert natural_key("macro") == ("series_id", "observation_date", "realtime_start")


def test_every_published_table_upserts_on_its_registered_key() -> None:
    staged = {spec.latest for spec in TABLES.values()}
    for table in PUBLISHED:
        assert table.name in staged or table.name in DERIVED_KEYS, table.name
        assert table.key == natural_key(table.name)
        assert not set(table.drop) & set(table.key)


def test_a_table_without_a_declared_key_says_where_to_declare_it() -> None:
    with pytest.raises(KeyError, match="DERIVED_KEYS"):
        natural_key("no_such_table")
