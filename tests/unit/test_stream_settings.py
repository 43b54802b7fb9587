"""[stream] settings: defaults, tokens from secret references, the device allow-list, auth."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradelake.config import load_settings
from tradelake.errors import ConfigError
from tradelake.stream.auth import Role, allowed, bearer
from tradelake.stream.settings import StreamSettings, stream_settings


def _settings(home: Path, toml: str = "", env: dict[str, str] | None = None) -> StreamSettings:
    (home / "tradelake.toml").write_text(toml)
    return stream_settings(load_settings(home, env=env or {}))


def test_defaults_bind_loopback_and_refuse_without_tokens(home: Path) -> None:
    s = _settings(home)
    assert (s.queue, s.host, s.port, s.max_frame_bytes) == ("memory", "127.0.0.1", 8700, 8 << 20)
    assert s.producer_token is None and s.viewer_token is None
    assert not allowed(s, Role.PRODUCER, "anything") and not allowed(s, Role.VIEWER, None)


def test_tokens_come_from_env_or_file_and_grant_one_role(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (home / "viewer.token").write_text("v-secret\n")
    monkeypatch.setenv("DESK_PRODUCER", "p-secret")
    s = _settings(
        home,
        '[stream]\nproducer_token_env = "DESK_PRODUCER"\nviewer_token_file = "viewer.token"\n',
    )
    assert (s.producer_token, s.viewer_token) == ("p-secret", "v-secret")
    assert allowed(s, Role.PRODUCER, "p-secret") and not allowed(s, Role.VIEWER, "p-secret")
    assert allowed(s, Role.VIEWER, "v-secret") and not allowed(s, Role.PRODUCER, "v-secret")
    assert bearer("Bearer abc") == "abc" and bearer("Basic abc") is None and bearer(None) is None


def test_device_allow_list_and_names(home: Path) -> None:
    anyone = _settings(home)
    assert anyone.device_allowed("desk-1.left") and not anyone.device_allowed("a/b")
    listed = _settings(home, '[stream]\ndevices = ["desk1"]\n')
    assert listed.device_allowed("desk1") and not listed.device_allowed("desk2")


def test_env_overrides_and_bad_values(home: Path) -> None:
    assert _settings(home, env={"TRADELAKE_STREAM__PORT": "9001"}).port == 9001
    with pytest.raises(ConfigError, match="TRADELAKE_STREAM__PORT"):
        _settings(home, env={"TRADELAKE_STREAM__PORT": "abc"})
    with pytest.raises(ConfigError, match="must not be negative"):
        _settings(home, "[stream]\nbatch_wait_ms = -1\n")
