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
  one ordered log; keys still order per key with more).
- A broker that lost its log (a restarted ``memory://`` Tansu) is noticed by an idle reader whose
  position lies past the new end of the log; it starts again from the new log's beginning and
  ``lost_messages()`` says so once, so the CV service rescans landing for what the log lost.

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
                "acks": "all",
                "enable.idempotence": False,
                "max.in.flight.requests.per.connection": 1,
                "linger.ms": 0,
                "message.timeout.ms": int(settings.ack_timeout_s * 1000),
            }
        )

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
            except KafkaException as exc:
                error = exc.args[0]
                if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise self.settings.unreachable(error) from None
            self._topics.add(name)
        return name

    def publish(self, topic: str, key: str, value: bytes) -> None:
        """Send and wait for the broker's ack; :class:`QueueUnavailableError` if none came."""
        name = self.ensure_topic(topic)
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
                "group.id": group,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 1,
            }
        )
        self._last_log_check = time.monotonic()
        self._lost = False
        try:
            self._partitions = self._assign_from_committed()
        except KafkaException as exc:
            self._consumer.close()
            raise self._settings.unreachable(exc.args[0]) from None

    def _assign_from_committed(self) -> list[TopicPartition]:
        timeout = self._settings.ack_timeout_s
        metadata = self._consumer.list_topics(self._name, timeout=timeout).topics[self._name]
        partitions = [TopicPartition(self._name, p) for p in sorted(metadata.partitions)]
        committed = self._consumer.committed(partitions, timeout=timeout)
        start = [
            TopicPartition(
                tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            )
            for tp in committed
        ]
        self._consumer.assign(start)
        return partitions

    def poll(self, max_messages: int, timeout_s: float) -> list[Message]:
        first = self._consumer.poll(timeout_s)
        if first is None:
            self._restart_if_log_lost()
            return []
        batch = [first]
        if max_messages > 1:
            batch += self._consumer.consume(max_messages - 1, timeout=0)
        return [self._message(m) for m in batch if self._usable(m)]

    def _usable(self, message: _KafkaMessage) -> bool:
        error = message.error()
        if error is None:
            return True
        if error.fatal():
            raise QueueError(f"Kafka consumer of {self._name} stopped: {error.str()}")
        logger.debug("kafka consumer of %s: %s", self._name, error)
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

    def _restart_if_log_lost(self) -> None:
        """Seek to the start of a partition whose log now ends before our position.

        That happens only when the broker lost its log (a restarted ``memory://`` Tansu);
        without the seek the reader would wait for offsets the new log reaches much later.
        """
        now = time.monotonic()
        if now - self._last_log_check < _LOG_CHECK_INTERVAL_S:
            return
        self._last_log_check = now
        try:
            for position in self._consumer.position(self._partitions):
                if position.offset < 0:
                    continue
                tp = TopicPartition(position.topic, position.partition)
                _low, high = self._consumer.get_watermark_offsets(tp, timeout=0.5, cached=False)
                if position.offset > high:
                    logger.warning(
                        "kafka log of %s[%d] restarted (ends at %d, reader at %d); reading it "
                        "from the beginning",
                        position.topic,
                        position.partition,
                        high,
                        position.offset,
                    )
                    tp.offset = OFFSET_BEGINNING
                    self._consumer.seek(tp)
                    self._lost = True
        except KafkaException as exc:
            logger.debug("kafka log check of %s skipped: %s", self._name, exc)

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
            raise self._settings.unreachable(exc.args[0]) from None

    def close(self) -> None:
        self._consumer.close()

    def lost_messages(self) -> bool:
        lost, self._lost = self._lost, False
        return lost
