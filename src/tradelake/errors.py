"""One exception hierarchy for the whole platform.

Each layer raises its own subclass so callers can tell *where* something stopped, and each
message says what happened, to which file or feed, and what to do next. Bad *rows* are never
exceptions: they are quarantined with a reason and counted. Exceptions are for what stops a
whole file, feed, or command.

    TradelakeError
    ├── ConfigError            a setting is missing or malformed
    ├── SecretUnavailableError a secret store (AWS Secrets Manager) cannot be reached (transient)
    ├── LandingError           the landing zone refused or lost an object
    ├── SourceFormatError      a file or payload is not in the producer's format
    ├── ValidationError        a frame broke its table contract (code bug, not bad data)
    ├── StagingError           staging files could not be written or read
    ├── FeatureStoreError      the DuckDB feature store refused a query or refresh
    │   └── StoreBusyError     another process holds its write lock (transient)
    │       └── WriteLockTimeout  (write_lock.py) ... for longer than [features] lock_timeout
    ├── FeedError              a pulled feed failed (see the markers below)
    ├── VisionError            an image could not be decoded or a model not loaded
    ├── ModelError             a model could not be trained, registered, loaded or served
    ├── AccessError            the caller's role may not do this (an analyst's write)
    ├── ExportError            --csv/--parquet/--xlsx could not write its file
    ├── QueryOptionError       a --by value or an --account/--instrument the data never had
    ├── PublishError           the analytics database refused a publish
    │   └── PublishUnavailableError  it cannot be reached (transient)
    ├── LineageError           `tradelake lineage` found no such run or dataset
    ├── SentimentError         a sentiment model could not be loaded or trained
    ├── DriftError             a drift check had nothing to compare
    └── StreamError            the real-time path refused a frame, token or alert sink
        ├── SinkError          an alert sink did not take an alert (transient: retried)
        ├── QueueError         the stream queue refused a publish, poll or commit
        │   └── QueueUnavailableError   the broker cannot be reached (transient)
        └── CaptureError       the screen could not be grabbed (no display, bad region)

``TransientError`` and ``TerminalError`` are markers mixed into concrete errors so the pull
client, stream workers and scheduler decide to retry or give up without string matching.
"""

from __future__ import annotations


class TradelakeError(Exception):
    """Base of every error tradelake raises on purpose."""


class TransientError(TradelakeError):
    """Marker: retrying later may succeed (timeouts, 5xx, 429, a busy file)."""


class TerminalError(TradelakeError):
    """Marker: retrying the same input will fail the same way (bad format, bad credentials)."""


class ConfigError(TerminalError):
    """A setting is missing or malformed; the message lists every place that was looked at."""


class SecretUnavailableError(TransientError):
    """A secret store (AWS Secrets Manager) could not be reached; the reference may be fine."""


class LandingError(TradelakeError):
    """The landing zone could not store or return an object."""


class SourceFormatError(TerminalError):
    """A file or payload is not in the format its producer emits."""


class ValidationError(TerminalError):
    """A frame does not satisfy its table contract after row-level quarantine."""


class StagingError(TradelakeError):
    """Staging Parquet files could not be written or read."""


class FeatureStoreError(TradelakeError):
    """The feature store could not refresh or answer a query."""


class StoreBusyError(FeatureStoreError, TransientError):
    """Another process holds the feature store's write lock; trying again later succeeds."""


class FeedError(TradelakeError):
    """A pulled feed failed as a whole."""


class TransientFeedError(FeedError, TransientError):
    """A feed failed in a way a later retry can fix."""


class TerminalFeedError(FeedError, TerminalError):
    """A feed failed in a way only a config or producer change can fix."""


class VisionError(TerminalError):
    """An image could not be decoded, or a vision model could not be loaded."""


class ModelError(TerminalError):
    """A model (the signal ensemble) could not be trained, registered, loaded or served."""


class AccessError(TerminalError):
    """The caller asked for something its role does not allow (an analyst query that writes,
    reads outside the served tables, or loads an extension)."""


class StreamError(TradelakeError):
    """The real-time path refused something: a frame, a token, a sink's configuration."""


class SinkError(StreamError, TransientError):
    """An alert sink did not accept an alert; the dispatcher retries it with backoff."""


class QueueError(StreamError):
    """The stream queue refused a publish, poll or commit."""


class QueueUnavailableError(QueueError, TransientError):
    """The queue's broker cannot be reached or did not acknowledge in time; retry once it is up."""


class CaptureError(StreamError, TerminalError):
    """The producer could not grab the screen: no display, or a monitor or region outside it."""


class ExportError(TradelakeError):
    """A ``--csv``/``--parquet``/``--xlsx`` file could not be written."""


class QueryOptionError(TerminalError):
    """A command option names something the data has no rows for at all (a ``--by`` grouping
    that does not exist, an account or contract never traded); the message lists the values
    that do exist."""


class PublishError(TradelakeError):
    """``tradelake publish`` could not copy the feature tables to the analytics database."""


class PublishUnavailableError(PublishError, TransientError):
    """The analytics database cannot be reached (down, refusing, timed out): retry later."""


class SentimentError(TerminalError):
    """A sentiment model could not be loaded or trained (missing weights, bad data file)."""


class DriftError(TerminalError):
    """A drift check had nothing to compare (no training sample logged, no recent data)."""


class LineageError(TradelakeError):
    """Nothing in the lineage events matches what was asked for."""
