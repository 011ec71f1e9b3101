"""A tiny UDP DNS server on 127.0.0.1 for resolver tests: real queries on a real socket.

Names in `answers` get their A record (and an empty AAAA answer); names under `silent`
are never answered, as a hostile tenant's nameserver would; names in `late` are answered
after a delay; anything else is NXDOMAIN. Every query is counted by name.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import Counter

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class TinyDns:
    def __init__(
        self,
        answers: dict[str, str],
        *,
        silent: str = "hang.test",
        late: dict[str, tuple[float, str]] | None = None,
    ) -> None:
        self.answers = answers
        self.silent = silent
        self.late = late or {}
        self.queries: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._timers: list[threading.Timer] = []

    def __enter__(self) -> TinyDns:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for timer in self._timers:
            timer.cancel()
        self._thread.join(5)
        self._sock.close()

    def asked(self, suffix: str) -> int:
        with self._lock:
            return sum(n for name, n in self.queries.items() if name.endswith(suffix))

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = dns.message.from_wire(wire)
            question = query.question[0]
            name = question.name.to_text(omit_final_dot=True).lower()
            with self._lock:
                self.queries[name] += 1
            if name == self.silent or name.endswith("." + self.silent):
                continue
            if name in self.late:
                delay, address = self.late[name]
                reply = self._reply(query, question.rdtype, address)
                timer = threading.Timer(delay, self._send, (reply, peer))
                self._timers.append(timer)
                timer.start()
                continue
            self._send(self._reply(query, question.rdtype, self.answers.get(name)), peer)

    def _reply(self, query: dns.message.Message, rdtype: int, address: str | None) -> bytes:
        reply = dns.message.make_response(query)
        if address is None:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        elif rdtype == dns.rdatatype.A:
            name = query.question[0].name
            reply.answer.append(dns.rrset.from_text(name, 60, "IN", "A", address))
        return reply.to_wire()

    def _send(self, wire: bytes, peer: tuple[str, int]) -> None:
        with contextlib.suppress(OSError):
            self._sock.sendto(wire, peer)
