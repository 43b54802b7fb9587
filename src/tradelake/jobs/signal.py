"""The signal ensemble's jobs: train-evaluate-register (hourly) and score round trips.

Plain functions over the feature store and settings, so ``tradelake model ...``, the built-in
scheduler (``[[jobs]]``) and, later, an Airflow task all run the same code through
:class:`~tradelake.platform.Platform`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from tradelake import atomic_files
from tradelake.errors import ModelError
from tradelake.features.entry_features import entry_features, load_entry_inputs, with_label
from tradelake.features.store import FeatureStore
from tradelake.instruments import InstrumentTable
from tradelake.jobs.vision import _quiet_mlflow
from tradelake.ml.ensemble_settings import EnsembleSettings
from tradelake.ml.signal_card import signal_card
from tradelake.ml.signal_ensemble import SignalModel, train_signal

CARD = Path("models") / "signal_ensemble" / "MODEL_CARD.md"
"""Where, under the data home, the newest run's model card is written."""


@dataclass(frozen=True)
class SignalTrainReport:
    """What ``tradelake model train signal`` prints (and ``--json`` emits)."""

    run_id: str
    version: str
    promoted: bool
    champion_version: str
    rows: int
    metrics: dict[str, float]
    walk_forward: dict[str, Any]
    card: str
    seconds: float
    tracking_uri: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def entry_rows(
    store: FeatureStore, instruments: InstrumentTable, ensemble: EnsembleSettings
) -> pl.DataFrame:
    """Every round trip's point-in-time feature row (see features/entry_features.py)."""
    inputs = load_entry_inputs(store, ensemble.devices, ensemble.underlyings)
    rows = entry_features(inputs, instruments)
    return with_label(rows, inputs, ensemble.label, ensemble.barriers)


def train_and_publish_signal(
    store: FeatureStore,
    instruments: InstrumentTable,
    ensemble: EnsembleSettings,
    *,
    home: Path,
    tracking_uri: str,
    seed: int = 0,
) -> SignalTrainReport:
    """Features, walk-forward evaluation, final fit, card, MLflow run, version, maybe promote."""
    from tradelake.ml.signal_registry import publish_signal

    started = time.monotonic()
    rows = entry_rows(store, instruments, ensemble)
    trained = train_signal(rows, folds=ensemble.folds, embargo=ensemble.embargo, seed=seed)
    sources = _sources_note(rows, ensemble)
    card = signal_card(trained, rows, data_note=sources)
    card_path = home / CARD
    card_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_files.write_text(card_path, card)
    with _quiet_mlflow():
        published = publish_signal(trained, card=card, tracking_uri=tracking_uri, home=home)
    return SignalTrainReport(
        run_id=published.run_id,
        version=published.version,
        promoted=published.promoted,
        champion_version=published.champion_version,
        rows=trained.rows,
        metrics=published.metrics,
        walk_forward=trained.walk_forward.to_dict(),
        card=str(card_path),
        seconds=round(time.monotonic() - started, 1),
        tracking_uri=tracking_uri,
    )


def score_round_trips(
    rows: pl.DataFrame,
    model: SignalModel,
    version: str,
    *,
    ids: Sequence[str] = (),
    last: int | None = None,
) -> pl.DataFrame:
    """``round_trip_id, account, root, open_ts, prob, take, net_pnl, model_version`` for the
    given round trips (or the ``last`` entries), scored with ``model``."""
    if ids:
        chosen = rows.filter(pl.col("round_trip_id").is_in(list(ids)))
        missing = sorted(set(ids) - set(chosen["round_trip_id"].to_list()))
        if missing:
            raise ModelError(
                f"no round trip {', '.join(missing)}; list them with "
                "`tradelake sql 'SELECT round_trip_id FROM round_trips'`"
            )
    else:
        chosen = rows.tail(last or 20)
    probs = model.predict(chosen)
    from tradelake.ml.signal_ensemble import THRESHOLD

    return chosen.select("round_trip_id", "account", "root", "open_ts", "net_pnl").with_columns(
        pl.Series("prob", probs, dtype=pl.Float64),
        pl.Series("take", probs >= THRESHOLD, dtype=pl.Boolean),
        pl.lit(version).alias("model_version"),
    )


def _sources_note(rows: pl.DataFrame, ensemble: EnsembleSettings) -> str:
    """Which sources fed the run (an absent one is all NULL), as card bullet points."""
    present = {
        "chart signals": "chart_prob",
        "option chains": "atm_iv",
        "news": "news_sentiment_60m",
    }
    lines = []
    for source, column in present.items():
        share = 1 - rows[column].null_count() / max(rows.height, 1)
        lines.append(f"- {source}: {share:.0%} of entries have a value")
    macro = [c for c in rows.columns if c.startswith("macro_")]
    lines.append(f"- macro series: {', '.join(macro) if macro else 'none'}")
    lines.append(f"- screens mapped: {len(ensemble.devices)}")
    return "\n".join(lines)
