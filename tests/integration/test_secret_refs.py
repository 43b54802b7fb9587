"""Secret references (env:, file:, aws-sm:) and AWS Secrets Manager on moto's server."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from fixtures import feeds as payloads
from fixtures.moto import free_port, moto_endpoint
from tradelake.errors import ConfigError, SecretUnavailableError
from tradelake.platform import Platform
from tradelake.publish import publish_settings
from tradelake.redaction import redact
from tradelake.secret_refs import AWS_SECRETS_MANAGER, resolve

moto_server = pytest.importorskip("moto.server")
pytestmark = pytest.mark.s3

FRED_KEY = "fred-key-from-the-vault-7f3a"


@pytest.fixture(scope="module")
def secrets_endpoint() -> Iterator[str]:
    with moto_endpoint() as url:
        yield url


@pytest.fixture
def vault(secrets_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": secrets_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    AWS_SECRETS_MANAGER.clear()
    client = boto3.client("secretsmanager")
    suffix = free_port()
    client.create_secret(Name=f"desk/fred-{suffix}", SecretString=FRED_KEY)
    client.create_secret(
        Name=f"desk/pg-{suffix}", SecretString=json.dumps({"password": "pg-pass-91x", "user": "w"})
    )
    client.suffix = suffix
    yield client
    AWS_SECRETS_MANAGER.clear()


def test_env_and_file_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_TOKEN", "tok-env-5521 \n")
    (tmp_path / "token").write_text("tok-file-8812\n")
    assert resolve("env:DESK_TOKEN", where="t") == "tok-env-5521"
    assert resolve(f"file:{tmp_path / 'token'}", where="t") == "tok-file-8812"
    assert redact("x tok-env-5521 y tok-file-8812") == "x *** y ***"
    with pytest.raises(ConfigError, match="not a secret reference"):
        resolve("vault:thing", where="[[feeds]] x api_key_secret")
    with pytest.raises(ConfigError, match="environment variable is not set"):
        resolve("env:NOT_SET_ANYWHERE_123", where="t")
    with pytest.raises(ConfigError, match="could not be read"):
        resolve(f"file:{tmp_path / 'missing'}", where="t")


def test_aws_secrets_manager_values_fields_cache_and_errors(vault: Any) -> None:
    name = f"desk/fred-{vault.suffix}"
    assert resolve(f"aws-sm:{name}", where="t") == FRED_KEY
    assert resolve(f"aws-sm:desk/pg-{vault.suffix}#password", where="t") == "pg-pass-91x"
    assert redact(f"key={FRED_KEY}") == "key=***"

    vault.put_secret_value(SecretId=name, SecretString="rotated-key-0001")
    assert resolve(f"aws-sm:{name}", where="t") == FRED_KEY  # cached for CACHE_TTL_S
    AWS_SECRETS_MANAGER.clear()
    assert resolve(f"aws-sm:{name}", where="t") == "rotated-key-0001"

    with pytest.raises(ConfigError, match="ResourceNotFoundException"):
        resolve("aws-sm:desk/nope", where="t")
    with pytest.raises(ConfigError, match="no field 'nope'"):
        resolve(f"aws-sm:desk/pg-{vault.suffix}#nope", where="t")


def test_an_unreachable_vault_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    AWS_SECRETS_MANAGER.clear()
    with pytest.raises(SecretUnavailableError, match="could not be reached"):
        resolve("aws-sm:desk/anything", where="t")


def test_a_feed_pulls_with_a_key_from_secrets_manager_and_never_shows_it(
    home: Path, vault: Any, caplog: pytest.LogCaptureFixture
) -> None:
    body, _ = payloads.fred_json(series_id="GDP", n=12, seed=3, vintages=False)
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(parse_qsl(urlsplit(self.path).query)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (home / "tradelake.toml").write_text(
            f'[[feeds]]\nname = "gdp"\nkind = "fred"\nseries_id = "GDP"\n'
            f'url = "http://127.0.0.1:{server.server_port}/fred/series/observations"\n'
            f'schedule = "0 * * * *"\napi_key_secret = "aws-sm:desk/fred-{vault.suffix}"\n',
            encoding="utf-8",
        )
        caplog.set_level(logging.DEBUG)
        (result,) = Platform.open(home).pull()
    finally:
        server.shutdown()
    assert result.ok and result.rows > 0, result.error
    assert seen and seen[0].get("api_key") == FRED_KEY  # the key reached the provider
    state = "".join(p.read_text() for p in (home / "state").rglob("*") if p.is_file())
    written = json.dumps(result.to_dict()) + state + caplog.text
    assert FRED_KEY not in written


def test_publish_password_from_a_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_PASSWORD", "pg-secret-2231")
    settings = publish_settings(
        {"publish": {"url": "postgresql://w@127.0.0.1/desk", "password_secret": "env:PG_PASSWORD"}}
    )
    assert settings.password == "pg-secret-2231"
    assert "pg-secret-2231" not in settings.shown_url
