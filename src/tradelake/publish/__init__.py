"""Copy the feature tables to an analytics database (``tradelake publish``).

The embedded default needs none of this: analysts query the DuckDB feature store with
``tradelake sql``. A desk that wants BI tools on a shared server publishes to PostgreSQL
(Redshift speaks its wire protocol; docs/operations.md says what differs). A destination is
picked by the URL's scheme from :data:`DESTINATIONS`.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from tradelake.errors import ConfigError
from tradelake.publish.base import Destination, PublishReport, TablePublish
from tradelake.publish.settings import PublishSettings, publish_settings
from tradelake.publish.tables import PUBLISHED, TABLE_NAMES, PublishedTable, select_tables

__all__ = [
    "DESTINATIONS",
    "PUBLISHED",
    "TABLE_NAMES",
    "Destination",
    "PublishReport",
    "PublishSettings",
    "PublishedTable",
    "TablePublish",
    "destination",
    "publish_settings",
    "select_tables",
]


def _postgres(settings: PublishSettings) -> Destination:
    from tradelake.publish.postgres import PostgresDestination

    return PostgresDestination(settings)


DESTINATIONS: dict[str, Callable[[PublishSettings], Destination]] = {
    "postgresql": _postgres,
    "postgres": _postgres,
}


def destination(settings: PublishSettings) -> Destination:
    """The destination for the settings' URL scheme (``postgresql+psycopg`` counts too)."""
    scheme = urlsplit(settings.url).scheme.split("+")[0]
    try:
        return DESTINATIONS[scheme](settings)
    except KeyError:
        raise ConfigError(
            f"no analytics-database destination for {scheme}://; "
            f"use one of {', '.join(sorted(DESTINATIONS))}."
        ) from None
