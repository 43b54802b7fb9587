"""The in-process queue: order, groups, at-least-once redelivery after close, trimming."""

from __future__ import annotations

import threading
import time

import pytest

from tradelake.stream.queue import FRAMES, SIGNALS, Message, open_queue
from tradelake.stream.queue.memory import MemoryQueue


def _keys(messages: list[Message]) -> list[str]:
    return [m.key for m in messages]


def _queue() -> MemoryQueue:
    queue = open_queue("memory")
    assert isinstance(queue, MemoryQueue)
    return queue


def test_registered_with_capabilities() -> None:
    queue = _queue()
    assert queue.capabilities.durable is False
    assert queue.capabilities.multi_process is False


def test_unknown_backend_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="memory"):
        open_queue("carrier-pigeon")


def test_messages_arrive_in_order_with_increasing_offsets() -> None:
    queue = _queue()
    for i in range(5):
        queue.publish(FRAMES, f"f{i}", f'{{"i": {i}}}'.encode())
    consumer = queue.consumer(FRAMES, "cv")
    got = consumer.poll(3, 0.1)
    assert _keys(got) == ["f0", "f1", "f2"]
    assert [m.offset for m in got] == [0, 1, 2]
    assert got[1].value == b'{"i": 1}' and got[1].topic == FRAMES
    assert _keys(consumer.poll(10, 0.1)) == ["f3", "f4"]
    assert consumer.poll(10, 0.01) == []


def test_topics_and_groups_are_independent() -> None:
    queue = _queue()
    queue.publish(FRAMES, "a", b"1")
    queue.publish(SIGNALS, "s", b"2")
    cv, audit = queue.consumer(FRAMES, "cv"), queue.consumer(FRAMES, "audit")
    assert _keys(cv.poll(10, 0.1)) == ["a"]
    assert _keys(audit.poll(10, 0.1)) == ["a"]
    assert _keys(queue.consumer(SIGNALS, "alerts").poll(10, 0.1)) == ["s"]


def test_uncommitted_messages_go_to_the_groups_next_reader_after_close() -> None:
    queue = _queue()
    for key in "abcd":
        queue.publish(FRAMES, key, b"")
    first = queue.consumer(FRAMES, "cv")
    got = first.poll(10, 0.1)
    first.commit([got[0], got[2]])  # b and d never committed (a crash mid-batch)
    first.close()
    second = queue.consumer(FRAMES, "cv")
    assert _keys(second.poll(10, 0.1)) == ["b", "d"]
    queue.publish(FRAMES, "e", b"")
    assert _keys(second.poll(10, 0.1)) == ["e"]
    assert queue.pending(FRAMES, "cv") == 3


def test_committed_messages_are_never_redelivered_and_are_trimmed() -> None:
    queue = _queue()
    consumer = queue.consumer(FRAMES, "cv")
    for key in "abc":
        queue.publish(FRAMES, key, b"")
    consumer.commit(consumer.poll(10, 0.1))
    consumer.close()
    assert queue.consumer(FRAMES, "cv").poll(10, 0.01) == []
    assert queue.pending(FRAMES, "cv") == 0
    assert len(queue._topics[FRAMES].log) == 0  # every group committed: memory released


def test_messages_published_before_any_group_are_kept() -> None:
    queue = _queue()
    queue.publish(FRAMES, "early", b"")
    assert _keys(queue.consumer(FRAMES, "late").poll(10, 0.1)) == ["early"]


def test_poll_wakes_on_publish_from_another_thread() -> None:
    queue = _queue()
    consumer = queue.consumer(FRAMES, "cv")
    timer = threading.Timer(0.05, queue.publish, args=(FRAMES, "x", b""))
    timer.start()
    started = time.monotonic()
    got = consumer.poll(10, 5.0)
    waited = time.monotonic() - started
    timer.join()
    assert _keys(got) == ["x"]
    assert 0.03 < waited < 1.0


def test_concurrent_consumers_of_a_group_share_the_work_without_duplicates() -> None:
    queue = _queue()
    seen: list[str] = []
    lock = threading.Lock()

    def read() -> None:
        consumer = queue.consumer(FRAMES, "cv")
        while True:
            got = consumer.poll(7, 0.2)
            if not got:
                break
            with lock:
                seen.extend(_keys(got))
            consumer.commit(got)
        consumer.close()

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    for i in range(500):
        queue.publish(FRAMES, str(i), b"")
    for reader in readers:
        reader.join()
    assert sorted(seen, key=int) == [str(i) for i in range(500)]


def test_closed_queue_wakes_pollers_and_refuses_publish() -> None:
    queue = _queue()
    consumer = queue.consumer(FRAMES, "cv")
    threading.Timer(0.05, queue.close).start()
    started = time.monotonic()
    assert consumer.poll(10, 5.0) == []
    assert time.monotonic() - started < 1.0
    with pytest.raises(RuntimeError, match="closed"):
        queue.publish(FRAMES, "x", b"")
