"""The signal ensemble behind ``POST /api/score``: the champion, hot-swapped when it moves.

:class:`SignalScorer` follows ``signal_ensemble@champion`` with an
:class:`~tradelake.ml.hot_swap.AliasWatcher` (polled every ``[ensemble] poll_s``, 1 s by
default). Each call reads the served (version, model) pair once, so a request in flight
finishes on the model it started with while the next one gets the new version; the answer
names the version that scored it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from tradelake.errors import ModelError
from tradelake.ml.hot_swap import AliasWatcher
from tradelake.ml.model_registry import CHAMPION
from tradelake.ml.signal_ensemble import THRESHOLD, SignalModel
from tradelake.ml.signal_registry import MODEL_NAME, load_signal_model


@dataclass(frozen=True)
class Scores:
    """Probabilities of one request and the version that computed them."""

    model_version: str
    probs: list[float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "probs": self.probs,
            "take": [p >= THRESHOLD for p in self.probs],
            "threshold": THRESHOLD,
        }


class SignalScorer:
    """Scores entry-feature rows with the current champion (see module doc)."""

    def __init__(self, tracking_uri: str, *, poll_s: float = 1.0, name: str = MODEL_NAME) -> None:
        def load(version: str) -> SignalModel:
            return load_signal_model(f"models:/{name}/{version}", tracking_uri=tracking_uri)

        self.watcher: AliasWatcher[SignalModel] = AliasWatcher(
            name, CHAMPION, tracking_uri, load, poll_s=poll_s
        )

    def start(self) -> None:
        self.watcher.start()

    def stop(self) -> None:
        self.watcher.stop()

    def score(self, rows: Sequence[Mapping[str, Any]]) -> Scores:
        """Probabilities for ``rows`` (feature name -> value; missing features are missing).

        ValueError when the rows do not make a table, or a numeric feature holds text.
        """
        served = self.watcher.served
        if served is None:
            raise ModelError(
                f"no {self.watcher.name}@{CHAMPION} loaded (none registered yet, or the server "
                "has just started); train one with `tradelake model train signal`"
            )
        try:
            frame = pl.DataFrame([dict(r) for r in rows], infer_schema_length=None)
        except (pl.exceptions.PolarsError, TypeError) as exc:
            raise ValueError(f"rows are not a table of features ({exc})") from None
        model = served.model
        text = [
            c
            for c in model.features
            if c in frame.columns and c not in model.categories and frame[c].dtype == pl.Utf8
        ]
        if text:
            raise ValueError(f"feature(s) {', '.join(text)} must be numbers (or null)")
        return Scores(served.version, [float(p) for p in model.predict(frame)])
