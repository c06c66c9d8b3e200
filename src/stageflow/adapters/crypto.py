"""Secrets at rest (webhook signing secrets, SMTP passwords): encrypted with Fernet
(AES-128-CBC + HMAC-SHA256, from ``cryptography``) under one key per installation.

The key comes from ``STAGEFLOW_SECRET_KEY`` (any string; several processes sharing a
PostgreSQL database must all be given the same one) or, when that is not set, from the file
``<data dir>/secret.key``, created on first use and readable by its owner only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class SecretUnreadable(ValueError):
    """A stored secret this installation's key cannot open (the key changed)."""


class SecretBox:
    def __init__(self, passphrase: str) -> None:
        digest = hashlib.sha256(passphrase.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))
        self._mac_key = hashlib.sha256(b"stageflow-mac:" + passphrase.encode()).digest()

    def token(self, label: str) -> str:
        """A token for ``label`` only this installation can make (HMAC-SHA256): callback URLs
        carry one, and it is checked by making it again, so it is stored nowhere."""
        mac = hmac.new(self._mac_key, label.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def check_token(self, label: str, token: str) -> bool:
        # Bytes, not str: compare_digest refuses non-ASCII text (a URL can carry any).
        return hmac.compare_digest(self.token(label).encode(), token.encode(errors="replace"))

    @classmethod
    def from_key_file(cls, path: Path) -> SecretBox:
        """The key in ``path``, made (atomically, mode 0600) if there is none yet."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process made it first: use theirs
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(Fernet.generate_key().decode() + "\n")
        key = path.read_text().strip()
        if not key:
            raise SecretUnreadable(f"{path} is empty; delete it to make a new key")
        return cls(key)

    def seal(self, plain: str) -> str:
        return str(self._fernet.encrypt(plain.encode()).decode())

    def open(self, sealed: str) -> str:
        try:
            return str(self._fernet.decrypt(sealed.encode()).decode())
        except InvalidToken:
            raise SecretUnreadable(
                "a stored secret cannot be decrypted: STAGEFLOW_SECRET_KEY (or the key file) "
                "is not the one it was stored with"
            ) from None
