"""The alert-sink seam: a small protocol, one module per kind, registered in :data:`SINKS`.

A sink delivers one alert or raises :class:`~tradelake.errors.SinkError`; the dispatcher
(:mod:`tradelake.stream.alerts.dispatch`) retries it with backoff on the sink's own thread, so a
slow or failing sink never holds up the others. ``[[sinks]]`` entries pick the kind with
``type``; ``dashboard`` and ``log`` exist without configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tradelake.errors import ConfigError
from tradelake.stream.alerts.record import Notice
from tradelake.stream.hub import AlertHub
from tradelake.stream.settings import SinkConfig


class Sink(Protocol):
    """Delivers alerts somewhere; ``retries`` and ``backoff_s`` tune the dispatcher."""

    name: str
    retries: int
    backoff_s: float

    def send(self, alert: Notice) -> None:
        """Deliver ``alert`` or raise :class:`~tradelake.errors.SinkError`."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SinkContext:
    """What a sink may need from the running service."""

    hub: AlertHub


SinkFactory = Callable[[SinkConfig, SinkContext], Sink]
SINKS: dict[str, SinkFactory] = {}
BUILT_IN = (SinkConfig("dashboard", "dashboard"), SinkConfig("log", "log"))


def register_sink(kind: str) -> Callable[[SinkFactory], SinkFactory]:
    """Register a sink kind (``type`` in ``[[sinks]]``)."""

    def decorate(factory: SinkFactory) -> SinkFactory:
        SINKS[kind] = factory
        return factory

    return decorate


def open_sink(config: SinkConfig, context: SinkContext) -> Sink:
    """The sink ``config`` describes; an unknown ``type`` names the known ones."""
    from tradelake.stream.alerts.sinks import backends  # noqa: F401  (registration)

    try:
        factory = SINKS[config.type]
    except KeyError:
        raise ConfigError(
            f"[[sinks]] {config.name}: no sink type {config.type!r}; use one of "
            f"{', '.join(sorted(SINKS))}"
        ) from None
    return factory(config, context)


def retry_options(config: SinkConfig) -> tuple[int, float]:
    """``retries`` (default 5) and ``backoff_s`` (default 0.5, doubled per attempt)."""
    return int(config.options.get("retries", 5)), float(config.options.get("backoff_s", 0.5))
