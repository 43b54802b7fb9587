"""Feature store: DuckDB over staging; deduplicated tables, analytics and point-in-time reads."""

# Importing registers the feature builders; the store orders them by what each declares
# (definitions.build_order), not by import order.
from tradelake.features import markets, trading  # noqa: F401
from tradelake.features.store import FeatureStore, RefreshResult

__all__ = ["FeatureStore", "RefreshResult"]
