"""What the webhook sender puts on the wire, read by a real HTTP server: the request target
percent-encoded as httpx's client encoded it, Host without a default port, Basic
credentials from a URL's `user:pass@`, and the signature headers as given."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from engine.adapters.webhook_sender import WebhookSender


@dataclass
class Seen:
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[tuple[int, Seen]]:
    seen = Seen()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.requests.append((self.path, dict(self.headers.items()), body))
            self.send_response(204)
            self.send_header("Retry-After", "7")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], seen
    httpd.shutdown()
    httpd.server_close()


def test_the_request_is_what_httpx_would_have_sent(server: tuple[int, Seen]) -> None:
    # Given a sender and a URL with credentials, a non-ASCII path and query
    port, seen = server
    sender = WebhookSender(3.0, allow_private=True)
    url = f"http://hook%20user:p%40ss@127.0.0.1:{port}/café/in?x=é&y=1"
    try:
        # When it posts a signed body there
        result = sender.post(url, b'{"a":1}', {"webhook-id": "msg_1", "user-agent": "Inkwell"})
        again = sender.post(url, b'{"a":2}', {"webhook-id": "msg_2"})
    finally:
        sender.close()

    # Then the receiver answered and the answer was read
    assert (result.status_code, result.error, result.retry_after) == (204, None, "7")
    assert again.status_code == 204
    path, headers, body = seen.requests[0]
    # And the target is percent-encoded, the Host names the port, the credentials are Basic
    assert path == "/caf%C3%A9/in?x=%C3%A9&y=1"
    assert headers["Host"] == f"127.0.0.1:{port}"
    assert headers["Authorization"] == "Basic aG9vayB1c2VyOnBAc3M="  # "hook user:p@ss"
    assert headers["Content-Length"] == "7" and body == b'{"a":1}'
    assert headers["webhook-id"] == "msg_1" and headers["user-agent"] == "Inkwell"
    assert seen.requests[1][2] == b'{"a":2}'
