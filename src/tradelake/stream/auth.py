"""Bearer tokens of the stream's two roles: ``producer`` sends frames, ``viewer`` reads alerts.

Each role has its own token (``[stream] producer_token_env`` / ``viewer_token_env``, or the
``_file`` variants); a token grants its role only, and a role whose token is not configured
refuses everyone rather than standing open. Tokens are compared in constant time and never
logged (the server's access log is off: a browser's ``?token=`` would otherwise land in it).
"""

from __future__ import annotations

import hmac
from enum import Enum

from tradelake.stream.settings import StreamSettings


class Role(Enum):
    PRODUCER = "producer"
    VIEWER = "viewer"


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def allowed(settings: StreamSettings, role: Role, token: str | None) -> bool:
    """Whether ``token`` is the configured token of ``role``."""
    expected = settings.producer_token if role is Role.PRODUCER else settings.viewer_token
    if not expected or not token:
        return False
    return hmac.compare_digest(expected.encode(), token.encode())
