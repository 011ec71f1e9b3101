"""Attempt errors as a table: each way a send can fail is one stable code and sentence,
and nothing of the exception's own text (hosts, addresses, errno, `_ssl.c`) gets through."""

from __future__ import annotations

import itertools
import ssl

import httpcore
import httpx
import pytest

from engine.adapters import url_guard
from engine.domain import send_failures

LEAKY = "receiver.internal 10.1.2.3 [Errno 111] (_ssl.c:1006) /usr/lib/python3"


def chained(outer: BaseException, *inner: BaseException) -> BaseException:
    """`outer` raised from `inner[0]`, raised from `inner[1]`, … as httpx/httpcore do."""
    chain = [outer, *inner]
    for above, below in itertools.pairwise(chain):
        above.__cause__ = below
    return outer


def _tls(kind: type[ssl.SSLError]) -> BaseException:
    return chained(httpx.ConnectError(LEAKY), httpcore.ConnectError(LEAKY), kind(1, LEAKY))


@pytest.mark.parametrize(
    ("exc", "late", "expected"),
    [
        (httpx.ReadTimeout(LEAKY), False, "timeout: no complete answer within 10 s"),
        (httpx.ConnectTimeout(LEAKY), False, "timeout: no complete answer within 10 s"),
        (httpx.WriteTimeout(LEAKY), False, "timeout: no complete answer within 10 s"),
        (httpx.PoolTimeout(LEAKY), False, "timeout: no complete answer within 10 s"),
        (TimeoutError(LEAKY), False, "timeout: no complete answer within 10 s"),
        # Past the deadline, whatever was raised is a timeout
        (httpx.RemoteProtocolError(LEAKY), True, "timeout: no complete answer within 10 s"),
        (
            chained(httpx.ConnectError(LEAKY), ConnectionRefusedError(111, LEAKY)),
            False,
            "connect_failed: the connection was refused, reset or could not be made",
        ),
        (
            httpx.ConnectError(LEAKY),
            False,
            "connect_failed: the connection was refused, reset or could not be made",
        ),
        (
            _tls(ssl.SSLCertVerificationError),
            False,
            "tls_failed: the TLS handshake failed (certificate or protocol)",
        ),
        (
            _tls(ssl.SSLError),
            False,
            "tls_failed: the TLS handshake failed (certificate or protocol)",
        ),
        (
            _tls(ssl.SSLEOFError),
            False,
            "tls_failed: the TLS handshake failed (certificate or protocol)",
        ),
        (
            chained(httpx.RemoteProtocolError(LEAKY), httpcore.RemoteProtocolError(LEAKY)),
            False,
            "protocol_error: the answer was not valid HTTP",
        ),
        (httpx.DecodingError(LEAKY), False, "protocol_error: the answer was not valid HTTP"),
        (
            chained(httpx.ReadError(LEAKY), ConnectionResetError(104, LEAKY)),
            False,
            "connection_lost: the connection closed before a complete answer",
        ),
        (
            httpx.WriteError(LEAKY),
            False,
            "connection_lost: the connection closed before a complete answer",
        ),
        (
            httpx.TooManyRedirects(LEAKY),
            False,
            "too_many_redirects: the receiver redirected too many times",
        ),
        (
            httpx.UnsupportedProtocol(LEAKY),
            False,
            "refused_target: the URL is not allowed (webhooks go to public hosts only)",
        ),
        (ValueError(LEAKY), False, "send_failed: the attempt failed before an answer arrived"),
        (RuntimeError(), False, "send_failed: the attempt failed before an answer arrived"),
    ],
)
def test_every_send_failure_is_a_code_and_a_sentence(
    exc: BaseException, late: bool, expected: str
) -> None:
    got = send_failures.describe(exc, late=late, timeout_s=10)
    assert got == expected
    assert got.split(":", 1)[0] in send_failures.SENTENCES
    for fragment in ("receiver.internal", "10.1.2.3", "Errno", "_ssl.c", "/usr/"):
        assert fragment not in got


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        (url_guard.NOT_ALLOWED, "refused_target"),
        ("url has no host", "refused_target"),
        ("host hooks.receiver.internal does not resolve", "dns_failed"),
        ("host hooks.receiver.internal did not resolve in time", "dns_timeout"),
    ],
)
def test_a_refused_target_never_names_its_host(problem: str, expected: str) -> None:
    got = send_failures.refused(problem)
    assert got == send_failures.text(expected)
    assert "receiver.internal" not in got


def test_a_cycle_in_the_exception_chain_ends() -> None:
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    assert send_failures.code_of(a) == "send_failed"


@pytest.mark.parametrize("code", sorted(send_failures.SENTENCES))
def test_every_code_reads_as_code_colon_sentence(code: str) -> None:
    got = send_failures.text(code, timeout_s=10)
    assert got.startswith(f"{code}: ") and len(got) < 120
    assert "{" not in got and "Error" not in got
