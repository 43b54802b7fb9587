"""Start-up: what a command imports, checked in a fresh interpreter (deterministic, not timed).

``tradelake --help`` must stay cheap (target 0.3 s), so it may not import the data stack; the
facade, which every data command opens, may not import what only some commands need (DuckDB
with the first feature-store connection, which an ingest opens on a thread beside its parse;
scipy when an option chain is priced, torch and mlflow for chart vision, fastapi and httpx for
serving and pulling). The staged tables' contracts need neither pandera nor pandas.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HELP = (
    "import sys\n"
    "from tradelake.cli import app\n"
    "try:\n"
    "    app(['--help'])\n"
    "except SystemExit as exc:\n"
    "    assert exc.code in (0, None), exc.code\n"
)
PLATFORM = "import tradelake.platform\nimport tradelake.cli.desk\n"
NEVER_FOR_HELP = ("torch", "pandera", "mlflow", "polars", "duckdb", "scipy", "pandas", "numpy")
NEVER_FOR_PLATFORM = (
    "torch", "pandera", "pandas", "mlflow", "scipy", "fastapi", "uvicorn", "httpx", "fsspec",
    "vaderSentiment", "PIL", "duckdb",
)  # fmt: skip


def imported_after(code: str) -> set[str]:
    """Top-level packages in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    report = "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADELAKE_")}
    done = subprocess.run(
        [sys.executable, "-c", code + report], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    ("code", "forbidden"),
    [(HELP, NEVER_FOR_HELP), (PLATFORM, NEVER_FOR_PLATFORM)],
    ids=["tradelake --help", "import tradelake.platform"],
)
def test_start_up_does_not_import_what_the_command_does_not_need(
    code: str, forbidden: tuple[str, ...]
) -> None:
    loaded = imported_after(code)

    assert "tradelake" in loaded
    assert sorted(loaded & set(forbidden)) == []


def test_pricing_a_chain_still_imports_scipy_on_first_use() -> None:
    """The lazy imports load when needed: parsing a chain prices it (greeks → scipy)."""
    code = (
        "import sys\n"
        "sys.path.insert(0, 'tests')\n"
        "from fixtures import feeds\n"
        "from tradelake.sources.base import ParseContext\n"
        "from tradelake.sources.options import parse_tradier\n"
        "assert 'scipy' not in sys.modules\n"
        "frame = parse_tradier(feeds.tradier(feeds.chain()), 'a.json', ParseContext())\n"
        "assert frame.frames['options_raw']['iv'].drop_nulls().len() > 100\n"
    )
    assert "scipy" in imported_after(code)


def test_an_ingest_loads_duckdb_for_its_refresh_and_never_pandas() -> None:
    """DuckDB is lazy, not gone: the refresh after an ingest loads it (on the thread that
    opens the connection ahead); the contract check needs no pandas."""
    code = (
        "import sys, tempfile, pathlib\n"
        "sys.path.insert(0, 'tests')\n"
        "from fixtures.atas import export\n"
        "from tradelake.platform import Platform\n"
        "home = pathlib.Path(tempfile.mkdtemp())\n"
        "(home / 'a.xlsx').write_bytes(export(fills=50, seed=5)[0])\n"
        "assert 'duckdb' not in sys.modules\n"
        "report = Platform.open(home).ingest([home / 'a.xlsx'], tz='UTC')\n"
        "assert report.ok and 'trades' in report.refresh.rebuilt, report\n"
    )
    loaded = imported_after(code)
    assert "duckdb" in loaded
    assert not loaded & {"pandas", "pandera"}


def test_the_cli_freezes_what_importing_the_platform_made_and_keeps_collecting() -> None:
    """Importing the data stack leaves some 80,000 long-lived objects that the cyclic collector
    walked again at every full collection (about 0.3 s of CPU per ingest process): the CLI
    freezes them once, and the collector stays on for everything made after."""
    code = (
        "import gc, pathlib, tempfile\n"
        "from tradelake.cli.common import open_platform\n"
        "open_platform(pathlib.Path(tempfile.mkdtemp()))\n"
        "assert gc.isenabled()\n"
        "assert gc.get_freeze_count() > 20_000, gc.get_freeze_count()\n"
    )
    assert "polars" in imported_after(code)
