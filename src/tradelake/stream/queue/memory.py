"""The in-process queue: the embedded default and the test double of the queue seam.

One :class:`MemoryQueue` is shared by every role of one ``tradelake serve`` process. Each topic
is an append-only log with increasing offsets; each consumer group keeps its own cursor, the
offsets delivered but not yet committed (per consumer), and the offsets to deliver again.

At-least-once, as the protocol says: what a consumer polled but did not commit is delivered
again to the group's next reader once that consumer closes. Nothing survives the process
(``durable=False``): landing is the source of truth, and the CV service rescans it on start.
A message is dropped from memory once every group known to the topic has committed it; until
a first group exists, every message is kept.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tradelake.stream.queue.base import Message, QueueCapabilities, register_queue


@dataclass
class _Group:
    """One consumer group's progress through one topic."""

    cursor: int
    done_below: int
    redeliver: deque[int] = field(default_factory=deque)
    in_flight: dict[int, int] = field(default_factory=dict)  # offset -> consumer id
    committed: set[int] = field(default_factory=set)  # committed offsets >= done_below

    def has_work(self, end: int) -> bool:
        return bool(self.redeliver) or self.cursor < end


@dataclass
class _Topic:
    """An append-only log; ``base`` is the offset of ``log[0]`` (older ones were trimmed)."""

    log: deque[Message] = field(default_factory=deque)
    base: int = 0
    groups: dict[str, _Group] = field(default_factory=dict)

    @property
    def end(self) -> int:
        return self.base + len(self.log)

    def at(self, offset: int) -> Message:
        return self.log[offset - self.base]

    def trim(self) -> None:
        """Forget messages every group has committed (none while no group exists)."""
        if not self.groups:
            return
        keep_from = min(group.done_below for group in self.groups.values())
        while self.base < keep_from and self.log:
            self.log.popleft()
            self.base += 1


class MemoryQueue:
    """Thread-safe in-process queue; see the module docstring for its guarantees."""

    capabilities = QueueCapabilities(durable=False, multi_process=False)

    def __init__(self) -> None:
        self._topics: dict[str, _Topic] = {}
        self._changed = threading.Condition(threading.Lock())
        self._consumer_ids = itertools.count(1)
        self._closed = False

    def publish(self, topic: str, key: str, value: bytes) -> None:
        with self._changed:
            self._check_open()
            log = self._topic(topic)
            log.log.append(Message(topic=topic, key=key, value=value, offset=log.end))
            self._changed.notify_all()

    def consumer(self, topic: str, group: str) -> MemoryConsumer:
        with self._changed:
            self._check_open()
            log = self._topic(topic)
            if group not in log.groups:
                log.groups[group] = _Group(cursor=log.base, done_below=log.base)
            return MemoryConsumer(self, topic, group, next(self._consumer_ids))

    def close(self) -> None:
        """Wake every waiting reader; later calls to ``publish``/``poll`` see a closed queue."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def pending(self, topic: str, group: str) -> int:
        """Messages of ``topic`` the group has not committed yet (the consumer lag)."""
        with self._changed:
            log = self._topic(topic)
            state = log.groups.get(group)
            if state is None:
                return len(log.log)
            return log.end - state.done_below - len(state.committed)

    # -- used by MemoryConsumer, under the lock --------------------------------------------

    def _topic(self, topic: str) -> _Topic:
        return self._topics.setdefault(topic, _Topic())

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the in-process queue is closed; open a new one with open_queue")

    def _poll(
        self, topic: str, group: str, consumer_id: int, max_messages: int, timeout_s: float
    ) -> list[Message]:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            log = self._topic(topic)
            state = log.groups[group]
            while not state.has_work(log.end):
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    return []
                self._changed.wait(remaining)
            taken: list[Message] = []
            while state.redeliver and len(taken) < max_messages:
                offset = state.redeliver.popleft()
                if offset < state.done_below or offset in state.committed:
                    continue  # committed by another reader after it was handed back
                state.in_flight[offset] = consumer_id
                taken.append(log.at(offset))
            while state.cursor < log.end and len(taken) < max_messages:
                state.in_flight[state.cursor] = consumer_id
                taken.append(log.at(state.cursor))
                state.cursor += 1
            return taken

    def _commit(self, topic: str, group: str, messages: Sequence[Message]) -> None:
        with self._changed:
            log = self._topic(topic)
            state = log.groups[group]
            for message in messages:
                state.in_flight.pop(message.offset, None)
                if message.offset >= state.done_below:
                    state.committed.add(message.offset)
            while state.done_below in state.committed:
                state.committed.remove(state.done_below)
                state.done_below += 1
            log.trim()

    def _release(self, topic: str, group: str, consumer_id: int) -> None:
        with self._changed:
            state = self._topic(topic).groups[group]
            returned = sorted(o for o, owner in state.in_flight.items() if owner == consumer_id)
            for offset in returned:
                del state.in_flight[offset]
            state.redeliver = deque(sorted([*state.redeliver, *returned]))
            self._changed.notify_all()


class MemoryConsumer:
    """One reader of a :class:`MemoryQueue` topic within a group."""

    def __init__(self, queue: MemoryQueue, topic: str, group: str, consumer_id: int) -> None:
        self._queue = queue
        self._topic = topic
        self._group = group
        self._id = consumer_id
        self._closed = False

    def poll(self, max_messages: int, timeout_s: float) -> list[Message]:
        if self._closed:
            return []
        return self._queue._poll(self._topic, self._group, self._id, max_messages, timeout_s)

    def commit(self, messages: Sequence[Message]) -> None:
        if messages:
            self._queue._commit(self._topic, self._group, messages)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue._release(self._topic, self._group, self._id)

    def lost_messages(self) -> bool:
        return False  # nothing is lost while the process lives; a restart rescans landing


@register_queue("memory")
def open_memory_queue(options: Mapping[str, Any]) -> MemoryQueue:
    """A fresh in-process queue; the roles of one process must share the instance."""
    return MemoryQueue()
