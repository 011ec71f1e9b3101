"""API key format: `ink_<mode>_<32 base62 chars>`, stored only as a SHA-256 hash.

A key carries 190 bits of randomness, so a fast hash is safe and lets us find the key by
its hash in one indexed lookup (bcrypt, as some services use, costs ~250 ms a request and
buys nothing against keys that cannot be guessed).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string

from engine.domain.statuses import Mode

_ALPHABET = string.ascii_letters + string.digits
SECRET_LENGTH = 32
PREFIX_LENGTH = 12
KEY_PATTERN = re.compile(r"^ink_(test|live)_[A-Za-z0-9]{32}$")


def generate(mode: Mode) -> str:
    """A new random key for `mode`."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))
    return f"ink_{mode.value}_{body}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    """What lists show instead of the key: `ink_test_Ab3...`."""
    return key[:PREFIX_LENGTH] + "..."


def mode_of(key: str) -> Mode | None:
    """The mode written in a well-formed key, else None."""
    match = KEY_PATTERN.match(key)
    return Mode(match.group(1)) if match else None
