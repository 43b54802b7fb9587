"""The queue seam (in-process by default, Kafka when configured); see :mod:`.base`."""

from tradelake.stream.queue.base import (
    FRAMES,
    QUEUES,
    SIGNALS,
    Consumer,
    Message,
    Queue,
    QueueCapabilities,
    open_queue,
    register_queue,
)

__all__ = [
    "FRAMES",
    "QUEUES",
    "SIGNALS",
    "Consumer",
    "Message",
    "Queue",
    "QueueCapabilities",
    "open_queue",
    "register_queue",
]
