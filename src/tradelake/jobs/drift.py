"""``tradelake drift``: compare a model's training window with the last N days, record, alert.

For each model the check needs its *training sample* (:class:`~tradelake.ml.drift.TrainingSample`):
``<state>/drift/<model>.json`` written by :func:`log_training_sample` when the model was
trained (any model: the signal ensemble logs its own), else the ``drift_sample.json`` artifact
of the run of its MLflow ``champion``, else a built-in one (:data:`BUILT_IN`:
``sentiment``, shipped beside the weights). The recent window comes from a registered reader
(:data:`RECENT`) or, generically, the sample's own ``recent_sql`` run on the feature store.

Results are landed as a JSON report and staged into ``model_drift`` (one row per feature and
one for ``prediction``). Each breached feature becomes an :class:`~tradelake.stream.alerts.Alert`
(rule ``drift:<model>``, device ``model:<model>``, signal ``drift <feature>``, prob ``1 -
KS p-value``) delivered to the ``[drift] sinks`` (default: every ``[[sinks]]`` except the
dashboard, and the log), so a Slack-compatible webhook gets drift alerts like chart alerts.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tradelake.errors import DriftError, SinkError
from tradelake.features import FeatureStore
from tradelake.jobs.ingest import IngestEnv, process_object
from tradelake.ml.drift import FeatureDrift, Thresholds, TrainingSample, compare
from tradelake.sources.base import get_source
from tradelake.sources.model_drift import SOURCE
from tradelake.stream.alerts.record import Alert, alert_id
from tradelake.stream.settings import SinkConfig

logger = logging.getLogger(__name__)
SAMPLES_DIR = "drift"
RecentReader = Callable[[FeatureStore, TrainingSample, datetime], dict[str, list[float]]]
RECENT: dict[str, RecentReader] = {}


def _sentiment_sample() -> Path:
    from tradelake.jobs.sentiment import shipped_sample_path

    return shipped_sample_path()


BUILT_IN: dict[str, Callable[[], Path]] = {"sentiment": _sentiment_sample}


@dataclass(frozen=True)
class DriftReport:
    """One check of one model."""

    run_id: str
    model: str
    model_version: str
    checked_ts: datetime
    window_start: datetime
    window_end: datetime
    features: list[FeatureDrift]
    alerts_sent: int = 0
    landing_id: str | None = None

    @property
    def breaches(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.breach]

    def rows(self) -> list[dict[str, Any]]:
        """``model_drift`` rows (times ISO 8601)."""
        head = {
            "run_id": self.run_id,
            "checked_ts": self.checked_ts.isoformat(),
            "model": self.model,
            "model_version": self.model_version,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
        }
        return [{**head, **f.to_dict()} for f in self.features]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model": self.model,
            "model_version": self.model_version,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "breaches": [f.feature for f in self.breaches],
            "alerts_sent": self.alerts_sent,
            "features": [f.to_dict() for f in self.features],
        }


def log_training_sample(state_dir: Path, sample: TrainingSample) -> Path:
    """Record a model's training-window sample so ``tradelake drift --model`` can check it."""
    return sample.save(Path(state_dir) / SAMPLES_DIR / f"{sample.model}.json")


def known_models(state_dir: Path) -> list[str]:
    """Models with a logged or built-in training sample."""
    logged = {p.stem for p in (Path(state_dir) / SAMPLES_DIR).glob("*.json")}
    return sorted(logged | set(BUILT_IN))


def training_sample(
    state_dir: Path, model: str, *, tracking_uri: str | None = None
) -> TrainingSample:
    """The logged sample (``<state>/drift/<model>.json``), else the ``drift_sample.json``
    artifact of the run behind MLflow's ``models:/<model>@champion``, else a built-in one."""
    logged = Path(state_dir) / SAMPLES_DIR / f"{model}.json"
    if logged.is_file():
        return TrainingSample.load(logged)
    if tracking_uri:
        found = mlflow_sample(tracking_uri, model)
        if found is not None:
            return found
    if model in BUILT_IN:
        return TrainingSample.load(BUILT_IN[model]())
    raise DriftError(
        f"no training sample for model {model!r}; known: {', '.join(known_models(state_dir))}. "
        "A model logs one with tradelake.jobs.drift.log_training_sample when it is trained, "
        f"or as the {MLFLOW_ARTIFACT} artifact of its champion's MLflow run"
    )


MLFLOW_ARTIFACT = "drift_sample.json"


def mlflow_sample(tracking_uri: str, model: str) -> TrainingSample | None:
    """The champion's ``drift_sample.json`` (``mlflow.log_dict(asdict(sample), ...)``), if any."""
    import tempfile

    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri[10:]).exists():
        return None  # no embedded store yet: do not create one just to look
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        version = client.get_model_version_by_alias(model, "champion")
        with tempfile.TemporaryDirectory() as tmp:
            path = client.download_artifacts(str(version.run_id), MLFLOW_ARTIFACT, tmp)
            return TrainingSample.load(path)
    except (MlflowException, OSError):
        return None


def recent_window(
    features: FeatureStore, sample: TrainingSample, since: datetime
) -> dict[str, list[float]]:
    """The recent values of the sample's columns (registered reader, else ``recent_sql``)."""
    reader = RECENT.get(sample.model)
    if reader is not None:
        return reader(features, sample, since)
    if not sample.recent_sql:
        raise DriftError(
            f"model {sample.model!r} logged no recent_sql and registered no reader in "
            "tradelake.jobs.drift.RECENT; log the SQL that selects its features"
        )
    try:
        frame = features.query(sample.recent_sql, [since])
    except Exception as exc:  # the feature store raises its own error for missing tables
        raise DriftError(f"the recent window of {sample.model} could not be read ({exc})") from exc
    return {c: [float(v) for v in frame[c].drop_nulls().to_list()] for c in frame.columns}


def check(
    features: FeatureStore,
    sample: TrainingSample,
    *,
    days: float = 7.0,
    now: datetime | None = None,
    thresholds: Thresholds | None = None,
) -> DriftReport:
    """Compare the training sample with the last ``days`` (nothing is written)."""
    end = now or datetime.now(UTC)
    start = end - timedelta(days=days)
    recent = recent_window(features, sample, start)
    results = compare(sample.columns(), recent, thresholds)
    return DriftReport(
        run_id=uuid.uuid4().hex[:16],
        model=sample.model,
        model_version=sample.version,
        checked_ts=end,
        window_start=start,
        window_end=end,
        features=results,
    )


def record(env: IngestEnv, report: DriftReport) -> str:
    """Land the report and stage it into ``model_drift``; returns the landing id."""
    payload = json.dumps({"rows": report.rows()}, sort_keys=True, default=str).encode()
    put = env.landing.put(
        payload,
        source=SOURCE,
        name=f"drift-{report.model}-{report.run_id}.json",
        content_type="application/json",
        attributes={"kind": SOURCE},
    )
    result = process_object(env, put.obj, payload, get_source(SOURCE), path=SOURCE)
    if result.status == "error":
        raise DriftError(f"the drift report of {report.model} could not be staged: {result.error}")
    return put.obj.landing_id


def breach_alerts(report: DriftReport) -> list[Alert]:
    """One alert per breached feature (see the module doc for the field mapping)."""
    out: list[Alert] = []
    for f in report.breaches:
        rule = f"drift:{report.model}"
        p = f.ks_pvalue if f.ks_pvalue == f.ks_pvalue else 1.0  # NaN: no KS verdict
        out.append(
            Alert(
                alert_id=alert_id(rule, f"{report.run_id}:{f.feature}"),
                rule=rule,
                device=f"model:{report.model}",
                frame_id=report.run_id,
                signal=f"drift {f.feature} PSI {f.psi:.3f} KS {f.ks_stat:.3f}",
                prob=max(0.0, min(1.0, 1.0 - p)),
                frame_ts=report.window_end,
                detected_ts=report.checked_ts,
                sent_ts=datetime.now(UTC),
                model_version=report.model_version,
                landing_id=report.landing_id or "",
            )
        )
    return out


def drift_sinks(all_sinks: Sequence[SinkConfig], names: Sequence[str] | None) -> list[SinkConfig]:
    """``[drift] sinks`` by name, else every configured sink but the dashboard, plus log."""
    if names:
        by_name = {s.name: s for s in all_sinks} | {"log": SinkConfig("log", "log")}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise DriftError(f"[drift] sinks names unknown sinks {unknown}; add [[sinks]] entries")
        return [by_name[n] for n in names]
    chosen = [s for s in all_sinks if s.type != "dashboard"]
    return chosen if any(s.type == "log" for s in chosen) else [*chosen, SinkConfig("log", "log")]


def send_alerts(alerts: Sequence[Alert], sinks: Sequence[SinkConfig]) -> int:
    """Deliver every alert to every sink, retrying with the sink's backoff; returns how many
    (alert, sink) deliveries succeeded. A sink that keeps failing is logged, not raised: the
    drift rows are already recorded."""
    if not alerts:
        return 0
    from tradelake.stream.alerts.sinks import SinkContext, open_sink
    from tradelake.stream.hub import AlertHub

    context = SinkContext(AlertHub())
    delivered = 0
    for config in sinks:
        sink = open_sink(config, context)
        try:
            for alert in alerts:
                delivered += int(_deliver(sink, alert))
        finally:
            sink.close()
    return delivered


def _deliver(sink: Any, alert: Alert) -> bool:
    for attempt in range(int(sink.retries) + 1):
        try:
            sink.send(alert)
            return True
        except SinkError as exc:
            if attempt == int(sink.retries):
                logger.error("drift alert to sink %s failed: %s", sink.name, exc)
                return False
            time.sleep(float(sink.backoff_s) * 2**attempt)
    return False


def run_checks(
    env: IngestEnv,
    features: FeatureStore,
    state_dir: Path,
    models: Sequence[str],
    *,
    sinks: Sequence[SinkConfig],
    days: float = 7.0,
    thresholds: Thresholds | None = None,
    now: datetime | None = None,
    tracking_uri: str | None = None,
) -> list[DriftReport]:
    """Check, record and alert for each model; the caller refreshes the feature store."""
    reports: list[DriftReport] = []
    for model in models:
        sample = training_sample(state_dir, model, tracking_uri=tracking_uri)
        report = check(features, sample, days=days, now=now, thresholds=thresholds)
        landing_id = record(env, report)
        report = _with(report, landing_id=landing_id)
        sent = send_alerts(breach_alerts(report), sinks)
        reports.append(_with(report, alerts_sent=sent))
    return reports


def _with(report: DriftReport, **changes: Any) -> DriftReport:
    from dataclasses import replace

    return replace(report, **changes)


def thresholds_from(raw: Mapping[str, Any]) -> Thresholds:
    """``[drift]`` psi / ks_alpha / ks_min_stat / min_rows, defaults otherwise."""
    d = Thresholds()
    return Thresholds(
        psi=float(raw.get("psi", d.psi)),
        ks_alpha=float(raw.get("ks_alpha", d.ks_alpha)),
        ks_min_stat=float(raw.get("ks_min_stat", d.ks_min_stat)),
        min_rows=int(raw.get("min_rows", d.min_rows)),
    )
