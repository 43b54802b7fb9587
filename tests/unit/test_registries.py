"""Table contracts and feature builders are declared, not discovered through import order."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tradelake.errors import FeatureStoreError
from tradelake.features.definitions import DEFINITIONS, BuildContext, FeatureDef, build_order


def _noop(ctx: BuildContext) -> None:
    """A builder that is never called here."""


def _defs(*specs: tuple[str, tuple[str, ...], bool]) -> list[FeatureDef]:
    return [
        FeatureDef(name, frozenset({"t"}), _noop, frozenset(reads), sql)
        for name, reads, sql in specs
    ]


def test_every_staged_table_is_known_without_importing_its_source() -> None:
    code = "import json, tradelake.tables as t; print(json.dumps(sorted(t.TABLES)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == [
        "atas_journal", "img_signals", "macro_raw", "model_drift", "news_raw", "options_raw",
        "trades_raw",
    ]  # fmt: skip


def test_builders_run_after_what_they_read_frames_before_sql_whatever_the_order() -> None:
    specs = (
        ("macro_latest", (), True),
        ("journal_reconciliation", ("round_trips",), False),
        ("option_chain_features", (), True),
        ("round_trips", (), False),
    )
    expected = ["round_trips", "journal_reconciliation", "macro_latest", "option_chain_features"]

    assert [d.name for d in build_order(_defs(*specs))] == expected
    assert [d.name for d in build_order(_defs(*reversed(specs)))] == expected


def test_the_registered_builders_put_reconciliation_after_round_trips() -> None:
    names = [d.name for d in build_order(DEFINITIONS)]
    assert names.index("round_trips") < names.index("journal_reconciliation")
    sql = [d.sql for d in build_order(DEFINITIONS)]
    assert sql == sorted(sql)  # every frame builder before the first SQL builder


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ((("a", ("b",), False), ("b", ("a",), False)), "cycle"),
        ((("a", ("nowhere",), False),), "unregistered"),
    ],
)
def test_cycles_and_unknown_reads_are_refused(
    specs: tuple[tuple[str, tuple[str, ...], bool], ...], message: str
) -> None:
    with pytest.raises(FeatureStoreError, match=message):
        build_order(_defs(*specs))
