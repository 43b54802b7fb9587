"""Hot swap of the chart model: watch an MLflow alias and swap the classifier between batches.

MLflow has no reload on alias change (MLflow issue 4039), so :class:`ModelWatcher` polls the
alias of ``[vision] model`` (``models:/<name>@<alias>``, e.g. ``@champion``) every
``model_poll_s``. When it names another version, that version is loaded completely on the
watcher's thread (``models:/<name>/<version>``, so an alias moving again mid-load cannot mix two
versions) and only then replaces the current classifier, in one reference assignment. The CV
service reads :meth:`ModelWatcher.current` once per micro-batch: a batch is scored by one
model, no frame waits for a load, and ``img_signals.model_version`` shows where the switch
happened. Any other model setting (the shipped checkpoint, a ``.pt`` file, a fixed version) is
loaded once and never polled.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING

from tradelake.errors import TradelakeError
from tradelake.sources import screens

if TYPE_CHECKING:
    from tradelake.ml.vision import ChartClassifier

logger = logging.getLogger(__name__)
_ALIAS_URI = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)$")


class ModelWatcher:
    """The classifier frames are scored with now, swapped when the watched alias moves."""

    def __init__(self, source: str | None, tracking_uri: str | None, poll_s: float = 5.0) -> None:
        self._source = source
        self._tracking_uri = tracking_uri
        self._poll_s = poll_s
        match = _ALIAS_URI.match(source or "")
        self._alias = (match["name"], match["alias"]) if match else None
        self._version: str | None = None
        self._current: ChartClassifier | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.swaps = 0

    @property
    def watching(self) -> bool:
        """Whether the model is an MLflow alias that is polled for moves."""
        return self._alias is not None

    def current(self) -> ChartClassifier:
        """The model to score the next batch with (loaded on first use)."""
        model = self._current
        if model is None:
            model = self._load_first()
        return model

    def start(self) -> None:
        """Load the model now and, for an alias, start polling it on a daemon thread."""
        self.current()
        if self._alias is not None and self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="model-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def check_now(self) -> bool:
        """Poll the alias once; True when a new version was loaded and swapped in."""
        if self._alias is None:
            return False
        version = self._alias_version()
        if version is None or version == self._version:
            return False
        from tradelake.ml.vision import ChartClassifier

        name = self._alias[0]
        loaded = ChartClassifier.load(f"models:/{name}/{version}", tracking_uri=self._tracking_uri)
        self._current, self._version = loaded, version
        self.swaps += 1
        logger.info(
            "model %s@%s moved to version %s (%s)",
            name,
            self._alias[1],
            version,
            loaded.model_version,
        )
        return True

    def _load_first(self) -> ChartClassifier:
        if self._alias is not None:
            version = self._alias_version()
            if version is not None:
                from tradelake.ml.vision import ChartClassifier

                source = f"models:/{self._alias[0]}/{version}"
                self._current = ChartClassifier.load(source, tracking_uri=self._tracking_uri)
                self._version = version
                return self._current
        self._current = screens.classifier(screens.ModelRef(self._source, self._tracking_uri))
        return self._current

    def _alias_version(self) -> str | None:
        """The version the alias names now, or None when the registry cannot say."""
        assert self._alias is not None
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        uri = self._tracking_uri
        try:
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            return str(client.get_model_version_by_alias(*self._alias).version)
        except MlflowException as exc:
            logger.warning("cannot read %s@%s from %s: %s", *self._alias, uri, exc.message)
            return None

    def _watch(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                self.check_now()
            except TradelakeError as exc:  # a bad new version: keep scoring with the old one
                logger.error("model swap failed, still scoring with %s: %s", self._version, exc)
