"""Secret references: ``env:NAME``, ``file:/path`` and ``aws-sm:NAME[#field]``.

A setting ending in ``_secret`` (``api_key_secret``, ``token_secret``, ``url_secret``) holds a
reference, never the value; :func:`resolve` turns it into the value. ``aws-sm:`` reads AWS
Secrets Manager through boto3 with its usual configuration (``AWS_DEFAULT_REGION``,
credentials, and ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` for a private endpoint). A JSON secret
(the console's key/value kind) is read with ``#field``. Every resolved value is registered
for masking before it is returned, and Secrets Manager answers are cached for
:data:`CACHE_TTL_S` so a feed pulled every minute does not call the API every minute, while a
rotated secret is picked up within that time.

Each scheme is one function in :data:`RESOLVERS`: a vault is one more entry.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tradelake.errors import ConfigError, SecretUnavailableError
from tradelake.redaction import register_secret

CACHE_TTL_S = 300.0
Resolver = Callable[[str], str]


def resolve(reference: str, *, where: str) -> str:
    """The value ``reference`` points at; ``where`` names the setting in error messages.

    Raises :class:`ConfigError` when the reference is malformed or its secret does not
    exist, and :class:`SecretUnavailableError` (transient) when the store cannot be reached.
    """
    scheme, sep, name = reference.partition(":")
    if not sep or not name or scheme not in RESOLVERS:
        raise ConfigError(
            f"{where} = {reference!r} is not a secret reference; use env:NAME, file:/path or "
            "aws-sm:NAME (optionally aws-sm:NAME#field for a JSON secret)."
        )
    value = RESOLVERS[scheme](name).strip()
    if not value:
        raise ConfigError(f"{where}: the secret {reference} is empty; store the value there.")
    register_secret(value)
    return value


def is_reference(value: object) -> bool:
    """Whether ``value`` looks like a reference this module resolves."""
    return isinstance(value, str) and value.partition(":")[0] in RESOLVERS


def _from_env(name: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise ConfigError(f"secret env:{name} not found: the environment variable is not set.")
    return value


def _from_file(name: str) -> str:
    path = Path(name).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"secret file:{name} could not be read ({exc.strerror}).") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"secret file:{name} could not be read (not UTF-8 text).") from exc


class _AwsSecretsManager:
    """``aws-sm:NAME[#field]`` with a small TTL cache (values are never written to disk)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def __call__(self, reference: str) -> str:
        name, _, field = reference.partition("#")
        secret = self._secret_string(name)
        if not field:
            return secret
        try:
            document: Any = json.loads(secret)
            return str(document[field])
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"secret aws-sm:{name} has no field {field!r} (it must be a JSON object)."
            ) from exc

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def _secret_string(self, name: str) -> str:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(name)
            if cached and now - cached[0] < CACHE_TTL_S:
                return cached[1]
        value = _fetch(name)
        register_secret(value)
        with self._lock:
            self._cache[name] = (now, value)
        return value


def _fetch(name: str) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = boto3.client("secretsmanager")
        answer = client.get_secret_value(SecretId=name)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure"):
            raise ConfigError(
                f"secret aws-sm:{name}: {code}; check the name and that this machine's role "
                "may read it (secretsmanager:GetSecretValue)."
            ) from exc
        raise SecretUnavailableError(f"secret aws-sm:{name}: Secrets Manager said {code}") from exc
    except BotoCoreError as exc:
        raise SecretUnavailableError(
            f"secret aws-sm:{name}: Secrets Manager could not be reached ({exc}); retry later, "
            "or check AWS_DEFAULT_REGION / AWS_ENDPOINT_URL_SECRETS_MANAGER."
        ) from exc
    if "SecretString" not in answer:
        raise ConfigError(f"secret aws-sm:{name} is binary; store it as a string.")
    return str(answer["SecretString"])


AWS_SECRETS_MANAGER = _AwsSecretsManager()
RESOLVERS: dict[str, Resolver] = {
    "env": _from_env,
    "file": _from_file,
    "aws-sm": AWS_SECRETS_MANAGER,
}
