"""DNS rebinding has nothing to rebind: a name is resolved once per attempt, the addresses
vetted, and the socket connects to the vetted address, never to a second answer.

The resolver is the guard's port (`url_guard.Resolve`), injected into the sender: it
answers a public address first and loopback after, as a rebinding DNS server would. The
public address cannot be reached from here, so that connect fails fast or times out; a
listener on 127.0.0.1 proves loopback is never contacted.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from engine.adapters.webhook_sender import WebhookSender
from engine.domain import send_failures
from tests.integration.hostile import RawReceiver, answer

PUBLIC = "93.184.215.14"


class Rebinding:
    """Answers each address in turn (the last one for ever), counting lookups."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.lookups.append(host)
        return [self.answers[min(len(self.lookups), len(self.answers)) - 1]]


def test_a_public_then_loopback_answer_never_reaches_loopback() -> None:
    # Given a loopback listener and a name that resolves public first, loopback after
    with RawReceiver(answer("200 OK", {}, b"inside")) as inside:
        resolve = Rebinding(PUBLIC, "127.0.0.1")
        sender = WebhookSender(1.0, allow_private=False, resolve=resolve)
        try:
            # When one attempt is sent to it
            result = sender.post(f"http://rebind.test:{inside.port}/hook", b"{}", {})
        finally:
            sender.close()

    # Then the name was looked up once, the connection went to the vetted public address
    assert resolve.lookups == ["rebind.test"]
    assert result.address == PUBLIC
    # And it failed there (unreachable from here) without ever touching loopback
    assert not result.ok and result.error
    assert inside.connections == 0 and inside.hits == 0


def test_the_socket_connects_to_the_vetted_address_with_no_second_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given private targets allowed, a listener on loopback, and every getaddrinfo the
    # process makes recorded (the OS resolver; a name lookup would show up here)
    seen: list[object] = []
    real = socket.getaddrinfo

    def recording(host: object, *args: object, **kwargs: object) -> object:
        seen.append(host)
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    with RawReceiver(answer("200 OK", {}, b"fine")) as inside:
        # And a name resolving to loopback first, then to an address that never answers
        resolve = Rebinding("127.0.0.1", "10.255.255.1")
        sender = WebhookSender(1.0, allow_private=True, resolve=resolve)
        try:
            # When one attempt is sent
            first = sender.post(f"http://rebind.test:{inside.port}/hook", b"{}", {})

            # Then it reached the vetted address, looked up once by our resolver only
            assert first.ok and first.address == "127.0.0.1", first
            assert resolve.lookups == ["rebind.test"]
            assert inside.hits == 1
            # And the socket layer only ever saw the address literal, never the name
            assert seen and all(h in ("127.0.0.1", b"127.0.0.1") for h in seen), seen

            # When the next attempt's one lookup answers differently
            second = sender.post(f"http://rebind.test:{inside.port}/hook", b"{}", {})
        finally:
            sender.close()

    # Then that attempt went to its own vetted answer, not to the earlier one or a new one
    assert resolve.lookups == ["rebind.test", "rebind.test"]
    assert second.address == "10.255.255.1" and not second.ok
    assert inside.hits == 1


def test_a_name_resolving_to_any_forbidden_address_is_never_contacted() -> None:
    # Given a name whose answer mixes a public address and loopback
    with RawReceiver(answer("200 OK", {}, b"inside")) as inside:

        def mixed(host: str, port: int) -> Sequence[str]:
            return [PUBLIC, "127.0.0.1"]

        sender = WebhookSender(1.0, allow_private=False, resolve=mixed)
        try:
            result = sender.post(f"http://mixed.test:{inside.port}/hook", b"{}", {})
        finally:
            sender.close()

    # Then the attempt is refused before any connection, saying so without the addresses
    assert result.address is None and result.error is not None
    assert result.error == send_failures.text("refused_target")
    assert "127.0.0.1" not in result.error and PUBLIC not in result.error
    assert inside.connections == 0


def test_redirects_are_never_followed() -> None:
    # Given a receiver that redirects to another listener on loopback
    with RawReceiver(answer("200 OK", {}, b"moved here")) as target:
        location = {"Location": f"http://127.0.0.1:{target.port}/hook"}
        with RawReceiver(answer("307 Temporary Redirect", location, b"")) as first:
            sender = WebhookSender(1.0, allow_private=True, resolve=Rebinding("127.0.0.1"))
            try:
                result = sender.post(first.url, b"{}", {})
            finally:
                sender.close()

    # Then the redirect is the answer (a failed attempt), and the target is never contacted
    assert result.status_code == 307 and not result.ok
    assert first.hits == 1 and target.connections == 0


def test_tls_goes_to_the_vetted_address_with_the_original_host_and_server_name(
    tmp_path: Path,
) -> None:
    # Given a TLS receiver on loopback whose certificate names only hooks.partner.test
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=hooks.partner.test"),
            *("-addext", "subjectAltName=DNS:hooks.partner.test"),
        ],
        check=True,
        capture_output=True,
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    names: list[str | None] = []
    server_ctx.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,func-returns-value]
    requests: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            data = b""
            # The whole request, body ("{}") too: unread bytes at close would reset the
            # connection before the client reads the answer.
            while not data.endswith(b"\r\n\r\n{}"):
                data += tls.recv(65536)
            requests.append(data)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    # And a sender that trusts that certificate, with the name resolving to loopback
    client_ctx = ssl.create_default_context(cafile=str(cert))
    resolve = Rebinding("127.0.0.1")
    sender = WebhookSender(2.0, allow_private=True, resolve=resolve, ssl_context=client_ctx)
    try:
        # When one attempt is sent
        result = sender.post(f"https://hooks.partner.test:{port}/in", b"{}", {})
    finally:
        sender.close()
        thread.join(5)
        listener.close()

    # Then it connected to the vetted address, verified the certificate for the original
    # name, sent that name as SNI and as the Host header
    assert result.ok and result.address == "127.0.0.1", result
    assert names == ["hooks.partner.test"]
    assert f"host: hooks.partner.test:{port}".encode() in requests[0].lower()
