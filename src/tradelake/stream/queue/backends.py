"""Import every queue backend so each registers itself (one line per backend)."""

import contextlib
import importlib

from tradelake.stream.queue import memory  # noqa: F401

# The Kafka backend needs confluent-kafka (the ``kafka`` extra); without it only memory exists.
# import_module raises ModuleNotFoundError for a missing module, where `from pkg import name`
# raises a plain ImportError.
with contextlib.suppress(ModuleNotFoundError):
    importlib.import_module("tradelake.stream.queue.kafka")
