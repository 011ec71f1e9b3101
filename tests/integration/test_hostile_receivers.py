"""Receivers that misbehave on real sockets: every delivery still ends, each attempt on
record with a short reason, the receiver hit exactly as often as the schedule allows.

The schedule is `0,0` (3 attempts, no waiting), so the test drives every attempt by
calling the delivery service in-process on a real Postgres database.
"""

from __future__ import annotations

import gzip
import logging
import socket
import threading
import time
from datetime import datetime, timedelta

import pytest

from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.domain import send_failures
from tests.conftest import MakeInkwell
from tests.integration.hostile import RawReceiver, answer, drive, make_delivery, state

ATTEMPTS = 3  # the first one and the schedule's two retries


@pytest.fixture
def app(make_inkwell: MakeInkwell) -> Inkwell:
    return make_inkwell(
        webhook_retry_schedule_s=(0, 0),
        webhook_timeout_s=1.0,
        # Deactivation has its own test; here each delivery runs its whole schedule.
        webhook_max_consecutive_failures=100,
    )


def run_to_the_end(app: Inkwell, receiver: RawReceiver) -> list[str]:
    delivery_id = make_delivery(app, receiver.url)
    outcomes = drive(app, delivery_id)
    end = state(app, delivery_id)
    # The delivery ended: failed after the attempts the schedule allows, none in flight
    assert end.status == "failed", outcomes
    assert end.attempts == ATTEMPTS and end.lease_until is None
    assert [row.number for row in end.rows] == [1, 2, 3]
    # And the receiver saw exactly those attempts
    assert receiver.hits == ATTEMPTS
    # And every attempt's stored text is short, valid and free of NUL / control characters
    for row in end.rows:
        for text in (row.response_body, row.error):
            if text is not None:
                assert len(text.encode("utf-8")) <= 2048
                assert not any(ord(c) < 32 and c not in "\n\t" for c in text), text
    # And a second pass finds nothing to send
    assert drive(app, delivery_id) == ["skipped"]
    assert receiver.hits == ATTEMPTS
    return [row.error or f"{row.status_code}:{row.response_body}" for row in end.rows]


def test_a_body_with_nul_bytes_is_recorded_and_retried_on_schedule(app: Inkwell) -> None:
    # Given a receiver that answers 500 with NUL bytes in its body (Postgres text refuses \x00)
    body = b"error\x00\x00\x01\x02 at byte " + b"\x00" * 4000
    with RawReceiver(answer("500 Internal Server Error", {}, body)) as receiver:
        # When the delivery runs its schedule, Then every attempt is on record
        reasons = run_to_the_end(app, receiver)
    assert all(r.startswith("500:") for r in reasons), reasons
    assert all("\x00" not in r for r in reasons)


def test_a_gzip_body_is_stored_as_a_note_not_inflated(app: Inkwell) -> None:
    # Given a receiver that answers 502 with a gzip body (a bomb if anyone inflated it)
    bomb = gzip.compress(b"A" * 5_000_000)
    headers = {"Content-Encoding": "gzip", "Content-Type": "text/plain"}
    with RawReceiver(answer("502 Bad Gateway", headers, bomb)) as receiver:
        reasons = run_to_the_end(app, receiver)
    assert all(r.startswith("502:") and "binary body" in r for r in reasons), reasons


@pytest.mark.parametrize(
    "retry_after", ["²", "Thu, 01 Jan 1970 00:00:00 GMT", "-5", "soon", "Mon, 99 Foo 0000"]
)
def test_an_odd_retry_after_is_ignored_not_fatal(app: Inkwell, retry_after: str) -> None:
    # Given a receiver that answers 503 with a Retry-After nobody can use
    behaviour = answer("503 Service Unavailable", {"Retry-After": retry_after}, b"busy")
    with RawReceiver(behaviour) as receiver:
        reasons = run_to_the_end(app, receiver)
    assert reasons == ["503:busy"] * ATTEMPTS


def test_a_receiver_that_closes_mid_headers_is_a_failed_attempt(app: Inkwell) -> None:
    # Given a receiver that sends half a status line and header, then closes
    def half(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Ty")

    with RawReceiver(half) as receiver:
        reasons = run_to_the_end(app, receiver)
    # Then each attempt says so with a code, not the HTTP library's exception text
    assert reasons == [send_failures.text("protocol_error")] * ATTEMPTS, reasons


def test_a_receiver_that_drips_headers_is_cut_off_at_the_total_deadline(app: Inkwell) -> None:
    # Given a receiver that sends its headers one byte per second (each read succeeds, so
    # per-read timeouts alone would wait for ever) and WEBHOOK_TIMEOUT_S = 1
    def drip(conn: socket.socket) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 60:
            conn.sendall(bytes([byte]))
            time.sleep(1.0)

    with RawReceiver(drip) as receiver:
        started = time.monotonic()
        reasons = run_to_the_end(app, receiver)
        took = time.monotonic() - started
    # Then each attempt ends near its 1 s deadline
    assert reasons == ["timeout: no complete answer within 1 s"] * ATTEMPTS, reasons
    assert took < ATTEMPTS * 1.0 + 4, took


def test_a_huge_retry_after_is_capped_and_the_delivery_waits_scheduled(app: Inkwell) -> None:
    # Given a receiver that asks for a retry in 10^22 seconds
    behaviour = answer("503 Service Unavailable", {"Retry-After": "9" * 22}, b"busy")
    with RawReceiver(behaviour) as receiver:
        delivery_id = make_delivery(app, receiver.url)
        before = app.clock()

        # When the delivery is driven
        outcomes = drive(app, delivery_id)

        # Then it waits, scheduled no later than the cap (6 h), after one hit
        end = state(app, delivery_id)
        assert outcomes == ["retrying", "skipped"]
        assert end.status == "retrying" and end.lease_until is None
        assert isinstance(end.next_attempt_at, datetime)
        assert before + timedelta(hours=5) < end.next_attempt_at
        assert end.next_attempt_at <= app.clock() + timedelta(hours=6)
        assert receiver.hits == 1


#: What no delivery log may show: our hosts and addresses, errno, OpenSSL source files.
LEAKS = ("127.0.0.1", "localhost", "Errno", "errno", "_ssl.c", "/", "Error", "refused:")


def errors_of(app: Inkwell, delivery_id: object) -> list[str | None]:
    return [row.error for row in state(app, delivery_id).rows]  # type: ignore[arg-type]


def test_a_closed_port_is_connect_failed_and_the_errno_goes_to_the_log_only(
    app: Inkwell, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an endpoint on a port nobody listens on (connection refused, [Errno 111])
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    delivery_id = make_delivery(app, f"http://127.0.0.1:{port}/hook")

    # When the delivery runs its schedule
    with caplog.at_level(logging.WARNING, logger="inkwell.webhooks"):
        drive(app, delivery_id)

    # Then every attempt and the delivery say connect_failed, and nothing more
    expected = send_failures.text("connect_failed")
    assert errors_of(app, delivery_id) == [expected] * ATTEMPTS
    with app.uow() as uow:
        d = uow.session.get(tables.WebhookDelivery, delivery_id)
        assert d is not None and d.last_error == expected
    assert not any(leak in expected for leak in LEAKS)
    # And the operator's log has the raw reason, keyed by the delivery id
    raw = [r.getMessage() for r in caplog.records if str(delivery_id) in r.getMessage()]
    assert len(raw) == ATTEMPTS and all("connect_failed" in m for m in raw), raw
    assert any("ConnectError" in m for m in raw), raw


def test_a_receiver_that_answers_tls_with_plain_http_is_tls_failed(app: Inkwell) -> None:
    # Given an https:// endpoint whose server answers the TLS hello in plain text
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    port = server.getsockname()[1]
    stop = threading.Event()
    hellos = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(2)
                try:
                    hellos.append(conn.recv(4096))
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        delivery_id = make_delivery(app, f"https://127.0.0.1:{port}/hook")
        # When the delivery runs its schedule
        drive(app, delivery_id)
    finally:
        stop.set()
        thread.join(5)
        server.close()

    # Then each attempt reached the server and failed its handshake, said as a code
    assert len(hellos) == ATTEMPTS and all(h[:1] == b"\x16" for h in hellos)
    assert errors_of(app, delivery_id) == [send_failures.text("tls_failed")] * ATTEMPTS
