"""The Kafka queue backend (confluent-kafka), for running each stream role as its own process.

Chosen with ``[stream] queue = "kafka"`` and ``bootstrap_servers = "host:port"`` (optional
``topic_prefix``, ``partitions``, ``ack_timeout_s``). What a caller may rely on:

- ``publish`` returns once the broker acknowledged the message (``acks=all``). The producer is
  *not* idempotent on purpose: Tansu's ``memory://`` storage forgets producer ids when it
  restarts, and an idempotent producer then stops for good with ``UNKNOWN_PRODUCER_ID`` (which
  confluent-kafka 2.16 raises out of the delivery callback). One request in flight keeps order
  on a retry; a retried duplicate carries the same key, and every consumer of ours is
  idempotent on it.
- Consumers commit by hand (at-least-once) and read their partitions with ``assign()`` from the
  group's committed offsets, not ``subscribe()``: a group join costs about
  ``session.timeout.ms / 2`` (23 s by default on Tansu) before the first message, which the
  latency path cannot pay. So one reader per group and topic: one process per stream role.
- ``fetch.wait.max.ms=1`` (about 2.5 ms produce→consume on loopback; 0 hangs, the default 500
  adds 250 ms).
- Topics are created on first use (AdminClient) with ``partitions`` partitions (1 by default:
  one ordered log; keys still order per key with more), and again when a send times out, never
  by the broker's auto-creation (see :meth:`KafkaQueue.publish`).
- A broker that lost its log (a restarted ``memory://`` Tansu) is noticed by a reader after a
  connection error or while idle: the group's commits are gone, or the log ends before the
  reader's position. It reads the new log from its beginning and ``lost_messages()`` says so
  once, so the CV service rescans landing for what the old log held.

An unreachable broker is one line (:class:`~tradelake.errors.QueueUnavailableError`) naming the
address and what to do, never a librdkafka log storm: librdkafka's own log lines go to the
``tradelake.kafka`` logger at DEBUG.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka import Consumer as _KafkaConsumer
from confluent_kafka import Message as _KafkaMessage
from confluent_kafka.admin import AdminClient, NewTopic

from tradelake.errors import ConfigError, QueueError, QueueUnavailableError
from tradelake.stream.queue.base import Message, QueueCapabilities, register_queue

logger = logging.getLogger("tradelake.kafka")

# How often an idle reader asks the broker whether its log restarted behind it.
_LOG_CHECK_INTERVAL_S = 1.0


@dataclass(frozen=True)
class KafkaSettings:
    """The ``[stream]`` keys the Kafka backend reads."""

    bootstrap_servers: str
    topic_prefix: str = ""
    partitions: int = 1
    ack_timeout_s: float = 5.0

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> KafkaSettings:
        servers = options.get("bootstrap_servers")
        if not servers or not isinstance(servers, str):
            raise ConfigError(
                "[stream] queue = 'kafka' needs bootstrap_servers (e.g. '127.0.0.1:9092'); "
                "looked in tradelake.toml [stream] and TRADELAKE_STREAM__BOOTSTRAP_SERVERS"
            )
        try:
            partitions = int(options.get("partitions", 1))
            ack_timeout_s = float(options.get("ack_timeout_s", 5.0))
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"[stream] partitions and ack_timeout_s must be numbers: {exc}"
            ) from None
        if partitions < 1 or ack_timeout_s <= 0:
            raise ConfigError("[stream] partitions must be ≥ 1 and ack_timeout_s > 0")
        return cls(servers, str(options.get("topic_prefix", "")), partitions, ack_timeout_s)

    def client_config(self) -> dict[str, Any]:
        """Settings every client of ours shares: the address and quiet logging."""
        return {
            "bootstrap.servers": self.bootstrap_servers,
            "logger": _LibrdkafkaLog(),
            "error_cb": _log_client_error,
            "socket.connection.setup.timeout.ms": int(self.ack_timeout_s * 1000),
        }

    def unreachable(self, detail: object) -> QueueUnavailableError:
        if isinstance(detail, KafkaError):
            detail = detail.str()
        return QueueUnavailableError(
            f"Kafka broker at {self.bootstrap_servers} did not answer ({detail}); start the "
            "broker or fix [stream] bootstrap_servers, then retry"
        )


class _LibrdkafkaLog:
    """librdkafka's log lines (every failed reconnect) at DEBUG: callers get one clear error."""

    def log(self, level: int, fmt: str, *args: object) -> None:
        logger.debug(fmt, *args)


def _log_client_error(error: KafkaError) -> None:
    logger.debug("kafka client: %s", error)


@register_queue("kafka")
def open_kafka(options: Mapping[str, Any]) -> KafkaQueue:
    """The ``kafka`` backend: ``options`` is the ``[stream]`` config section."""
    return KafkaQueue(KafkaSettings.from_options(options))


class KafkaQueue:
    """A producer plus the admin client that creates topics; consumers are opened per group."""

    capabilities = QueueCapabilities(durable=True, multi_process=True)

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._admin = AdminClient(settings.client_config())
        self._topics: set[str] = set()
        self._topics_lock = threading.Lock()
        self._check_reachable()
        self._producer = Producer(
            {
                **settings.client_config(),
                "error_cb": self._producer_error,
                "acks": "all",
                "allow.auto.create.topics": False,
                "enable.idempotence": False,
                "max.in.flight.requests.per.connection": 1,
                "linger.ms": 0,
                "message.timeout.ms": int(settings.ack_timeout_s * 1000),
            }
        )

    def _producer_error(self, error: KafkaError) -> None:
        """A lost connection may come back to a broker without our topics: check them again."""
        logger.debug("kafka producer: %s", error)
        with self._topics_lock:
            self._topics.clear()

    def _check_reachable(self) -> None:
        try:
            self._admin.list_topics(timeout=self.settings.ack_timeout_s)
        except KafkaException as exc:
            raise self.settings.unreachable(exc.args[0]) from None

    def topic_name(self, topic: str) -> str:
        """The broker's name for a stream topic (``topic_prefix`` + topic)."""
        return self.settings.topic_prefix + topic

    def ensure_topic(self, topic: str) -> str:
        """Create the stream topic if the broker lacks it; returns the broker's name for it."""
        name = self.topic_name(topic)
        with self._topics_lock:
            if name in self._topics:
                return name
            new = NewTopic(name, num_partitions=self.settings.partitions, replication_factor=1)
            future = self._admin.create_topics([new])[name]
            try:
                future.result(self.settings.ack_timeout_s)
            except TimeoutError:
                raise self.settings.unreachable("no answer creating the topic") from None
            except KafkaException as exc:
                error = exc.args[0]
                if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise self.settings.unreachable(error) from None
            self._topics.add(name)
        return name

    def publish(self, topic: str, key: str, value: bytes) -> None:
        """Send and wait for the broker's ack; :class:`QueueUnavailableError` if none came.

        The producer may not auto-create topics (Tansu's auto-created topics hand out offset 0
        twice and readers see nothing), so after a connection error (reported on the
        ``poll(0)`` here) topics are created again before the send; and a send that still times
        out (a broker restarted unnoticed) re-creates its topic and is sent once more.
        """
        self._producer.poll(0)
        name = self.ensure_topic(topic)  # a broker that is down fails here, once
        try:
            self._send(name, key, value)
        except QueueUnavailableError:
            with self._topics_lock:
                self._topics.discard(self.topic_name(topic))
            self._send(self.ensure_topic(topic), key, value)

    def _send(self, name: str, key: str, value: bytes) -> None:
        acked = threading.Event()
        failure: list[KafkaError] = []

        def delivered(error: KafkaError | None, _message: _KafkaMessage) -> None:
            if error is not None:
                failure.append(error)
            acked.set()

        try:
            self._producer.produce(name, key=key.encode(), value=value, on_delivery=delivered)
        except BufferError:
            raise QueueError(
                f"the Kafka producer's buffer is full publishing to {name}; the broker at "
                f"{self.settings.bootstrap_servers} is not keeping up, retry later"
            ) from None
        # Any thread's poll serves any delivery callback, so each publisher polls until its own
        # ack arrives; message.timeout.ms bounds the wait with a delivery error.
        deadline = time.monotonic() + self.settings.ack_timeout_s + 1.0
        while not acked.is_set():
            self._producer.poll(0.05)
            if time.monotonic() > deadline:
                failure.append(KafkaError(KafkaError._MSG_TIMED_OUT))
                break
        if failure:
            raise self.settings.unreachable(failure[0].str())

    def consumer(self, topic: str, group: str) -> KafkaConsumer:
        return KafkaConsumer(self, topic, group)

    def close(self) -> None:
        self._producer.flush(self.settings.ack_timeout_s)


class KafkaConsumer:
    """One group's reader of every partition of one topic, from the group's committed offsets."""

    def __init__(self, queue: KafkaQueue, topic: str, group: str) -> None:
        self._settings = queue.settings
        self._topic = topic
        self._name = queue.ensure_topic(topic)
        self._consumer = _KafkaConsumer(
            {
                **self._settings.client_config(),
                "error_cb": self._client_error,
                "group.id": group,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 1,
            }
        )
        self._committed: dict[int, int] = {}  # partition -> the offset we know is committed
        self._suspect = False  # the connection failed: the broker may be back without its log
        self._last_log_check = time.monotonic()
        self._lost = False
        try:
            self._partitions = self._assign_from_committed()
        except KafkaException as exc:
            self._consumer.close()
            raise self._settings.unreachable(exc.args[0]) from None

    def _client_error(self, error: KafkaError) -> None:
        logger.debug("kafka consumer of %s: %s", self._name, error)
        self._suspect = True

    def _assign_from_committed(self) -> list[TopicPartition]:
        timeout = self._settings.ack_timeout_s
        metadata = self._consumer.list_topics(self._name, timeout=timeout).topics[self._name]
        partitions = [TopicPartition(self._name, p) for p in sorted(metadata.partitions)]
        committed = self._consumer.committed(partitions, timeout=timeout)
        self._committed = {tp.partition: tp.offset for tp in committed if tp.offset >= 0}
        start = [
            TopicPartition(
                tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            )
            for tp in committed
        ]
        self._consumer.assign(start)
        return partitions

    def poll(self, max_messages: int, timeout_s: float) -> list[Message]:
        if self._suspect:
            self._check_log()
        first = self._consumer.poll(timeout_s)
        batch = [] if first is None else [first]
        if batch and max_messages > 1:
            batch += self._consumer.consume(max_messages - 1, timeout=0)
        messages = [self._message(m) for m in batch if self._usable(m)]
        idle = not messages and time.monotonic() - self._last_log_check >= _LOG_CHECK_INTERVAL_S
        # A connection error surfaces inside poll(): check before handing out what it fetched.
        if (self._suspect or idle) and self._check_log():
            return []  # fetched from offsets of the lost log; the new log is read from its start
        return messages

    def _usable(self, message: _KafkaMessage) -> bool:
        error = message.error()
        if error is None:
            return True
        if error.fatal():
            raise QueueError(f"Kafka consumer of {self._name} stopped: {error.str()}")
        logger.debug("kafka consumer of %s: %s", self._name, error)
        self._suspect = True
        return False

    def _message(self, message: _KafkaMessage) -> Message:
        key = message.key()
        return Message(
            topic=self._topic,
            key=key.decode() if isinstance(key, bytes) else "",
            value=message.value() or b"",
            partition=message.partition() or 0,
            offset=message.offset() or 0,
        )

    def _check_log(self) -> bool:
        """Read a partition again from its start when the broker lost its log.

        A broker that restarted without its log (``memory://`` Tansu) has forgotten the
        group's commits, or ends before our position. Either way the offsets we hold mean
        nothing in the new log: without the seek the reader would skip its first messages or
        wait for offsets it reaches much later. Runs after a connection error (before the next
        fetch is handed out) and once a second while idle; stays pending while the broker is
        down. Returns whether a partition is read again.
        """
        self._last_log_check = time.monotonic()
        sought = False
        try:
            committed = self._consumer.committed(self._partitions, timeout=0.5)
            positions = {tp.partition: tp.offset for tp in self._consumer.position(committed)}
            for tp in committed:
                ours = self._committed.get(tp.partition)
                position = positions.get(tp.partition, -1)
                _low, high = self._consumer.get_watermark_offsets(tp, timeout=0.5, cached=False)
                forgot_commit = ours is not None and tp.offset < 0
                if forgot_commit or position > high:
                    self._read_again(tp.partition, high, position)
                    sought = True
        except KafkaException as exc:
            logger.debug("kafka log check of %s pending: %s", self._name, exc)
            return sought
        self._suspect = False
        return sought

    def _read_again(self, partition: int, high: int, position: int) -> None:
        logger.warning(
            "kafka log of %s[%d] was lost by the broker (now ends at %d, reader was at %d); "
            "reading it from the beginning",
            self._name,
            partition,
            high,
            position,
        )
        self._consumer.seek(TopicPartition(self._name, partition, OFFSET_BEGINNING))
        self._committed.pop(partition, None)
        self._lost = True

    def commit(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        next_offsets: dict[int, int] = {}
        for message in messages:
            next_offsets[message.partition] = max(
                next_offsets.get(message.partition, 0), message.offset + 1
            )
        offsets = [TopicPartition(self._name, p, o) for p, o in sorted(next_offsets.items())]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            self._suspect = True
            raise self._settings.unreachable(exc.args[0]) from None
        self._committed.update(next_offsets)

    def close(self) -> None:
        self._consumer.close()

    def lost_messages(self) -> bool:
        lost, self._lost = self._lost, False
        return lost
