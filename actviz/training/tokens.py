"""Session tokens: issued by this server only, so a value it did not issue is never adopted.

A token is a random part and an HMAC of it under the server's secret (``ACTVIZ_SECRET``; else a secret
kept in ``$ACTVIZ_STATE_DIR/secret`` so tokens survive a restart; else a random one per process).  Pages
verify a token from a cookie or a link with :func:`verify` and replace anything else by :func:`issue`:
picking a value (``?s=classroom-link-0001``) no longer joins someone else's session.  Replicas that share
``ACTVIZ_SECRET`` accept each other's tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
from pathlib import Path

LOG = logging.getLogger("actviz.tokens")
_FORMAT = re.compile(r"^[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}$")
_secret: bytes | None = None
_lock = threading.Lock()


def _load_secret() -> bytes:
    env = os.environ.get("ACTVIZ_SECRET", "")
    if len(env) >= 16:
        return env.encode()
    if env:
        LOG.warning("ignoring ACTVIZ_SECRET: it needs at least 16 characters; using a generated secret")
    state = os.environ.get("ACTVIZ_STATE_DIR", "").strip()
    if state:
        path = Path(state) / "secret"
        try:
            if path.exists():
                data = path.read_bytes()
                if len(data) >= 32:
                    return data
            path.parent.mkdir(parents=True, exist_ok=True)
            data = secrets.token_bytes(32)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return data
        except OSError as exc:
            LOG.warning("cannot keep the session secret in %s (%s); tokens end with this process", path, exc)
    return secrets.token_bytes(32)


def _key() -> bytes:
    global _secret
    with _lock:
        if _secret is None:
            _secret = _load_secret()
        return _secret


def _sign(raw: str) -> str:
    mac = hmac.new(_key(), raw.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def issue() -> str:
    """A new token this server will recognise (38 URL- and cookie-safe characters)."""
    raw = secrets.token_urlsafe(12)
    return f"{raw}.{_sign(raw)}"


def verify(token: object) -> bool:
    """Whether ``token`` was issued by this server (constant-time comparison of the signature)."""
    if not isinstance(token, str) or not _FORMAT.match(token):
        return False
    raw, _, mac = token.partition(".")
    return hmac.compare_digest(mac, _sign(raw))
