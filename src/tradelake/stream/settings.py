"""Typed settings of the real-time path: ``[stream]``, ``[[alerts]]`` and ``[[sinks]]``.

Tokens are never values in the toml: ``producer_token_env`` / ``producer_token_file`` (and the
``viewer_`` pair) name where the secret is, read with :func:`tradelake.config.read_secret`.
A producer token may only send frames; a viewer token may only read alerts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tradelake.config import Settings, read_secret
from tradelake.errors import ConfigError

DEVICE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

STREAM_DEFAULTS: dict[str, Any] = {
    "queue": "memory",
    "host": "127.0.0.1",
    "port": 8700,
    "max_frame_bytes": 8 * 1024 * 1024,
    "max_frame_age_s": 10.0,
    "batch_wait_ms": 5.0,
    "max_batch": 16,
    "cv_threads": 0,
    "model_poll_s": 5.0,
    "refresh_s": 60.0,
    "devices": [],
    "producer_token_env": "TRADELAKE_PRODUCER_TOKEN",
    "producer_token_file": "",
    "viewer_token_env": "TRADELAKE_VIEWER_TOKEN",
    "viewer_token_file": "",
}


@dataclass(frozen=True)
class AlertRule:
    """``[[alerts]]``: fire when a frame's ``signal`` is one of ``signals`` with ``prob`` at least
    ``min_prob`` on one of ``devices`` (empty: any), at most once per ``cooldown_s`` of capture
    time per (rule, device); deliver to the named ``sinks``."""

    name: str
    signals: tuple[str, ...]
    min_prob: float = 0.0
    devices: tuple[str, ...] = ()
    cooldown_s: float = 0.0
    sinks: tuple[str, ...] = ("dashboard",)


@dataclass(frozen=True)
class SinkConfig:
    """``[[sinks]]``: ``name`` (what rules refer to), ``type`` (a registered sink kind) and the
    kind's own options (``url``, ``topic``, ``timeout_s``, ``retries``, ...)."""

    name: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamSettings:
    """Everything the gateway, the CV service and the alert engine read from configuration."""

    queue: str
    host: str
    port: int
    max_frame_bytes: int
    max_frame_age_s: float
    batch_wait_ms: float
    max_batch: int
    cv_threads: int
    model_poll_s: float
    devices: tuple[str, ...]
    producer_token: str | None
    viewer_token: str | None
    alerts: tuple[AlertRule, ...]
    sinks: tuple[SinkConfig, ...]
    options: Mapping[str, Any] = field(default_factory=dict)

    def device_allowed(self, device: str) -> bool:
        """A usable name, and in the allow-list when one is configured."""
        return bool(DEVICE_NAME.match(device)) and (not self.devices or device in self.devices)


def stream_settings(settings: Settings) -> StreamSettings:
    """Read and check ``[stream]``, ``[[alerts]]`` and ``[[sinks]]``; a bad value is a
    :class:`ConfigError` naming the key. A token whose secret is not found is None (that role is
    then refused, never open)."""
    raw = {**STREAM_DEFAULTS, **dict(settings.raw.get("stream", {}))}
    sinks = tuple(_sink(i, s) for i, s in enumerate(settings.raw.get("sinks", [])))
    names = {s.name for s in sinks} | {"dashboard", "log"}
    alerts = tuple(_rule(i, r, names) for i, r in enumerate(settings.raw.get("alerts", [])))
    return StreamSettings(
        queue=str(raw["queue"]),
        host=str(raw["host"]),
        port=_number(raw, "port", int),
        max_frame_bytes=_number(raw, "max_frame_bytes", int),
        max_frame_age_s=_number(raw, "max_frame_age_s", float),
        batch_wait_ms=_number(raw, "batch_wait_ms", float),
        max_batch=max(1, _number(raw, "max_batch", int)),
        cv_threads=_number(raw, "cv_threads", int),
        model_poll_s=_number(raw, "model_poll_s", float),
        devices=tuple(str(d) for d in raw["devices"]),
        producer_token=_token("producer", raw, settings),
        viewer_token=_token("viewer", raw, settings),
        alerts=alerts,
        sinks=sinks,
        options=raw,
    )


def _number(raw: Mapping[str, Any], key: str, kind: type[int] | type[float]) -> Any:
    try:
        value = kind(raw[key])
    except (TypeError, ValueError):
        raise ConfigError(
            f"[stream] {key} = {raw[key]!r} is not a number; fix it in tradelake.toml "
            f"(or TRADELAKE_STREAM__{key.upper()})"
        ) from None
    if value < 0:
        raise ConfigError(f"[stream] {key} = {value} must not be negative; fix tradelake.toml")
    return value


def _token(role: str, raw: Mapping[str, Any], settings: Settings) -> str | None:
    env_var = str(raw.get(f"{role}_token_env") or "") or None
    file = str(raw.get(f"{role}_token_file") or "") or None
    ref = str(raw.get(f"{role}_token_secret") or "") or None
    if file and not file.startswith("/"):
        file = str(settings.home / file)
    try:
        return read_secret(f"the {role} token", env_var=env_var, file=file, ref=ref)
    except ConfigError:
        return None


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Sequence):
        raise ConfigError(f"{where} must be a list of names; fix tradelake.toml")
    return tuple(str(v) for v in value)


def _rule(index: int, raw: Mapping[str, Any], sink_names: set[str]) -> AlertRule:
    where = f"[[alerts]] #{index + 1}"
    if not raw.get("name") or not raw.get("signals"):
        raise ConfigError(f"{where} needs a name and signals = [...]; fix tradelake.toml")
    rule = AlertRule(
        name=str(raw["name"]),
        signals=_strings(raw["signals"], f"{where} signals"),
        min_prob=float(raw.get("min_prob", 0.0)),
        devices=_strings(raw.get("devices", []), f"{where} devices"),
        cooldown_s=float(raw.get("cooldown_s", 0.0)),
        sinks=_strings(raw.get("sinks", ["dashboard"]), f"{where} sinks"),
    )
    unknown = sorted(set(rule.sinks) - sink_names)
    if unknown:
        raise ConfigError(
            f"{where} ({rule.name}) names unknown sinks {unknown}; add a [[sinks]] entry "
            f"with that name, or use one of {sorted(sink_names)}"
        )
    return rule


def _sink(index: int, raw: Mapping[str, Any]) -> SinkConfig:
    if not raw.get("name") or not raw.get("type"):
        raise ConfigError(f"[[sinks]] #{index + 1} needs a name and a type; fix tradelake.toml")
    options = {k: v for k, v in raw.items() if k not in ("name", "type")}
    return SinkConfig(name=str(raw["name"]), type=str(raw["type"]), options=options)
