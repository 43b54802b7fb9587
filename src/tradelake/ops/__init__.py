"""Operations: what the platform tells the people who run it.

- :mod:`tradelake.ops.metrics`: Prometheus metrics (one registry, every definition in one place),
- :mod:`tradelake.ops.lineage`: OpenLineage run events (JSONL in the data home, HTTP when set),
- :mod:`tradelake.ops.quality_alerts`: data-quality alerts to the configured sinks, deduplicated,
- :mod:`tradelake.ops.observer`: the one object the jobs and the stream call into.

Nothing here imports ``prometheus_client`` or ``openlineage`` at module import: the first use
does, so commands that record nothing (``--help``, ``pnl``) never pay for them.
"""
