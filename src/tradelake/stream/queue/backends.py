"""Import every queue backend so each registers itself (one line per backend)."""

import contextlib

from tradelake.stream.queue import memory  # noqa: F401

# The Kafka backend needs confluent-kafka (the ``kafka`` extra); without it only memory exists.
with contextlib.suppress(ModuleNotFoundError):
    from tradelake.stream.queue import kafka  # noqa: F401
