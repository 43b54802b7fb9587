"""Hot swap of the chart model: watch an MLflow alias and swap the classifier between batches.

When ``[vision] model`` is an alias (``models:/<name>@<alias>``, e.g. ``@champion``), an
:class:`~tradelake.ml.hot_swap.AliasWatcher` polls it every ``model_poll_s`` and swaps in a
version only once it is completely loaded. The CV service reads :meth:`ModelWatcher.current`
once per micro-batch: a batch is scored by one model, no frame waits for a load, and
``img_signals.model_version`` shows where the switch happened. Any other model setting (the
shipped checkpoint, a ``.pt`` file, a fixed version) is loaded once and never polled.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tradelake.ml.hot_swap import AliasWatcher
from tradelake.sources import screens

if TYPE_CHECKING:
    from tradelake.ml.vision import ChartClassifier

_ALIAS_URI = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)$")


class ModelWatcher:
    """The classifier frames are scored with now, swapped when the watched alias moves."""

    def __init__(self, source: str | None, tracking_uri: str | None, poll_s: float = 5.0) -> None:
        self._source = source
        self._tracking_uri = tracking_uri
        match = _ALIAS_URI.match(source or "")
        self._watcher: AliasWatcher[ChartClassifier] | None = None
        if match:
            name = match["name"]

            def load(version: str) -> ChartClassifier:
                from tradelake.ml.vision import ChartClassifier

                uri = f"models:/{name}/{version}"
                return ChartClassifier.load(uri, tracking_uri=tracking_uri)

            self._watcher = AliasWatcher(name, match["alias"], tracking_uri, load, poll_s=poll_s)
        self._fixed: ChartClassifier | None = None

    @property
    def watching(self) -> bool:
        """Whether the model is an MLflow alias that is polled for moves."""
        return self._watcher is not None

    @property
    def swaps(self) -> int:
        """How many times a version was loaded from the alias (the first load counts)."""
        return self._watcher.swaps if self._watcher is not None else 0

    def current(self) -> ChartClassifier:
        """The model to score the next batch with (loaded on first use)."""
        if self._watcher is not None:
            served = self._watcher.served
            if served is None:
                self._watcher.check_now()
                served = self._watcher.served
            if served is not None:
                return served.model
        if self._fixed is None:
            self._fixed = screens.classifier(screens.ModelRef(self._source, self._tracking_uri))
        return self._fixed

    def start(self) -> None:
        """Load the model now and, for an alias, start polling it on a daemon thread."""
        self.current()
        if self._watcher is not None:
            self._watcher.start()

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()

    def check_now(self) -> bool:
        """Poll the alias once; True when a new version was loaded and swapped in."""
        return self._watcher.check_now() if self._watcher is not None else False
