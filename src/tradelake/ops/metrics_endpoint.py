"""The ``/metrics`` endpoint of processes without a web app (``tradelake run``, ``serve --role
cv``): recording on, a small HTTP server on ``[metrics] host:port`` for as long as they run."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from tradelake.ops import metrics


@contextmanager
def exposing_metrics(raw: Mapping[str, Any], port: int | None = None) -> Iterator[str]:
    """Record and serve metrics within the block; yields the text a start-up line adds
    (``"; metrics on http://127.0.0.1:9464/metrics"``, nothing when the port is 0, and why not
    when the port is taken: the command runs on without them)."""
    where = metrics.endpoint(raw, port)
    recorded = metrics.enable()
    if where.port == 0:
        yield ""
        return
    try:
        server = metrics.serve_http(recorded, where.host, where.port)
    except OSError as exc:
        # The feeds matter more than their metrics: say so on the start-up line and go on.
        yield (
            f"; metrics NOT served: {where.host}:{where.port} refused ({exc.strerror}); set "
            "another [metrics] port or --metrics-port (0 turns them off)"
        )
        return
    try:
        yield f"; metrics on http://{where.host}:{server.port}/metrics"
    finally:
        server.close()
