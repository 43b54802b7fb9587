"""Sources: one parser module per producer, registered by name in :mod:`sources.base`."""

from tradelake.sources import (  # noqa: F401  (registration)
    atas,
    macro,
    model_drift,
    news,
    news_rescore,
    options,
    screens,
)
