"""The database failing under an order: the answer still agrees with the outcome.

A real TCP proxy sits between the app and PostgreSQL and cuts the connection that writes
an order at one of three moments: before COMMIT (rolled back for sure), with the COMMIT
swallowed (the server never sees it: rolled back), or just after the COMMIT reached the
server (it landed, but the client never hears so). The client must get 503 service_busy
with nothing kept in the first two, and its order (201) in the third.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from engine.bootstrap import Inkwell, bootstrap
from tests.conftest import make_settings, order_body, serve, tenant_factory
from tests.factories import intake_counts


class CuttingProxy:
    """Forwards TCP to PostgreSQL; once armed, cuts the first connection that inserts an
    order, at the moment `mode` names."""

    def __init__(self, upstream: tuple[str, int], mode: str) -> None:
        self.upstream = upstream
        self.mode = mode
        self.armed = threading.Event()
        self.cut = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            conn = {"writes_order": False, "mute": False}
            threading.Thread(target=self._pump_up, args=(client, server, conn), daemon=True).start()
            threading.Thread(
                target=self._pump_down, args=(server, client, conn), daemon=True
            ).start()

    def _pump_up(self, client: socket.socket, server: socket.socket, conn: dict[str, bool]) -> None:
        with contextlib.suppress(OSError):
            while chunk := client.recv(65536):
                if self.armed.is_set() and not self.cut.is_set():
                    if b"INSERT INTO orders" in chunk:
                        conn["writes_order"] = True
                        if self.mode == "before_commit":
                            return self._close(client, server)
                    elif conn["writes_order"] and b"COMMIT" in chunk:
                        if self.mode == "commit_landed":
                            conn["mute"] = True
                            server.sendall(chunk)
                            time.sleep(0.5)  # the server commits; its answer is lost
                        return self._close(client, server)
                server.sendall(chunk)
        self._close(client, server, cut=False)

    @staticmethod
    def _pump_down(server: socket.socket, client: socket.socket, conn: dict[str, bool]) -> None:
        with contextlib.suppress(OSError):
            while chunk := server.recv(65536):
                if not conn["mute"]:
                    client.sendall(chunk)

    def _close(self, client: socket.socket, server: socket.socket, *, cut: bool = True) -> None:
        if cut:
            self.cut.set()
        for s in (client, server):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}"))


@pytest.fixture(params=["before_commit", "commit_lost", "commit_landed"])
def cut_app(request: pytest.FixtureRequest, pg_url: str, tmp_path: Path) -> Iterator[Inkwell]:
    parts = urlsplit(pg_url)
    proxy = CuttingProxy((parts.hostname or "127.0.0.1", parts.port or 5432), request.param)
    app = bootstrap(make_settings(_through(pg_url, proxy.port), tmp_path))
    app.proxy = proxy  # type: ignore[attr-defined]
    yield app
    app.close()
    proxy.stop()


def test_a_connection_cut_while_writing_an_order_answers_what_really_happened(
    cut_app: Inkwell, pg_url: str
) -> None:
    proxy: CuttingProxy = cut_app.proxy  # type: ignore[attr-defined]
    tenant = tenant_factory(cut_app)(credits_cents=10_000)
    with serve(cut_app) as client:
        # Given the connection that writes the next order will be cut (proxy.mode)
        proxy.armed.set()

        # When the partner places it
        response = client.post("/orders", json=order_body(1), headers=tenant.headers)

        # Then the cut happened, and the answer matches what the database holds
        assert proxy.cut.is_set()
        if proxy.mode == "commit_landed":
            assert response.status_code == 201, response.text
            order_id = response.json()["order"]["id"]
            assert intake_counts(pg_url, tenant.id)[0::2] == (1, 1)
            assert client.get(f"/orders/{order_id}", headers=tenant.headers).status_code == 200
        else:
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "service_busy"
            assert response.headers["Retry-After"].isdigit()
            assert intake_counts(pg_url, tenant.id) == (0, 0, 0)
        # And the next order goes through on a fresh connection
        again = client.post("/orders", json=order_body(1), headers=tenant.headers)
        assert again.status_code == 201, again.text
