"""Credentials at rest: Fernet-encrypted JSON, with the key outside the warehouse.

The key comes from $LEDGERLINE_SECRET_KEY, else from `secret.key` in the data folder, created
with owner-only permissions on first use. Decrypted values are never logged or shown back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from pipeline.errors import ConfigError


def _key(data: Path) -> bytes:
    env = os.environ.get("LEDGERLINE_SECRET_KEY")
    if env:
        return env.encode()
    path = Path(data) / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key())
    return path.read_bytes().strip()


def encrypt_json(data: Path, value: dict) -> bytes:
    """Encrypt a credentials dict for storage in sources.credentials."""
    return Fernet(_key(data)).encrypt(json.dumps(value).encode())


def decrypt_json(data: Path, token: bytes) -> dict:
    """Decrypt stored credentials; a clear error when the key no longer matches."""
    try:
        return json.loads(Fernet(_key(data)).decrypt(bytes(token)))
    except InvalidToken as exc:
        raise ConfigError(
            "Stored credentials cannot be decrypted with this installation's key.",
            guidance="Reconnect the source, or restore the original secret.key / LEDGERLINE_SECRET_KEY.",
        ) from exc
