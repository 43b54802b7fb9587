"""The stream's roles wired together: ``gateway`` (frames in), ``cv`` (scoring), ``alerts``.

By default one ``tradelake serve`` process runs all three over one in-process queue. Each
role is built only when asked for, so a process can run one role alone over a
``multi_process`` queue backend (Kafka); the in-process queue refuses a split, since the roles
could not reach each other.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from tradelake.errors import ConfigError, TradelakeError
from tradelake.jobs.ingest import IngestEnv
from tradelake.stream.alerts import AlertEngine, AlertStore
from tradelake.stream.alerts.store import ALERTS_FILE
from tradelake.stream.cv_service import CvService
from tradelake.stream.gateway import FrameGateway
from tradelake.stream.hub import AlertHub
from tradelake.stream.model_watch import ModelWatcher
from tradelake.stream.queue import Queue, open_queue
from tradelake.stream.settings import StreamSettings

if TYPE_CHECKING:
    from tradelake.ml.signal_serving import SignalScorer

logger = logging.getLogger(__name__)
ROLES = ("gateway", "cv", "alerts")


def alerts_path(state_dir: Path) -> Path:
    """Where the ``alerts`` table lives: ``<home>/state/alerts.sqlite``."""
    return state_dir / ALERTS_FILE


class StreamRuntime:
    """The roles of one process; :meth:`start` and :meth:`stop` bring them up and down."""

    def __init__(
        self,
        env: IngestEnv,
        settings: StreamSettings,
        *,
        state_dir: Path,
        model: str | None,
        tracking_uri: str | None,
        roles: Iterable[str] = ROLES,
        queue: Queue | None = None,
        refresh: Callable[[], object] | None = None,
        scorer: SignalScorer | None = None,
    ) -> None:
        self.roles = tuple(roles)
        self.scorer = scorer  # POST /api/score: the signal ensemble's champion, hot-swapped
        unknown = sorted(set(self.roles) - set(ROLES))
        if unknown:
            raise ConfigError(f"unknown stream roles {unknown}; use some of {', '.join(ROLES)}")
        self.settings = settings
        self.queue = queue or open_queue(settings.queue, settings.options)
        if set(self.roles) != set(ROLES) and not self.queue.capabilities.multi_process:
            raise ConfigError(
                f"[stream] queue = {settings.queue!r} lives inside one process: run every role "
                "together (--role all), or configure a multi-process queue such as kafka"
            )
        self.hub = AlertHub()
        self.store = AlertStore(alerts_path(state_dir))
        self.gateway = FrameGateway(env, self.queue, settings) if "gateway" in self.roles else None
        self.cv = (
            CvService(
                env, self.queue, ModelWatcher(model, tracking_uri, settings.model_poll_s), settings
            )
            if "cv" in self.roles
            else None
        )
        self.alerts = (
            AlertEngine(
                self.queue,
                self.store,
                self.hub,
                settings,
                ops=env.ops,
                landing_url=env.landing.url,
                alerts_file=alerts_path(state_dir),
            )
            if "alerts" in self.roles
            else None
        )
        self._ops = env.ops
        self._owns_queue = queue is None
        # The feature store sees new img_signals rows by a periodic refresh, never per frame.
        refresh_s = float(settings.options.get("refresh_s", 60.0))
        self._refresher = (
            _Periodic(refresh, refresh_s, "feature-refresh")
            if refresh is not None and refresh_s > 0 and self.cv is not None
            else None
        )
        # A device whose frames stop is a data-quality alert ([quality_alerts] stream_stale_s).
        quality = env.ops.quality
        self._stale_watch = (
            _Periodic(self._check_stale, quality.config.stale_check_s, "stale-stream")
            if quality is not None and quality.config.stream_stale_s > 0 and self.cv is not None
            else None
        )

    def start(self) -> None:
        """Alerts first, then CV (which rescans landing), so nothing is published unheard."""
        if self._ops.lineage is not None:  # import openlineage now, not on the first batch
            self._ops.lineage.prepare()
        if self.alerts is not None:
            self.alerts.start()
        if self.cv is not None:
            self.cv.start()
        if self._refresher is not None:
            self._refresher.start()
        if self._stale_watch is not None:
            self._stale_watch.start()
        if self.scorer is not None:
            self.scorer.start()
        logger.info(
            "stream roles running: %s (queue %s)", ", ".join(self.roles), self.settings.queue
        )

    def stop(self) -> None:
        """Stop taking work in flow order; what was not committed is redelivered later."""
        if self._refresher is not None:
            self._refresher.stop()
        if self._stale_watch is not None:
            self._stale_watch.stop()
        if self.scorer is not None:
            self.scorer.stop()
        if self.cv is not None:
            self.cv.stop()
        if self.alerts is not None:
            self.alerts.stop()
        if self._owns_queue:
            self.queue.close()
        self.store.close()

    def _check_stale(self) -> None:
        quality = self._ops.quality
        if quality is not None and self.cv is not None:
            quality.check_stale_streams(dict(self.cv.last_seen))


def run_until_signalled(runtime: StreamRuntime) -> None:
    """Run roles that serve no HTTP (``--role cv``) until SIGINT or SIGTERM, then stop them
    (the batch in hand is finished; what was not committed is redelivered)."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    runtime.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        runtime.stop()


class _Periodic:
    """Calls ``action`` every ``every_s`` on a daemon thread; a failure is logged, not fatal."""

    def __init__(self, action: Callable[[], object], every_s: float, name: str) -> None:
        self._action = action
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                self._action()
            except TradelakeError as exc:
                logger.error("%s failed: %s", self._thread.name, exc)
