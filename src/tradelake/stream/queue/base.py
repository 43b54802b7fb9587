"""The queue seam: a small at-least-once publish/consume protocol and its registry.

Two topics carry the stream's work: ``frames`` (a landed frame to score) and ``signals`` (a
scored frame for the alert engine). Values are small UTF-8 JSON documents; image bytes never
travel on the queue, they are read from landing by ``landing_id``.

Delivery is at-least-once: a message a consumer has polled but not committed is delivered
again to the next consumer of the same group (after a restart, or a broker loss). Every
consumer of ours is therefore idempotent on the message key (``frame_id``).

Backends register a factory under a name (``memory``, ``kafka``) and say what they can do with
:class:`QueueCapabilities`; callers branch on those flags, never on the backend's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

FRAMES = "frames"
SIGNALS = "signals"


@dataclass(frozen=True)
class Message:
    """One delivered message; ``offset`` increases within ``(topic, partition)``."""

    topic: str
    key: str
    value: bytes
    partition: int = 0
    offset: int = 0


@dataclass(frozen=True)
class QueueCapabilities:
    """What a backend guarantees beyond the protocol.

    ``durable``: published messages survive this process ending. ``multi_process``: producers
    and consumers may live in different processes (each stream role its own process).
    """

    durable: bool
    multi_process: bool


class Consumer(Protocol):
    """One group's reader of one topic."""

    def poll(self, max_messages: int, timeout_s: float) -> list[Message]:
        """Wait up to ``timeout_s`` for a first message, then return it with whatever else is
        already available (at most ``max_messages``); an empty list on timeout."""
        ...

    def commit(self, messages: Sequence[Message]) -> None:
        """Mark ``messages`` processed: they are not delivered to this group again."""
        ...

    def close(self) -> None:
        """Stop reading; uncommitted messages are delivered again to the group's next reader."""
        ...

    def lost_messages(self) -> bool:
        """True (once) after the backend lost messages this group had not committed, e.g. a
        broker that restarted without its log; the caller recovers that work from landing."""
        ...


class Queue(Protocol):
    """A connection to one queue backend."""

    capabilities: QueueCapabilities

    def publish(self, topic: str, key: str, value: bytes) -> None:
        """Return once the backend holds the message (a broker ack, or in memory)."""
        ...

    def consumer(self, topic: str, group: str) -> Consumer:
        """A reader of ``topic`` for ``group``, starting after the group's last commit."""
        ...

    def close(self) -> None:
        """Flush what is pending and release the connection."""
        ...


QueueFactory = Callable[[Mapping[str, Any]], Queue]
QUEUES: dict[str, QueueFactory] = {}


def register_queue(name: str) -> Callable[[QueueFactory], QueueFactory]:
    """Register a backend factory; ``options`` is the ``[stream]`` config section."""

    def decorate(factory: QueueFactory) -> QueueFactory:
        QUEUES[name] = factory
        return factory

    return decorate


def open_queue(name: str, options: Mapping[str, Any] | None = None) -> Queue:
    """The backend registered as ``name`` (``[stream] queue`` in ``tradelake.toml``)."""
    from tradelake.stream.queue import backends  # noqa: F401  (registration)

    try:
        factory = QUEUES[name]
    except KeyError:
        known = ", ".join(sorted(QUEUES))
        raise ValueError(
            f"no stream queue named {name!r}; set [stream] queue to one of: {known}"
        ) from None
    return factory(options or {})
