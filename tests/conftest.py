"""Shared fixtures: an isolated data home per test, and no user environment leaking in."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# The Airflow DAG tests run in Airflow's own environment (scripts/test-airflow).
collect_ignore = [] if importlib.util.find_spec("airflow") else ["orchestration"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TRADELAKE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "home"
    root.mkdir()
    yield root
