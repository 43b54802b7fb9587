"""MLflow glue shared by every model: log a run, register a version, promote on a rule.

Each model module (:mod:`tradelake.ml.registry` for the chart CNN, :mod:`tradelake.ml.
signal_registry` for the signal ensemble) says *what* it logs and *when* a version beats the
champion; this module does the MLflow part the same way for all of them:

- Storage defaults to ``sqlite:///<home>/mlflow.db`` with artifacts in ``<home>/mlartifacts``
  (an experiment created here gets that artifact location, so nothing lands in ``./mlruns``);
  pass ``tracking_uri`` for a server. Functions take these explicitly: no global config.
- A registered version carries its headline metrics as tags ``metric.<key>``, so comparing
  with the champion reads the registry only, not the run.
- ``champion`` is an alias; :func:`promote_if` moves it only when the caller's rule says the
  new version's metrics beat the champion's (or there is none).

Importing this module sets ``MLFLOW_DISABLE_TELEMETRY=true`` unless the environment says
otherwise, so MLflow makes no network attempt on an offline desk machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

CHAMPION = "champion"
METRIC_TAG = "metric."

Beats = Callable[[Mapping[str, float], Mapping[str, float]], bool]
"""(new version's metrics, champion's metrics) -> whether the new one should be champion."""


@dataclass(frozen=True)
class Registered:
    """A logged run and the model version registered from it."""

    run_id: str
    version: str


@dataclass(frozen=True)
class VersionInfo:
    """One registered version as ``tradelake model list`` shows it."""

    name: str
    version: str
    aliases: tuple[str, ...]
    created_ms: int
    metrics: dict[str, float]
    run_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "aliases": list(self.aliases),
            "created_ms": self.created_ms,
            "metrics": self.metrics,
            "run_id": self.run_id,
        }


def default_tracking_uri(home: str | Path) -> str:
    """``sqlite:///<home>/mlflow.db`` (absolute path)."""
    return f"sqlite:///{Path(home).resolve() / 'mlflow.db'}"


def resolve_uri(tracking_uri: str | None, home: str | Path | None) -> str:
    """``tracking_uri`` when given, else the embedded store of ``home``."""
    if tracking_uri:
        return tracking_uri
    if home is None:
        raise ValueError("pass tracking_uri or home (where mlflow.db and mlartifacts live)")
    Path(home).mkdir(parents=True, exist_ok=True)
    return default_tracking_uri(home)


@contextmanager
def tracking(uri: str) -> Iterator[MlflowClient]:
    """Point MLflow's fluent API at ``uri`` for the block, then restore the previous URI.

    Sets MLflow's process-global URIs: not safe to run concurrently with other MLflow calls
    in the same process that rely on different URIs.
    """
    prev_t, prev_r = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield MlflowClient(tracking_uri=uri, registry_uri=uri)
    finally:
        mlflow.set_tracking_uri(prev_t)
        mlflow.set_registry_uri(prev_r)


def use_experiment(
    client: MlflowClient, experiment: str, uri: str, home: str | Path | None
) -> None:
    """Create ``experiment`` if needed (artifacts under ``<home>/mlartifacts`` for the
    embedded store) and make it the active one."""
    if mlflow.get_experiment_by_name(experiment) is None:
        embedded = home is not None and uri == default_tracking_uri(home)
        loc = (Path(str(home)).resolve() / "mlartifacts").as_uri() if embedded else None
        client.create_experiment(experiment, artifact_location=loc)
    mlflow.set_experiment(experiment)


def register_logged(
    client: MlflowClient,
    *,
    name: str,
    python_model: Any,
    artifacts: Mapping[str, str],
    pip_requirements: list[str],
    metrics: Mapping[str, float],
) -> str:
    """Inside an active run: log ``python_model`` with its artifacts, register it as a new
    version of ``name`` and tag that version with ``metrics``; returns the version."""
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=python_model,
        artifacts=dict(artifacts),
        pip_requirements=pip_requirements,
        registered_model_name=name,
    )
    version = str(info.registered_model_version)
    for key, value in metrics.items():
        client.set_model_version_tag(name, version, METRIC_TAG + key, repr(float(value)))
    return version


def champion_version(client: MlflowClient, name: str) -> ModelVersion | None:
    """The version the ``champion`` alias names, or None (no model, no alias)."""
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def version_metrics(mv: ModelVersion) -> dict[str, float]:
    """The ``metric.<key>`` tags of a version as floats."""
    return {
        key.removeprefix(METRIC_TAG): float(value)
        for key, value in (mv.tags or {}).items()
        if key.startswith(METRIC_TAG)
    }


def promote_if(
    client: MlflowClient, name: str, version: str, metrics: Mapping[str, float], beats: Beats
) -> bool:
    """Move ``champion`` to ``version`` iff there is no champion or ``beats(metrics, its)``."""
    current = champion_version(client, name)
    if current is not None and not beats(metrics, version_metrics(current)):
        return False
    client.set_registered_model_alias(name, CHAMPION, version)
    return True


def alias_version(uri: str | None, name: str, alias: str = CHAMPION) -> str | None:
    """The version ``name@alias`` names now, or None when there is none (``uri`` None: MLflow's
    own default)."""
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def list_versions(uri: str, names: list[str] | None = None) -> list[VersionInfo]:
    """Every registered version (of ``names``, or of every model), newest first per model."""
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    if names is None:
        names = sorted(m.name for m in client.search_registered_models())
    out: list[VersionInfo] = []
    for name in names:
        try:
            versions = client.search_model_versions(f"name = '{_quoted(name)}'")
            # search results carry no aliases in MLflow 3.17; the registered model has them.
            aliases = dict(client.get_registered_model(name).aliases or {})
        except MlflowException:
            continue
        for mv in sorted(versions, key=lambda v: -int(v.version)):
            out.append(
                VersionInfo(
                    name,
                    str(mv.version),
                    tuple(sorted(a for a, v in aliases.items() if str(v) == str(mv.version))),
                    int(mv.creation_timestamp or 0),
                    version_metrics(mv),
                    str(mv.run_id),
                )
            )
    return out


def download(model_uri: str, uri: str) -> Path:
    """Download the artifacts of a logged model (``models:/...``, ``runs:/...``); the local
    folder (or file). Raises MlflowException as MLflow does; callers say what to do."""
    # MLflow 3 resolves the logged model behind a models:/ URI with the *global* URIs,
    # whatever download_artifacts is passed, so point them at ``uri`` for the call.
    with tracking(uri):
        return Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=model_uri, tracking_uri=uri, registry_uri=uri
            )
        )


def _quoted(name: str) -> str:
    return name.replace("'", "''")
