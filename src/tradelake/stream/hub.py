"""Fan-out of alerts to the dashboard's WebSocket and server-sent-events clients.

The alert engine publishes from its own thread; each client waits on an ``asyncio.Queue`` in
the web server's event loop, fed with ``call_soon_threadsafe`` (no polling, so a push costs a
loop wake-up, well under a millisecond). A client that falls more than ``max_pending`` alerts
behind is dropped (it can fetch what it missed from ``GET /api/alerts?since=``) rather than
holding memory for ever.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

Payload = dict[str, Any]


class Subscription:
    """One client's queue of alerts; ``lagged`` is set when it was dropped for falling behind."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_pending: int) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Payload] = asyncio.Queue(max_pending)
        self.lagged = False

    def offer(self, payload: Payload) -> None:
        """Runs in the subscriber's loop."""
        try:
            self.queue.put_nowait(payload)
        except asyncio.QueueFull:
            self.lagged = True

    async def next(self, timeout_s: float | None = None) -> Payload | None:
        """The next alert, or None after ``timeout_s`` (a chance to send a keep-alive)."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout_s)
        except TimeoutError:
            return None


class AlertHub:
    """Thread-safe publish to every subscribed client."""

    def __init__(self, max_pending: int = 1000) -> None:
        self._subscribers: set[Subscription] = set()
        self._lock = threading.Lock()
        self._max_pending = max_pending

    def subscribe(self) -> Subscription:
        """Call from a coroutine: the subscription belongs to the running loop."""
        subscription = Subscription(asyncio.get_running_loop(), self._max_pending)
        with self._lock:
            self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(subscription)

    @property
    def clients(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def publish(self, payload: Payload) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscription in subscribers:
            try:
                subscription.loop.call_soon_threadsafe(subscription.offer, payload)
            except RuntimeError:  # its loop has closed: the client is gone
                self.unsubscribe(subscription)
