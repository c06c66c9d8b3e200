"""The browser session: a signed cookie (HMAC-SHA256), and the CSRF token derived from it.

The cookie holds who signed in (workspace, user), when, a fingerprint of the user's password
hash (changing the password ends every session) and a random nonce the CSRF token is made
from. Nothing is stored on the server, so signing out removes the cookie from the browser;
a copied cookie stays valid until it expires (``MAX_AGE``) or the password changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "stageflow_session"
MAX_AGE = 14 * 24 * 3600  # seconds a session lasts after signing in
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True, slots=True)
class Session:
    """What the cookie says. ``user_id`` is None before signing in (the sign-in form still
    needs a CSRF token)."""

    nonce: str
    issued_at: int
    workspace_id: int | None = None
    user_id: int | None = None
    password_mark: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None and self.workspace_id is not None

    @classmethod
    def anonymous(cls) -> Session:
        return cls(nonce=secrets.token_urlsafe(16), issued_at=int(time.time()))

    @classmethod
    def for_user(cls, workspace_id: int, user_id: int, password_hash: str | None) -> Session:
        """A new session (new nonce: a token seen before signing in is no use after)."""
        return cls(
            nonce=secrets.token_urlsafe(16),
            issued_at=int(time.time()),
            workspace_id=workspace_id,
            user_id=user_id,
            password_mark=password_mark(password_hash),
        )


def password_mark(password_hash: str | None) -> str:
    """A short fingerprint of the stored password hash, to end sessions when it changes."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


class SessionSigner:
    """Signs and checks session cookies and CSRF tokens with one installation key."""

    def __init__(self, key: bytes | Callable[[], bytes]) -> None:
        self._key = key

    @property
    def key(self) -> bytes:
        """The key, made on first use (building the app reads no secret)."""
        if callable(self._key):
            self._key = self._key()
        return self._key

    def _mac(self, label: str, payload: bytes) -> str:
        digest = hmac.new(self.key, label.encode() + b"|" + payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def dump(self, session: Session) -> str:
        body = json.dumps(
            [
                session.nonce,
                session.issued_at,
                session.workspace_id,
                session.user_id,
                session.password_mark,
            ],
            separators=(",", ":"),
        ).encode()
        payload = base64.urlsafe_b64encode(body).decode().rstrip("=")
        return payload + "." + self._mac("session", payload.encode())

    def load(self, cookie: str | None) -> Session | None:
        """The session in a cookie, or None when it is missing, forged or expired."""
        if not cookie or "." not in cookie:
            return None
        payload, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac("session", payload.encode())):
            return None
        try:
            body = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            nonce, issued_at, workspace_id, user_id, mark = json.loads(body)
        except (ValueError, TypeError):
            return None
        if not isinstance(issued_at, int) or time.time() - issued_at > MAX_AGE:
            return None
        return Session(str(nonce), issued_at, workspace_id, user_id, mark)

    def csrf_token(self, session: Session) -> str:
        return self._mac("csrf", session.nonce.encode())

    def check_csrf(self, session: Session | None, token: str | None) -> bool:
        if session is None or not token:
            return False
        # Bytes, not str: compare_digest refuses non-ASCII text (a form field can hold any).
        return hmac.compare_digest(
            token.encode(errors="replace"), self.csrf_token(session).encode()
        )
