"""000's own webhook verifier, ported line for line from its JavaScript, accepts what our
signing code sends.

000 shows (Node.js):

    function verifyWebhookSignature(payload, signature, secret) {
      const expected = crypto
        .createHmac('sha256', secret)
        .update(payload)
        .digest('hex');
      return crypto.timingSafeEqual(
        Buffer.from(signature),
        Buffer.from(expected)
      );
    }

The port keeps its names and logic; the few Node primitives it uses are shimmed with their
Node semantics (a string key and payload are UTF-8; timingSafeEqual throws on a length
mismatch).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime

import pytest

from engine.domain import signing


class _Hmac:
    def __init__(self, algorithm: str, key: str) -> None:
        self._h = hmac.new(Buffer.from_(key), digestmod=getattr(hashlib, algorithm))

    def update(self, data: str) -> _Hmac:
        self._h.update(Buffer.from_(data))
        return self

    def digest(self, encoding: str) -> str:
        assert encoding == "hex"
        return self._h.hexdigest()


class Buffer:
    @staticmethod
    def from_(value: str) -> bytes:
        return value.encode("utf-8")


class crypto:
    @staticmethod
    def createHmac(algorithm: str, key: str) -> _Hmac:
        return _Hmac(algorithm, key)

    @staticmethod
    def timingSafeEqual(a: bytes, b: bytes) -> bool:
        if len(a) != len(b):
            raise ValueError("Input buffers must have the same byte length")
        return hmac.compare_digest(a, b)


def verifyWebhookSignature(payload: str, signature: str, secret: str) -> bool:
    expected = crypto.createHmac("sha256", secret).update(payload).digest("hex")
    return crypto.timingSafeEqual(Buffer.from_(signature), Buffer.from_(expected))


BODY = json.dumps(
    {
        "id": "8d7c",
        "event": "order.confirmed",
        "timestamp": "2026-04-07T12:00:00.000Z",
        "data": {"order_id": "a1b2", "status": "pending", "note": "café ✓"},
    },
    separators=(",", ":"),
    ensure_ascii=False,
).encode()


def signed(secrets_: list[str], msg_id: str = "delivery-7") -> dict[str, str]:
    return signing.headers(
        msg_id=msg_id,
        timestamp=int(time.time()),
        body=BODY,
        secrets_=secrets_,
        event_type="order.confirmed",
    )


#: X-Premier-Signature of BODY under SECRET, computed outside our code:
#: `printf %s "$BODY" | openssl dgst -sha256 -hmac "$SECRET"`.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SIGNATURE = "cc5815bf8b0b37538ef155c6124ea7da6f0d2b40675384b7a872543d7852dccf"


def test_x_premier_signature_of_a_fixed_body_is_the_known_value() -> None:
    # Given a fixed secret and body (with non-ASCII text, signed as UTF-8)
    # When we sign them for sending at a fixed moment
    headers = signing.headers(
        msg_id="delivery-7",
        timestamp=1775563200,
        body=BODY,
        secrets_=[SECRET],
        event_type="order.confirmed",
    )

    # Then X-Premier-Signature is the known hex digest, keyed with the whole secret string
    # (not its decoded bytes), and 000's verifier accepts it
    assert headers["x-premier-signature"] == SIGNATURE
    assert verifyWebhookSignature(BODY.decode(), SIGNATURE, SECRET) is True
    assert headers["x-premier-timestamp"] == "2026-04-07T12:00:00.000Z"
    assert headers["x-premier-delivery"] == "delivery-7"
    assert "x-premier-signature-previous" not in headers


def test_000s_verifier_accepts_our_headers_and_body() -> None:
    # Given a secret as we hand it to the partner, and a body signed for sending
    secret = signing.new_secret()
    headers = signed([secret])

    # When the partner runs 000's verifier on the raw body and X-Premier-Signature
    ok = verifyWebhookSignature(BODY.decode(), headers["x-premier-signature"], secret)

    # Then it accepts, and the other X-Premier headers say what 000 says
    assert ok is True
    assert headers["x-premier-event"] == "order.confirmed"
    assert headers["x-premier-delivery"] == "delivery-7"
    stamp = datetime.fromisoformat(headers["x-premier-timestamp"])
    assert stamp.utcoffset() is not None
    assert abs(stamp.timestamp() - int(headers["webhook-timestamp"])) < 1


def test_000s_verifier_rejects_a_tampered_body_and_a_wrong_secret() -> None:
    # Given a signed body
    secret = signing.new_secret()
    signature = signed([secret])["x-premier-signature"]

    # When the body is changed, or another secret is used, or the secret's decoded bytes
    # Then 000's verifier refuses each
    tampered = BODY.decode().replace("pending", "shipped")
    assert verifyWebhookSignature(tampered, signature, secret) is False
    assert verifyWebhookSignature(BODY.decode(), signature, signing.new_secret()) is False
    wrong_key = secret.removeprefix("whsec_")
    assert verifyWebhookSignature(BODY.decode(), signature, wrong_key) is False
    # And a truncated signature throws, as Node's timingSafeEqual does
    with pytest.raises(ValueError):
        verifyWebhookSignature(BODY.decode(), signature[:10], secret)


def test_during_rotation_x_premier_signature_carries_the_current_secret() -> None:
    # Given a rotation: the new secret first, the old one still inside its overlap
    new, old = signing.new_secret(), signing.new_secret()
    headers = signed([new, old])

    # Then X-Premier-Signature verifies with the new secret only, the -Previous with the old
    assert verifyWebhookSignature(BODY.decode(), headers["x-premier-signature"], new)
    assert not verifyWebhookSignature(BODY.decode(), headers["x-premier-signature"], old)
    assert verifyWebhookSignature(BODY.decode(), headers["x-premier-signature-previous"], old)
