"""Feature store: DuckDB over staging; deduplicated tables, analytics and point-in-time reads."""

# Importing registers the feature tables, and builders run in registration order: trading's
# compute from staged frames (while an ingest's last partitions are still being written),
# markets' need SQL, which waits for those writes. Keep trading first.
# isort: off
from tradelake.features import trading  # noqa: F401
from tradelake.features import markets  # noqa: F401

# isort: on
from tradelake.features.store import FeatureStore, RefreshResult

__all__ = ["FeatureStore", "RefreshResult"]
