"""The HTTP POST both remote sinks share: one client per sink, errors as :class:`SinkError`."""

from __future__ import annotations

from typing import Any

import httpx

from tradelake.config import read_secret
from tradelake.errors import ConfigError, SinkError
from tradelake.stream.settings import SinkConfig


class HttpPoster:
    """POSTs to the sink's URL with a ``timeout_s`` (default 5).

    The URL is ``url``, or a secret named by ``url_secret`` / ``url_env`` / ``url_file`` (a
    Slack webhook URL is a credential: keep it out of the toml).
    """

    def __init__(self, config: SinkConfig) -> None:
        url = str(config.options.get("url") or "")
        options = config.options
        if not url and (
            options.get("url_env") or options.get("url_file") or options.get("url_secret")
        ):
            url = read_secret(
                f"sink {config.name}",
                env_var=options.get("url_env"),
                file=options.get("url_file"),
                ref=options.get("url_secret"),
            )
        if not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"[[sinks]] {config.name}: the url must be an http(s) URL (set url, or url_env /"
                " url_file naming where it is); fix tradelake.toml"
            )
        self.url = url
        self._client = httpx.Client(timeout=float(config.options.get("timeout_s", 5.0)))

    def post(self, **kwargs: Any) -> None:
        """Raise :class:`SinkError` unless the receiver answered 2xx."""
        try:
            response = self._client.post(self.url, **kwargs)
        except httpx.HTTPError as exc:
            raise SinkError(f"POST {self.url} failed ({type(exc).__name__}: {exc})") from exc
        if not response.is_success:
            raise SinkError(f"POST {self.url} answered {response.status_code}")

    def close(self) -> None:
        self._client.close()
