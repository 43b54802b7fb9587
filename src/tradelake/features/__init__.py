"""Feature store: DuckDB over staging; deduplicated tables, analytics and point-in-time reads."""

from tradelake.features import trading  # noqa: F401  (registers the trading feature tables)
from tradelake.features.store import FeatureStore, RefreshResult

__all__ = ["FeatureStore", "RefreshResult"]
