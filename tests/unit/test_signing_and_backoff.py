"""Pure webhook rules: signatures agree with the standardwebhooks library, the retry schedule
and Retry-After, and which targets the URL guard refuses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from engine.adapters import url_guard
from engine.domain import backoff, signing

# The Standard Webhooks specification's own test vector.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

BODY = json.dumps(
    {"id": "8d7c", "event": "order.confirmed", "timestamp": "2026-04-07T12:00:00.000Z", "data": {}},
    separators=(",", ":"),
).encode()


def signed(body: bytes, secrets_: list[str], msg_id: str = "d-1") -> dict[str, str]:
    return signing.headers(
        msg_id=msg_id,
        timestamp=int(time.time()),
        body=body,
        secrets_=secrets_,
        event_type="order.confirmed",
    )


# --- signing ------------------------------------------------------------------------------


def test_standard_signature_matches_the_specification_vector() -> None:
    # Given the Standard Webhooks test vector
    # When we sign it, and the library signs it
    ours = signing.standard_signature(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY)
    theirs = Webhook(VECTOR_SECRET).sign(
        VECTOR_ID, datetime.fromtimestamp(VECTOR_TS, tz=UTC), VECTOR_BODY.decode()
    )

    # Then all three agree
    assert ours == theirs == VECTOR_SIGNATURE


#: A fixed delivery: its signatures below were computed outside our code (openssl dgst
#: -sha256 -hmac over the exact bytes), so a change in what or how we sign shows here.
FIXED_ID = "delivery-42"
FIXED_TS = 1775563200  # 2026-04-07T12:00:00Z
FIXED_PREVIOUS = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"  # bytes 0..23
FIXED_STANDARD = "v1,ZZtpzMXyK/VW1+6hx8jRHfWYVDn5HttDRj2sDSSpGZc="
FIXED_STANDARD_PREVIOUS = "v1,5L/VyfZsb8Yhcg9hHYl8/jTmDnFzf0OXNvL9QGpKQ6k="
FIXED_BODY_SIGNATURE = "sha256=4c4d654dc16a6827a6427b69dd3ce33c848003421e908556fd5f0ea3ab5ea9e2"
FIXED_BODY_SIGNATURE_PREVIOUS = (
    "sha256=fc168511c0296f00eb0a072ade91070bd38ed740498841d84a5877c0fd3cd93a"
)
FIXED_PREMIER = "498b94d55179344999ed3155d4a4299d1be4938b4ed9da33ecaa315786586949"
FIXED_PREMIER_PREVIOUS = "b27f1cc517720209d6c1056dfc910ce0a15de41d7f4ddcf9b94727d28c6012f1"


def test_a_fixed_delivery_carries_exactly_these_headers() -> None:
    # Given a fixed secret pair, id, timestamp and body
    # When we sign them for sending
    headers = signing.headers(
        msg_id=FIXED_ID,
        timestamp=FIXED_TS,
        body=BODY,
        secrets_=[VECTOR_SECRET, FIXED_PREVIOUS],
        event_type="order.confirmed",
    )

    # Then every header name and value is the known one
    assert headers == {
        "content-type": "application/json",
        "user-agent": "Inkwell-Webhooks/1.0",
        "webhook-id": "delivery-42",
        "webhook-timestamp": "1775563200",
        "webhook-signature": f"{FIXED_STANDARD} {FIXED_STANDARD_PREVIOUS}",
        "x-signature-256": FIXED_BODY_SIGNATURE,
        "x-webhook-event": "order.confirmed",
        "x-premier-signature": FIXED_PREMIER,
        "x-premier-event": "order.confirmed",
        "x-premier-delivery": "delivery-42",
        "x-premier-timestamp": "2026-04-07T12:00:00.000Z",
        "x-signature-256-previous": FIXED_BODY_SIGNATURE_PREVIOUS,
        "x-premier-signature-previous": FIXED_PREMIER_PREVIOUS,
    }


def test_the_standard_signature_is_over_id_dot_timestamp_dot_body() -> None:
    # Given the fixed delivery, signed by hand: HMAC-SHA256 keyed with the secret's
    # base64-decoded bytes over `{id}.{timestamp}.{body}`, base64, prefixed `v1,`
    key = base64.b64decode(VECTOR_SECRET.removeprefix("whsec_"))
    content = f"{FIXED_ID}.{FIXED_TS}.".encode() + BODY
    by_hand = "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()

    # When we sign it, and the standardwebhooks library signs it
    ours = signing.standard_signature(VECTOR_SECRET, FIXED_ID, FIXED_TS, BODY)
    theirs = Webhook(VECTOR_SECRET).sign(
        FIXED_ID, datetime.fromtimestamp(FIXED_TS, tz=UTC), BODY.decode()
    )

    # Then all agree with the known value
    assert ours == theirs == by_hand == FIXED_STANDARD
    # And the other two signatures are over the body alone, keyed as documented
    assert signing.body_signature(VECTOR_SECRET, BODY) == FIXED_BODY_SIGNATURE
    assert signing.premier_signature(VECTOR_SECRET, BODY) == FIXED_PREMIER
    assert hmac.new(VECTOR_SECRET.encode(), BODY, hashlib.sha256).hexdigest() == FIXED_PREMIER


@pytest.mark.parametrize(
    ("secret", "msg_id", "timestamp", "body"),
    [
        (FIXED_PREVIOUS, FIXED_ID, FIXED_TS, BODY),
        (VECTOR_SECRET, "delivery-43", FIXED_TS, BODY),
        (VECTOR_SECRET, FIXED_ID, FIXED_TS + 1, BODY),
        (VECTOR_SECRET, FIXED_ID, FIXED_TS, BODY + b" "),
    ],
    ids=["secret", "id", "timestamp", "body"],
)
def test_changing_any_signed_part_changes_the_signature(
    secret: str, msg_id: str, timestamp: int, body: bytes
) -> None:
    # Given the fixed delivery with one part changed
    # When it is signed
    # Then the signature is not the fixed one
    assert signing.standard_signature(secret, msg_id, timestamp, body) != FIXED_STANDARD


def test_headers_verify_with_the_standardwebhooks_library() -> None:
    # Given a fresh secret and a body
    secret = signing.new_secret()

    # When we sign the body for sending
    headers = signed(BODY, [secret], msg_id="delivery-42")

    # Then the stock verifier accepts it and returns the payload
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    assert headers["webhook-id"] == "delivery-42"
    assert headers["x-webhook-event"] == "order.confirmed"
    # And X-Signature-256 is the hex HMAC-SHA256 of the body keyed by the secret's bytes
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, BODY, hashlib.sha256).hexdigest()
    assert headers["x-signature-256"] == f"sha256={expected}"


def test_a_tampered_body_or_another_secret_fails_verification() -> None:
    # Given a signed body
    secret = signing.new_secret()
    headers = signed(BODY, [secret])
    tampered = BODY.replace(b"order.confirmed", b"order.cancelled")

    # When it is changed, or checked with a different secret, or its id or timestamp is
    # changed
    # Then the library refuses it
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "another"})
    later = str(int(headers["webhook-timestamp"]) + 1)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-timestamp": later})
    # And the body signature no longer matches either
    assert signing.body_signature(secret, tampered) != headers["x-signature-256"]


def test_during_rotation_both_secrets_sign_and_x_signature_uses_the_current() -> None:
    # Given a current and a rotated-out secret
    current, previous = signing.new_secret(), signing.new_secret()

    # When a body is signed with both
    headers = signed(BODY, [current, previous])

    # Then either secret verifies, a third does not
    assert Webhook(current).verify(BODY, headers) == json.loads(BODY)
    assert Webhook(previous).verify(BODY, headers) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(BODY, headers)
    assert len(headers["webhook-signature"].split(" ")) == 2
    # And X-Signature-256 is the current secret's
    assert headers["x-signature-256"] == signing.body_signature(current, BODY)


def test_new_secrets_are_whsec_base64_of_24_random_bytes() -> None:
    # When two secrets are made
    a, b = signing.new_secret(), signing.new_secret()

    # Then each is whsec_ + base64 of 24 bytes, and they differ
    assert a.startswith("whsec_") and b.startswith("whsec_")
    assert len(signing.key_bytes(a)) == 24
    assert a != b


# --- backoff ------------------------------------------------------------------------------

SCHEDULE = (30, 300, 3600)
NOW = datetime(2026, 4, 7, 12, 0, 0, tzinfo=UTC)


def test_retry_delay_follows_the_schedule_then_gives_up() -> None:
    # Given the default schedule
    # When 1, 2, 3 and 4 attempts have failed
    delays = [backoff.retry_delay_s(SCHEDULE, n) for n in (1, 2, 3, 4)]

    # Then the delays are 30 s, 5 min, 1 h, and then none
    assert delays == [30, 300, 3600, None]
    assert backoff.retry_delay_s(SCHEDULE, 0) is None
    assert backoff.retry_delay_s((), 1) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        ("Tue, 07 Apr 2026 12:10:00 GMT", 600.0),
        (format_datetime(NOW - timedelta(minutes=5), usegmt=True), 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("Tue, 07 Apr 2026 12:10:00", None),
        ("Blursday, 99 Foo 2026", None),
    ],
    ids=[
        "seconds",
        "seconds with spaces",
        "zero",
        "http date ahead",
        "literal http date",
        "http date in the past",
        "absent",
        "empty",
        "word",
        "negative",
        "fraction",
        "date without zone",
        "garbage date",
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    # Given a Retry-After header value
    # When it is parsed at a fixed time
    # Then seconds and HTTP dates give seconds from now; anything else gives None
    assert backoff.parse_retry_after_s(value, NOW) == expected


def test_next_delay_honours_retry_after_only_above_the_schedule_and_caps_it() -> None:
    # Given the default schedule and one failed attempt (30 s due)
    # When the receiver asked for nothing, for less, for more, and for far too much
    # Then the schedule wins unless Retry-After is longer, up to 6 hours
    assert backoff.next_delay_s(SCHEDULE, 1, None) == 30.0
    assert backoff.next_delay_s(SCHEDULE, 1, 5.0) == 30.0
    assert backoff.next_delay_s(SCHEDULE, 1, 120.0) == 120.0
    assert backoff.next_delay_s(SCHEDULE, 2, 7200.0) == 7200.0
    assert backoff.next_delay_s(SCHEDULE, 1, 10 * 86400.0) == 6 * 3600.0
    assert backoff.MAX_RETRY_AFTER_S == 6 * 3600
    # And once the schedule is spent, Retry-After does not bring the delivery back
    assert backoff.next_delay_s(SCHEDULE, 4, 60.0) is None


# --- url guard ----------------------------------------------------------------------------

REFUSED_TARGETS = [
    "http://127.0.0.1/",
    "http://127.8.9.10:8080/x",
    "http://localhost/",
    "http://10.0.0.5/",
    "http://172.16.3.4/",
    "http://192.168.1.1/hooks",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.10.10/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[fe80::1]/",
    "http://[fd12:3456::1]/",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.5]/",
    "http://[::ffff:169.254.169.254]/",
]
BAD_SCHEMES = [
    "ftp://example.com/hooks",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "gopher://example.com/",
    "example.com/hooks",
]


@pytest.mark.parametrize("url", REFUSED_TARGETS)
def test_private_loopback_link_local_and_metadata_targets_are_refused(url: str) -> None:
    # Given private targets are not allowed
    # When the URL is checked
    reason = url_guard.check_url(url, allow_private=False)

    # Then it is refused as not public
    assert reason == url_guard.NOT_ALLOWED


METADATA_TARGETS = {
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:169.254.169.254]/",
}


@pytest.mark.parametrize("url", [u for u in REFUSED_TARGETS if u not in METADATA_TARGETS])
def test_allow_private_lets_every_such_target_through(url: str) -> None:
    # Given private targets are allowed (tests and the demo)
    # When the URL is checked
    # Then it passes
    assert url_guard.check_url(url, allow_private=True) is None


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize("url", BAD_SCHEMES)
def test_non_http_schemes_are_refused_even_when_private_targets_are_allowed(
    url: str, allow_private: bool
) -> None:
    # Given any setting
    # When a non-http(s) URL is checked
    reason = url_guard.check_url(url, allow_private=allow_private)

    # Then it is refused, saying why
    assert reason == "url must start with http:// or https://"


@pytest.mark.parametrize(
    "url", ["http://93.184.215.14/hooks", "https://8.8.8.8:8443/in", "http://[2606:4700::1111]/"]
)
def test_public_addresses_are_allowed(url: str) -> None:
    # Given private targets are not allowed
    # When a public literal address is checked
    # Then it passes
    assert url_guard.check_url(url, allow_private=False) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "url is required"),
        ("   ", "url is required"),
        ("http://", "url has no host"),
        ("http://example.com:99999/", "url has an invalid port"),
    ],
)
def test_malformed_urls_are_refused(url: str, reason: str) -> None:
    # Given a URL with no host, or an impossible port
    # When it is checked (even with private targets allowed)
    # Then it is refused, saying what is wrong
    assert url_guard.check_url(url, allow_private=True) == reason
