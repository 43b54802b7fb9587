"""Secrets never leave the process: one registry of every secret value read, and the masks.

A provider may repeat its key anywhere: in an error body that becomes a quarantine reason, in a
header httpcore logs at DEBUG, in a URL parameter whose name no pattern knows. Masking by
*parameter name* alone misses those, so every secret value is registered here when it is
resolved (:func:`tradelake.config.read_secret`, and every ``*_env`` / ``*_file`` setting that
names a key or token when the settings load), and every sink masks the *values*:

- the console (tables, ``--json``, errors on stderr),
- the feed state files, the landing manifest's attributes, the quarantine files,
- every log record, through a log-record factory installed when this module is imported. A
  filter on a logger does not see records of its child loggers (``httpcore.http11``), and a
  filter on handlers misses handlers added later (pytest's, a user's), so the factory is the
  one place every record passes.

:func:`redact` also masks key-like URL parameters and URL passwords (:func:`redact_url`), for
text that may carry a URL; :func:`redact_data` masks only registered values, so data (a news
URL with ``sig=``) stays as it was. Values shorter than :data:`MIN_SECRET_CHARS` are not
registered: masking every ``"1"`` in the output would hide everything and protect nothing.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET_CHARS = 4
SENSITIVE_PARAMS = (
    "api_key|apikey|api-key|token|access_token|auth|key|secret|client_secret|password|sig|signature"
)
_PARAM_RE = re.compile(rf"(?i)([?&;](?:{SENSITIVE_PARAMS})=)[^&;#\s\"'>]*")
_USERINFO_RE = re.compile(r"(//[^/:@\s]+:)[^/@\s]+@")


def redact_url(url: object) -> str:
    """``url`` with the values of key-like query parameters and any password masked.

    Works on any text that contains URLs (log lines, error messages), not only on one URL.
    """
    text = _PARAM_RE.sub(rf"\g<1>{MASK}", str(url))
    return _USERINFO_RE.sub(rf"\g<1>{MASK}@", text)


class Redactor:
    """The secret values known to this process and the one pattern that masks them all.

    Each value is also registered in the forms it takes in URLs (percent-encoded) and JSON
    (escaped), the forms it is printed in. Thread-safe: pulls resolve keys on worker threads.
    """

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def register(self, value: str) -> None:
        """Mask ``value`` (and its encoded forms) from now on; short or empty values are skipped."""
        value = value.strip()
        if len(value) < MIN_SECRET_CHARS:
            return
        forms = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
        with self._lock:
            if forms <= self._values:
                return
            self._values |= forms
            ordered = sorted(self._values, key=len, reverse=True)  # longest form wins
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    @property
    def values(self) -> frozenset[str]:
        return frozenset(self._values)

    def mask_values(self, text: str) -> str:
        """``text`` with every registered value replaced by :data:`MASK`."""
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None and text else text

    def redact(self, text: str) -> str:
        """Registered values and key-like URL parameters masked (messages, logs, errors)."""
        return redact_url(self.mask_values(text))

    def redact_data(self, value: Any) -> Any:
        """A JSON-like value (dicts, lists, strings) with registered values masked in every
        string, keys included; other values are returned as they are."""
        if self._pattern is None:
            return value
        return _walk(value, self.mask_values)


def _walk(value: Any, mask: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {_walk(k, mask): _walk(v, mask) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, mask) for v in value]
    return value


REDACTOR = Redactor()


def register_secret(value: str) -> None:
    """Register a secret value with the process-wide :data:`REDACTOR`."""
    REDACTOR.register(value)


def redact(text: str) -> str:
    """Text for people or logs: registered secrets and key-like URL parameters masked."""
    return REDACTOR.redact(text)


def redact_data(value: Any) -> Any:
    """A JSON-like value with registered secrets masked in every string (data stays data)."""
    return REDACTOR.redact_data(value)


def has_secrets() -> bool:
    """Whether any secret is registered (sinks skip their work when none is)."""
    return bool(REDACTOR.values)


def redact_record(record: logging.LogRecord) -> None:
    """Mask a log record's message and its traceback text in place."""
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a malformed call; logging reports it when formatting
        return
    masked = REDACTOR.redact(message)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text and has_secrets():
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = REDACTOR.redact(text)


class RedactingFilter(logging.Filter):
    """The same masking as a filter, for a handler that formats records made elsewhere."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install_log_redaction() -> None:
    """Wrap the log-record factory so every record is masked when it is made (idempotent)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "tradelake_redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        return record

    factory.tradelake_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


install_log_redaction()
