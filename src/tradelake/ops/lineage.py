"""OpenLineage run events: every job run says START, then COMPLETE or FAIL, with its datasets.

Each run (``ingest``, ``pull.<feed>``, ``refresh``, ``replay``, ``train.vision``, and the stream's
``stream.cv`` per persisted window and ``stream.alerts`` per batch that raised alerts) is one
OpenLineage ``RunEvent`` pair built with ``openlineage-python``: job namespace ``[lineage]
namespace`` (``tradelake``) and name, a UUIDv7 ``run_id``, and the input and output datasets named
by :mod:`tradelake.ops.datasets` (landing objects, staging tables, feature tables, queue topics,
models, alerts).

Where events go: always appended as JSON lines to ``<home>/lineage/events.jsonl`` (the embedded
default, and what ``tradelake lineage`` reads), and also POSTed to an OpenLineage endpoint
(Marquez: ``http://marquez:5000``, path ``/api/v1/lineage``) when ``[lineage] url`` is set. An
endpoint that fails is logged, never fails the job: lineage describes the work, it is not the work.

Secrets: every string that goes into an event (job and dataset names, error messages) passes
:func:`tradelake.redaction.redact` first, and the line written to the file is masked once more,
so a key that reached a URL or an error never reaches lineage.

Events are built and written on one background thread, in order: the import of
``openlineage`` (about half a second, more on a loaded machine) overlaps the job's own work
instead of adding to it. A top-level run waits at its end until its events are written
(:meth:`LineageEmitter.flush`), so when ``tradelake ingest`` returns, its events are in the
file; the stream's runs do not wait (the alert path never does), and whatever is queued when the
process exits is written first.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import queue
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tradelake.errors import ConfigError
from tradelake.ops import metrics
from tradelake.redaction import redact

logger = logging.getLogger(__name__)
EVENTS_FILE = Path("lineage") / "events.jsonl"
PRODUCER = "https://github.com/tradelake/tradelake"
DEFAULT_NAMESPACE = "tradelake"
IDLE_S = 5.0  # the writer thread ends after this long without events


@dataclass(frozen=True, order=True)
class Dataset:
    """An OpenLineage dataset: ``namespace`` (where: a URL of the store) and ``name`` (what)."""

    namespace: str
    name: str

    def to_dict(self) -> dict[str, str]:
        return {"namespace": self.namespace, "name": self.name}


@dataclass(frozen=True)
class LineageConfig:
    """``[lineage]``: ``namespace`` of the jobs, ``url`` of an OpenLineage endpoint (empty =
    the JSONL file only), its ``endpoint`` path, ``timeout_s``, and ``api_key_env`` naming the
    variable that holds a bearer token for it."""

    events_file: Path
    namespace: str = DEFAULT_NAMESPACE
    url: str = ""
    endpoint: str = "api/v1/lineage"
    timeout_s: float = 5.0
    api_key: str | None = None
    enabled: bool = True


def lineage_config(home: Path, raw: Mapping[str, Any]) -> LineageConfig:
    """``[lineage]`` from the settings' raw mapping (the token is read with ``read_secret``)."""
    from tradelake.config import read_secret

    section = dict(raw.get("lineage", {}))
    url = str(section.get("url") or "").strip()
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"[lineage] url = {url!r} is not an http(s) URL (e.g. http://marquez:5000); fix "
            "tradelake.toml or TRADELAKE_LINEAGE__URL"
        )
    key_env = str(section.get("api_key_env") or "") or None
    key_file = str(section.get("api_key_file") or "") or None
    api_key = (
        read_secret("[lineage] endpoint", env_var=key_env, file=key_file)
        if key_env or key_file
        else None
    )
    return LineageConfig(
        events_file=home / EVENTS_FILE,
        namespace=str(section.get("namespace") or DEFAULT_NAMESPACE),
        url=url,
        endpoint=str(section.get("endpoint") or "api/v1/lineage"),
        timeout_s=float(section.get("timeout_s", 5.0)),
        api_key=api_key,
        enabled=bool(section.get("enabled", True)),
    )


@dataclass
class RunHandle:
    """A run in progress: add the datasets it reads and writes as they become known; the
    COMPLETE event carries them all. A job that reports failure instead of raising (a pull)
    sets ``failed`` to its error: the run then ends with FAIL."""

    run_id: str
    job: str
    started: datetime
    inputs: set[Dataset] = field(default_factory=set)
    outputs: set[Dataset] = field(default_factory=set)
    failed: str | None = None

    def reads(self, datasets: Iterable[Dataset]) -> None:
        self.inputs.update(datasets)

    def writes(self, datasets: Iterable[Dataset]) -> None:
        self.outputs.update(datasets)


class LineageEmitter:
    """Emits the run events of one data home (thread-safe; one instance per process is enough)."""

    def __init__(self, config: LineageConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._http: Any = None
        self._ready = False
        self._pending: queue.Queue[_Pending] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._worker_lock = threading.Lock()
        self._exit_hook = False

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every queued event is written (and sent); False if it took too long."""
        if self._worker is None:
            return True
        done = threading.Event()
        self._enqueue(_Pending(None, done=done))
        return done.wait(timeout_s)

    def _enqueue(self, item: _Pending) -> None:
        """Queue ``item``, starting the writer thread if none runs (it ends after a few idle
        seconds, so a process with many data homes keeps no idle threads)."""
        with self._worker_lock:
            self._pending.put(item)
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._drain, name="lineage-events", daemon=True
                )
                self._worker.start()
                if not self._exit_hook:
                    atexit.register(self.flush)
                    self._exit_hook = True

    def _drain(self) -> None:
        while True:
            try:
                item = self._pending.get(timeout=IDLE_S)
            except queue.Empty:
                with self._worker_lock:  # _enqueue puts under this lock: nothing slips by
                    if self._pending.empty():
                        self._worker = None
                        return
                continue
            if item.done is not None:
                item.done.set()
                continue
            try:
                self._write(*item.event)
            except Exception:  # lineage describes the work; it never stops it
                logger.exception(
                    "a lineage event could not be written to %s", self.config.events_file
                )

    def prepare(self) -> None:
        """Import openlineage and open the transports now (a server does it at start, so the
        first batch does not wait for the import)."""
        with self._lock:
            if self._ready:
                return
            from openlineage.client.transport.http import HttpConfig, HttpTransport

            self.config.events_file.parent.mkdir(parents=True, exist_ok=True)
            if self.config.url:
                options: dict[str, Any] = {
                    "url": self.config.url,
                    "endpoint": self.config.endpoint,
                    "timeout": self.config.timeout_s,
                    # One quick retry: a job must not wait long for an endpoint that is down.
                    "retry": {
                        "total": 1,
                        "backoff_factor": 0.1,
                        "allowed_methods": ["POST"],
                        "status_forcelist": [500, 502, 503, 504],
                    },
                }
                if self.config.api_key:
                    options["auth"] = {"type": "api_key", "apiKey": self.config.api_key}
                self._http = HttpTransport(HttpConfig.from_dict(options))
            self._ready = True

    @contextmanager
    def run(
        self,
        job: str,
        *,
        inputs: Iterable[Dataset] = (),
        outputs: Iterable[Dataset] = (),
        parent: RunHandle | None = None,
    ) -> Iterator[RunHandle]:
        """START now; COMPLETE when the block ends, FAIL (with the error) when it raises. A
        top-level run (no parent) returns once its events are written."""
        handle = self.start(job, inputs=inputs, outputs=outputs, parent=parent)
        try:
            yield handle
        except BaseException as exc:
            self.finish(handle, error=f"{type(exc).__name__}: {exc}", parent=parent)
            if parent is None:
                self.flush()
            raise
        self.finish(handle, error=handle.failed, parent=parent)
        if parent is None:
            self.flush()

    def start(
        self,
        job: str,
        *,
        inputs: Iterable[Dataset] = (),
        outputs: Iterable[Dataset] = (),
        parent: RunHandle | None = None,
        started: datetime | None = None,
    ) -> RunHandle:
        when = started or datetime.now(UTC)
        handle = RunHandle(_uuid7(when), job, when, set(inputs), set(outputs))
        self._emit("START", handle, when, parent=parent)
        return handle

    def finish(
        self,
        handle: RunHandle,
        *,
        error: str | None = None,
        parent: RunHandle | None = None,
    ) -> None:
        state = "COMPLETE" if error is None else "FAIL"
        self._emit(state, handle, datetime.now(UTC), parent=parent, error=error)

    def completed(
        self,
        job: str,
        started: datetime,
        *,
        inputs: Iterable[Dataset],
        outputs: Iterable[Dataset],
    ) -> RunHandle:
        """A run already done (a stream window): START at ``started``, then COMPLETE now."""
        handle = self.start(job, inputs=inputs, outputs=outputs, started=started)
        self.finish(handle)
        return handle

    def _emit(
        self,
        state: str,
        handle: RunHandle,
        when: datetime,
        *,
        parent: RunHandle | None,
        error: str | None = None,
    ) -> None:
        if not self.config.enabled:
            return
        snapshot = RunHandle(
            handle.run_id, handle.job, handle.started, set(handle.inputs), set(handle.outputs)
        )
        self._enqueue(_Pending((state, snapshot, when, parent, error)))

    def _write(
        self,
        state: str,
        handle: RunHandle,
        when: datetime,
        parent: RunHandle | None,
        error: str | None,
    ) -> None:
        self.prepare()
        event = self._event(state, handle, when, parent, error)
        line = redact(_serialize(event))  # a secret in any field is masked, whatever put it there
        self._append(line)
        metrics.observe_lineage_event(state)
        if self._http is not None:
            self._send(event)

    def _event(
        self,
        state: str,
        handle: RunHandle,
        when: datetime,
        parent: RunHandle | None,
        error: str | None,
    ) -> Any:
        from openlineage.client.event_v2 import (
            InputDataset,
            Job,
            OutputDataset,
            Run,
            RunEvent,
            RunState,
        )
        from openlineage.client.facet_v2 import error_message_run, parent_run

        namespace = self.config.namespace
        facets: dict[str, Any] = {}
        if parent is not None:
            facets["parent"] = parent_run.ParentRunFacet(
                run=parent_run.Run(runId=parent.run_id),
                job=parent_run.Job(namespace=namespace, name=redact(parent.job)),
            )
        if error is not None:
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=redact(error), programmingLanguage="python"
            )
        return RunEvent(
            eventType=RunState[state],
            eventTime=when.isoformat(),
            run=Run(runId=handle.run_id, facets=facets),
            job=Job(namespace=namespace, name=redact(handle.job)),
            producer=PRODUCER,
            inputs=[
                InputDataset(namespace=redact(d.namespace), name=redact(d.name))
                for d in sorted(handle.inputs)
            ],
            outputs=[
                OutputDataset(namespace=redact(d.namespace), name=redact(d.name))
                for d in sorted(handle.outputs)
            ],
        )

    def _append(self, line: str) -> None:
        """One line per event; a lock file keeps lines of concurrent processes whole."""
        path = self.config.events_file
        with self._lock, open(path.with_suffix(".lock"), "a") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            with open(path, "a", encoding="utf-8") as out:
                out.write(line + "\n")

    def _send(self, event: Any) -> None:
        try:
            self._http.emit(event)
        except Exception as exc:  # lineage is about the work, never a reason to fail it
            logger.warning(
                "OpenLineage endpoint %s refused an event: %s", self.config.url, redact(str(exc))
            )


@dataclass(frozen=True)
class _Pending:
    """A queued event (state, run, time, parent, error), or a flush marker (``done``)."""

    event: Any
    done: threading.Event | None = None


def _uuid7(when: datetime) -> str:
    """A UUIDv7 (RFC 9562: 48-bit Unix milliseconds, version 7, random bits), as OpenLineage
    recommends for run ids: time-ordered, so run ids sort by start."""
    millis = int(when.timestamp() * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (millis << 80)
        | (0x7 << 76)
        | ((rand >> 68) << 64)
        | (0b10 << 62)
        | (rand & ((1 << 62) - 1))
    )
    return str(uuid.UUID(int=value))


def _serialize(event: Any) -> str:
    from openlineage.client.serde import Serde

    return str(Serde.to_json(event))


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every event in a JSONL file, oldest first (a torn last line is skipped)."""
    if not path.exists():
        return []
    events = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events
