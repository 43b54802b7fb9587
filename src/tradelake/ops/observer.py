"""The one object jobs and stream services report to: lineage runs and data-quality checks.

It travels with :class:`~tradelake.jobs.ingest.IngestEnv` (``env.ops``), so every job that
writes reaches it without new parameters. :data:`NO_OPS` does nothing (tests and callers that
build an environment by hand); :class:`~tradelake.platform.Platform` builds the real one from
``[lineage]`` and ``[quality_alerts]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tradelake.ops.lineage import Dataset, LineageEmitter, RunHandle

if TYPE_CHECKING:
    from tradelake.ops.quality_alerts import QualityAlerts


@dataclass(frozen=True)
class Observer:
    """``lineage`` emits run events (None: none), ``quality`` sends data-quality alerts."""

    lineage: LineageEmitter | None = None
    quality: QualityAlerts | None = None

    @contextmanager
    def run(
        self,
        job: str,
        *,
        inputs: Iterable[Dataset] = (),
        outputs: Iterable[Dataset] = (),
        parent: RunHandle | None = None,
    ) -> Iterator[RunHandle]:
        """A lineage run around the block (a handle that records nothing without lineage)."""
        if self.lineage is None:
            yield RunHandle("", job, datetime.now(UTC), set(inputs), set(outputs))
            return
        with self.lineage.run(job, inputs=inputs, outputs=outputs, parent=parent) as handle:
            yield handle

    def completed(
        self, job: str, started: datetime, inputs: Iterable[Dataset], outputs: Iterable[Dataset]
    ) -> None:
        """A run that is already over (a stream window): START and COMPLETE at once."""
        if self.lineage is not None:
            self.lineage.completed(job, started, inputs=inputs, outputs=outputs)


NO_OPS = Observer()
