"""``[publish]`` settings: where the analytics database is and which roles it gets.

```toml
[publish]
url = "postgresql://tradelake_writer@db.internal:5432/desk"   # or url_secret / url_env / url_file
password_secret = "aws-sm:desk/postgres#password"   # optional: the password, kept out of the URL
schema = "tradelake"
writer_role = "tradelake_writer"     # publishes; owns the tables
analyst_role = "tradelake_analyst"   # SELECT only
```

The URL may hold a password, so it is a secret: it is masked wherever it is shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tradelake.config import read_secret
from tradelake.errors import ConfigError
from tradelake.redaction import redact_url, register_secret

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class PublishSettings:
    url: str
    password: str | None = None
    schema: str = "tradelake"
    writer_role: str = "tradelake_writer"
    analyst_role: str = "tradelake_analyst"

    @property
    def conninfo(self) -> str:
        """The URL libpq takes: an SQLAlchemy-style ``postgresql+psycopg://`` loses its driver."""
        scheme, rest = self.url.split("://", 1)
        return f"{scheme.split('+')[0]}://{rest}"

    @property
    def shown_url(self) -> str:
        """The URL with its password (and any ``password=`` parameter) masked."""
        return redact_url(self.url)


def publish_settings(raw: Mapping[str, Any], to: str | None = None) -> PublishSettings:
    """The settings for one publish: ``to`` (``--to``) overrides ``[publish] url``."""
    section = dict(raw.get("publish", {}))
    url = to or section.get("url") or _secret_url(section)
    if not url:
        raise ConfigError(
            "no analytics database to publish to; looked at: --to, [publish] url, "
            "[publish] url_secret, url_env, url_file in tradelake.toml. "
            "Pass --to postgresql://USER@HOST:5432/DB or set one of them."
        )
    parts = urlsplit(str(url))
    if parts.scheme.split("+")[0] not in SCHEMES:
        raise ConfigError(
            f"cannot publish to a {parts.scheme or 'plain path'} URL; "
            "the analytics database is PostgreSQL: postgresql://USER@HOST:5432/DB."
        )
    if parts.password:
        register_secret(parts.password)
    password = section.get("password_secret")
    settings = PublishSettings(
        url=str(url),
        password=read_secret("[publish] password", env_var=None, file=None, ref=str(password))
        if password
        else None,
        schema=str(section.get("schema", "tradelake")),
        writer_role=str(section.get("writer_role", "tradelake_writer")),
        analyst_role=str(section.get("analyst_role", "tradelake_analyst")),
    )
    for name in ("schema", "writer_role", "analyst_role"):
        value = getattr(settings, name)
        if not _IDENTIFIER.match(value):
            raise ConfigError(
                f"[publish] {name} = {value!r} is not a plain lower-case SQL name "
                "(letters, digits, underscores; at most 63)."
            )
    return settings


def _secret_url(section: Mapping[str, Any]) -> str | None:
    if not (section.get("url_env") or section.get("url_file") or section.get("url_secret")):
        return None
    return read_secret(
        "[publish] url",
        env_var=section.get("url_env"),
        file=section.get("url_file"),
        ref=section.get("url_secret"),
    )
