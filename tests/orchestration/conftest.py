"""Airflow reads its configuration when first imported: point it at a throw-away home first.

These tests run in the Airflow environment (`bash scripts/test-airflow`); the main suite does
not collect them (tests/conftest.py), because Airflow 3.3 pins its own FastAPI/SQLAlchemy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="tradelake-airflow-"))
LINEAGE_FILE = AIRFLOW_HOME / "openlineage.jsonl"
os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(AIRFLOW_HOME / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(LINEAGE_FILE), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "tradelake-test",
    }
)
(AIRFLOW_HOME / "dags").mkdir()
subprocess.run(
    [sys.executable, "-m", "airflow", "db", "migrate"],
    check=True,
    capture_output=True,
    env=os.environ.copy(),
)


@pytest.fixture
def airflow_home() -> Path:
    """Airflow's home for this session: ``dags/`` and the OpenLineage event file inside it."""
    return AIRFLOW_HOME
