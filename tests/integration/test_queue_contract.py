"""One spec for every queue backend: the in-process queue and Kafka (Tansu on 127.0.0.1).

Both are held to the protocol in ``stream/queue/base.py``: acked publish, poll with a timeout,
manual commit, redelivery of what a closed reader left uncommitted, order per key.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from fixtures.tansu import TansuBroker, tansu  # noqa: F401  (fixture)
from tradelake.errors import ConfigError, QueueUnavailableError, TransientError
from tradelake.stream.queue import FRAMES, Message, Queue, open_queue


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
def queue(request: pytest.FixtureRequest) -> Iterator[Queue]:
    if request.param == "memory":
        opened = open_queue("memory")
    else:
        broker: TansuBroker = request.getfixturevalue("tansu")
        opened = open_queue(
            "kafka", {"bootstrap_servers": broker.bootstrap_servers, "topic_prefix": "t."}
        )
    try:
        yield opened
    finally:
        opened.close()


def poll_until(consumer: object, count: int, timeout_s: float = 10.0) -> list[Message]:
    """Poll until ``count`` messages came (or time ran out): backends batch differently."""
    got: list[Message] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        got += consumer.poll(max_messages=count - len(got), timeout_s=0.5)  # type: ignore[attr-defined]
    return got


def test_publish_then_poll_returns_messages_in_order(queue: Queue) -> None:
    consumer = queue.consumer(FRAMES, "cv")
    for i in range(5):
        queue.publish(FRAMES, f"frame-{i}", f'{{"n": {i}}}'.encode())
    got = poll_until(consumer, 5)
    assert [m.key for m in got] == [f"frame-{i}" for i in range(5)]
    assert [m.value for m in got] == [f'{{"n": {i}}}'.encode() for i in range(5)]
    assert {m.topic for m in got} == {FRAMES}
    offsets = [m.offset for m in got]
    assert offsets == sorted(offsets) and len(set(offsets)) == 5
    consumer.close()


def test_poll_times_out_empty_after_the_timeout(queue: Queue) -> None:
    consumer = queue.consumer(FRAMES, "cv")
    started = time.monotonic()
    assert consumer.poll(max_messages=10, timeout_s=0.3) == []
    waited = time.monotonic() - started
    assert 0.25 <= waited < 2.0
    consumer.close()


def test_poll_returns_at_most_max_messages(queue: Queue) -> None:
    consumer = queue.consumer(FRAMES, "cv")
    for i in range(6):
        queue.publish(FRAMES, f"k{i}", b"v")
    first = poll_until(consumer, 1)
    assert len(first) == 1
    rest = poll_until(consumer, 5)
    assert [m.key for m in first + rest] == [f"k{i}" for i in range(6)]
    consumer.close()


def test_uncommitted_messages_are_redelivered_to_the_next_reader(queue: Queue) -> None:
    for i in range(5):
        queue.publish(FRAMES, f"frame-{i}", b"x")
    first = queue.consumer(FRAMES, "cv")
    got = poll_until(first, 5)
    assert len(got) == 5
    first.commit(got[:3])
    first.close()

    second = queue.consumer(FRAMES, "cv")
    again = poll_until(second, 2)
    assert [m.key for m in again] == ["frame-3", "frame-4"]
    second.commit(again)
    assert second.poll(max_messages=10, timeout_s=0.3) == []
    second.close()

    third = queue.consumer(FRAMES, "cv")
    assert third.poll(max_messages=10, timeout_s=0.3) == []
    assert third.lost_messages() is False
    third.close()


def test_groups_read_independently(queue: Queue) -> None:
    cv = queue.consumer(FRAMES, "cv")
    audit = queue.consumer(FRAMES, "audit")
    queue.publish(FRAMES, "a", b"1")
    got_cv = poll_until(cv, 1)
    cv.commit(got_cv)
    assert [m.key for m in got_cv] == ["a"]
    assert [m.key for m in poll_until(audit, 1)] == ["a"]
    cv.close()
    audit.close()


def test_order_is_kept_per_key_across_interleaved_keys(queue: Queue) -> None:
    consumer = queue.consumer(FRAMES, "cv")
    sent = [(f"dev-{i % 3}", f"{i}".encode()) for i in range(30)]
    for key, value in sent:
        queue.publish(FRAMES, key, value)
    got = poll_until(consumer, 30)
    assert len(got) == 30
    for key in ("dev-0", "dev-1", "dev-2"):
        assert [m.value for m in got if m.key == key] == [v for k, v in sent if k == key]
    consumer.close()


@pytest.mark.kafka
def test_kafka_without_bootstrap_servers_says_which_setting_is_missing() -> None:
    with pytest.raises(ConfigError, match="bootstrap_servers"):
        open_queue("kafka", {})


@pytest.mark.kafka
def test_kafka_unreachable_broker_is_one_transient_line() -> None:
    from fixtures.tansu import free_port

    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(QueueUnavailableError) as caught:
        open_queue("kafka", {"bootstrap_servers": address, "ack_timeout_s": 1})
    assert time.monotonic() - started < 5
    assert isinstance(caught.value, TransientError)
    message = str(caught.value)
    assert address in message and "bootstrap_servers" in message and "\n" not in message


@pytest.mark.kafka
def test_kafka_publish_fails_clearly_when_the_broker_went_away(tansu: TansuBroker) -> None:  # noqa: F811
    queue = open_queue("kafka", {"bootstrap_servers": tansu.bootstrap_servers, "ack_timeout_s": 1})
    queue.publish(FRAMES, "before", b"1")
    tansu.stop()
    with pytest.raises(QueueUnavailableError, match="did not answer"):
        queue.publish(FRAMES, "during", b"2")


@pytest.mark.kafka
def test_kafka_reader_starts_over_when_the_broker_lost_its_log(tansu: TansuBroker) -> None:  # noqa: F811
    queue = open_queue("kafka", {"bootstrap_servers": tansu.bootstrap_servers})
    consumer = queue.consumer(FRAMES, "cv")
    for i in range(4):
        queue.publish(FRAMES, f"old-{i}", b"x")
    consumer.commit(poll_until(consumer, 4))

    tansu.restart()  # memory storage: topics, messages and commits are gone
    deadline = time.monotonic() + 15
    while True:
        try:
            queue.publish(FRAMES, "new-0", b"y")
            break
        except QueueUnavailableError:
            assert time.monotonic() < deadline, "the producer never reached the restarted broker"
    got = poll_until(consumer, 1, timeout_s=10)
    assert [m.key for m in got] == ["new-0"]
    assert consumer.lost_messages() is True  # the CV service rescans landing on this
    assert consumer.lost_messages() is False  # said once
    consumer.close()
    queue.close()


@pytest.mark.kafka
def test_kafka_reader_rereads_a_lost_log_that_grew_past_its_position(
    tansu: TansuBroker,  # noqa: F811
) -> None:
    queue = open_queue("kafka", {"bootstrap_servers": tansu.bootstrap_servers})
    consumer = queue.consumer(FRAMES, "cv")
    for i in range(3):
        queue.publish(FRAMES, f"old-{i}", b"x")
    consumer.commit(poll_until(consumer, 3))

    tansu.restart()
    deadline = time.monotonic() + 15
    sent = [f"new-{i}" for i in range(6)]  # the new log passes the reader's old position (3)
    for key in sent:
        while True:
            try:
                queue.publish(FRAMES, key, b"y")
                break
            except QueueUnavailableError:
                assert time.monotonic() < deadline, "the producer never reached the new broker"
    got = poll_until(consumer, 6, timeout_s=10)
    assert [m.key for m in got] == sent  # not just new-3.., which sat past the old position
    assert consumer.lost_messages() is True
    consumer.close()
    queue.close()
