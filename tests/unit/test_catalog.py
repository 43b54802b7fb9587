"""The published catalog: relative paths (a relocatable home) and retired files' grace."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradelake.errors import FeatureStoreError
from tradelake.features import catalog
from tradelake.features.catalog import Catalog, Relation


def _catalog(home: Path, outside: Path) -> Catalog:
    return Catalog(
        staged={"trades_raw": {str(home / "staging" / "t" / "part-a.parquet"): "1:2"}},
        relations={
            ("staging", "trades_raw"): Relation("staged", "trades_raw"),
            ("main", "trades"): Relation("latest", "trades_raw"),
            ("main", "round_trips"): Relation(
                "parquet", file=home / "f.tables" / "r" / "1.parquet"
            ),
            ("main", "macro_latest"): Relation("parquet", file=outside / "m.parquet"),
        },
        staging_root=home / "staging",
        retired={str(home / "f.tables" / "r" / "0.parquet"): 10.0},
        generation=3,
    )


def test_paths_inside_the_home_are_stored_relative_and_resolve_where_it_now_is(
    tmp_path: Path,
) -> None:
    home, outside = tmp_path / "a" / "home", tmp_path / "shared"
    catalog.publish(home / "f.catalog.json", _catalog(home, outside))
    text = (home / "f.catalog.json").read_text()
    assert str(home) not in text and str(outside / "m.parquet") in text

    moved = tmp_path / "b" / "home"
    moved.parent.mkdir()
    home.rename(moved)
    assert catalog.read(moved / "f.catalog.json") == _catalog(moved, outside)


def test_a_file_the_new_catalog_drops_is_retired_then_deleted_after_the_grace(
    tmp_path: Path,
) -> None:
    old_file, new_file = tmp_path / "r" / "old.parquet", tmp_path / "r" / "new.parquet"
    old_file.parent.mkdir()
    old_file.write_bytes(b"x")
    previous = Catalog(relations={("main", "r"): Relation("parquet", file=old_file)})
    current = Catalog(relations={("main", "r"): Relation("parquet", file=new_file)})
    catalog.retire(previous, current, now=1000.0)
    assert current.retired == {str(old_file): 1000.0}

    catalog.remove_expired(current, now=1000.0 + catalog.RETIRED_GRACE_S - 1)
    assert old_file.exists() and str(old_file) in current.retired
    catalog.remove_expired(current, now=1000.0 + catalog.RETIRED_GRACE_S)
    assert not old_file.exists() and current.retired == {}


def test_a_catalog_that_is_not_one_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "f.catalog.json"
    assert catalog.read(path) is None
    path.write_text('{"format": 99}')
    with pytest.raises(FeatureStoreError, match="run `tradelake replay`"):
        catalog.read(path)
