"""Sources: one parser module per producer, registered by name in :mod:`sources.base`."""

from tradelake.sources import atas, macro, news, options, screens  # noqa: F401  (registration)
