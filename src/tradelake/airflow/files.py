"""``tradelake airflow dags --out DIR``: the DAG file a deployment drops into ``dags/``.

It holds no logic, only which data home to build the DAGs of; Airflow's DAG processor
re-parses it, so a feed added to ``tradelake.toml`` appears as a DAG without a redeploy.
(Airflow's safe-mode parser only opens files that mention both "airflow" and "dag": the
docstring does.)
"""

from __future__ import annotations

import re
from pathlib import Path

TRADES_DAG = "tradelake_trades_etl"
NIGHTLY_DAG = "tradelake_nightly"


def feed_dag_id(feed: str) -> str:
    """The DAG id of a pulled feed (names may hold characters Airflow refuses)."""
    return "tradelake_feed_" + re.sub(r"[^A-Za-z0-9_.-]", "_", feed)


TEMPLATE = '''"""Airflow DAGs of the tradelake data home {home}.

Written by `tradelake airflow dags`; it holds no logic: edit tradelake.toml, not this file.
"""

from tradelake.airflow.dags import build_dags

globals().update(build_dags({home!r}))
'''


def write_dag_file(home: Path, out: Path) -> Path:
    """Write (or replace) the DAG file for ``home`` into the folder ``out``; return its path."""
    out.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_]", "_", home.name).strip("_") or "home"
    path = out / f"tradelake_{name}.py"
    path.write_text(TEMPLATE.format(home=str(home)), encoding="utf-8")
    return path
