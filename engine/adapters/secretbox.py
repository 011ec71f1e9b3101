"""Secrets at rest: AES-256-GCM under the settings' key, older keys kept for reading.

A sealed value reads `enc:v1:<key id>:<base64url of nonce + ciphertext + tag>`, so it fits
the text columns that held plaintext; a value without the prefix is legacy plaintext.

SecretBoxError
├── BadKey         a SECRET_KEY that is not 32 bytes of base64
└── CannotOpen     the value was sealed under a key we do not hold, or was altered
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "enc:v1:"
_NONCE_BYTES = 12


class SecretBoxError(Exception):
    """Base of the secret box's errors."""


class BadKey(SecretBoxError):
    pass


class CannotOpen(SecretBoxError):
    pass


def new_key() -> str:
    """A fresh key in the form SECRET_KEY takes (urlsafe base64 of 32 random bytes)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def parse_key(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().replace("+", "-").replace("/", "_"))
    except ValueError as e:
        raise BadKey("SECRET_KEY must be base64 of 32 bytes (`inkwell secrets new-key`)") from e
    if len(raw) != 32:
        raise BadKey("SECRET_KEY must be base64 of 32 bytes (`inkwell secrets new-key`)")
    return raw


def key_id(key: bytes) -> str:
    """A short public name for a key, so a sealed value says which key opens it."""
    return hashlib.sha256(b"inkwell-secretbox-key-id:" + key).hexdigest()[:8]


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def sealed_key_id(value: str) -> str | None:
    """The key id a sealed value names; None for plaintext."""
    return value[len(PREFIX) :].split(":", 1)[0] if is_sealed(value) else None


@dataclass(frozen=True)
class Keyring:
    """Seals with `current`; opens with it or any of `previous` (during a key rotation)."""

    current: bytes
    previous: tuple[bytes, ...] = ()

    @classmethod
    def from_text(cls, current: str, previous: tuple[str, ...] = ()) -> Keyring:
        return cls(parse_key(current), tuple(parse_key(p) for p in previous))

    @property
    def current_id(self) -> str:
        return key_id(self.current)

    def seal(self, plaintext: bytes) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        blob = nonce + AESGCM(self.current).encrypt(nonce, plaintext, PREFIX.encode())
        encoded = base64.urlsafe_b64encode(blob).decode().rstrip("=")
        return f"{PREFIX}{self.current_id}:{encoded}"

    def open(self, value: str) -> bytes:
        """Raises CannotOpen: not sealed, sealed under a key we lack, or altered."""
        if not is_sealed(value):
            raise CannotOpen("value is not sealed")
        kid, _, encoded = value[len(PREFIX) :].partition(":")
        key = next((k for k in (self.current, *self.previous) if key_id(k) == kid), None)
        if key is None:
            raise CannotOpen(
                f"sealed under key {kid}, which is neither SECRET_KEY ({self.current_id}) "
                "nor in SECRET_KEY_PREVIOUS"
            )
        try:
            blob = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            nonce, ciphertext = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
            return AESGCM(key).decrypt(nonce, ciphertext, PREFIX.encode())
        except (InvalidTag, ValueError) as e:
            raise CannotOpen(f"value sealed under key {kid} does not decrypt") from e


def load_or_create_key_file(path: Path) -> str:
    """The key stored at `path`, written there (mode 0600) on first use.

    Safe when several processes start at once: the file appears whole or not at all.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, (new_key() + "\n").encode())
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process won the race; theirs is kept
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
