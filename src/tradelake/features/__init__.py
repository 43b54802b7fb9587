"""Feature store: DuckDB over staging; deduplicated tables, analytics and point-in-time reads."""

from tradelake.features import (  # noqa: F401  (registers the feature tables)
    markets,
    trading,
)
from tradelake.features.store import FeatureStore, RefreshResult

__all__ = ["FeatureStore", "RefreshResult"]
