"""Webhook signatures (DESIGN.md section 6): 000's `X-Premier-*`, Standard Webhooks and
`X-Signature-256`.

`X-Premier-Signature` is keyed with the secret string exactly as the partner got it
(`whsec_...` as UTF-8), as 000's verifier does; the other two are keyed with the secret's
bytes (the base64 after `whsec_`, decoded). During a rotation `X-Premier-Signature` and
`X-Signature-256` carry the current secret; `...-Previous` headers carry the old one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from engine.domain.timestamps import iso

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def key_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64>` over `id.timestamp.body`, as Standard Webhooks defines it."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def body_signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>` over the body alone (the reference's `X-Signature-256`)."""
    return "sha256=" + hmac.new(key_bytes(secret), body, hashlib.sha256).hexdigest()


def premier_signature(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of the body keyed with the secret string itself (000's verifier)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(
    *, msg_id: str, timestamp: int, body: bytes, secrets_: list[str], event_type: str
) -> dict[str, str]:
    """Every signature header for one attempt; `secrets_[0]` is the current secret, any
    others (a rotated-out secret still inside its overlap) sign the Standard header too."""
    current = secrets_[0]
    out = {
        "content-type": "application/json",
        "user-agent": "Inkwell-Webhooks/1.0",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            standard_signature(s, msg_id, timestamp, body) for s in secrets_
        ),
        "x-signature-256": body_signature(current, body),
        "x-webhook-event": event_type,
        "x-premier-signature": premier_signature(current, body),
        "x-premier-event": event_type,
        "x-premier-delivery": msg_id,
        "x-premier-timestamp": iso(datetime.fromtimestamp(timestamp, UTC)) or "",
    }
    if len(secrets_) > 1:
        out["x-signature-256-previous"] = body_signature(secrets_[1], body)
        out["x-premier-signature-previous"] = premier_signature(secrets_[1], body)
    return out
