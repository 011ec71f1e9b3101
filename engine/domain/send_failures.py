"""What a delivery log says about an attempt that got no answer: `code: sentence`.

Partners read delivery logs, so an attempt's error is one of a few stable codes with a
fixed sentence, never the exception's text (it names hosts, addresses, `_ssl.c` lines and
errno values); that goes to the worker's log with the delivery id, for operators.

Exceptions are classified by the names of their classes and of the exceptions they wrap
(`__cause__`, `__context__`), so this module imports no HTTP or TLS library.
"""

from __future__ import annotations

from collections.abc import Iterator

#: code -> the sentence shown after it.
SENTENCES: dict[str, str] = {
    "timeout": "no complete answer within {timeout_s:g} s",
    "dns_failed": "the host name did not resolve",
    "dns_timeout": "the host name did not resolve in time",
    "refused_target": "the URL is not allowed (webhooks go to public hosts only)",
    "connect_failed": "the connection was refused, reset or could not be made",
    "tls_failed": "the TLS handshake failed (certificate or protocol)",
    "connection_lost": "the connection closed before a complete answer",
    "protocol_error": "the answer was not valid HTTP",
    "too_many_redirects": "the receiver redirected too many times",
    "send_failed": "the attempt failed before an answer arrived",
    # Ours, not the receiver's (for `deliveries` to record; see `text`):
    "internal_error": "we could not send or record this attempt; our team has been told",
    "attempt_lost": "the attempt did not finish (its worker stopped or was lost)",
}

#: (code, class names that mean it), most specific first: a TLS error arrives wrapped in
#: a connect error, and a timeout anywhere in the chain is a timeout.
_ANYWHERE: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "timeout",
        frozenset(
            {"TimeoutException", "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout"}
            | {"TimeoutError", "timeout"}
        ),
    ),
    (
        "tls_failed",
        frozenset({"SSLError", "SSLCertVerificationError", "SSLEOFError", "SSLZeroReturnError"}),
    ),
)
#: Looked up from the outermost exception inwards; the first match wins.
_OUTERMOST: tuple[tuple[str, frozenset[str]], ...] = (
    ("too_many_redirects", frozenset({"TooManyRedirects"})),
    ("refused_target", frozenset({"UnsupportedProtocol", "InvalidURL"})),
    (
        "protocol_error",
        frozenset({"ProtocolError", "RemoteProtocolError", "LocalProtocolError", "DecodingError"}),
    ),
    ("dns_failed", frozenset({"gaierror"})),
    ("connect_failed", frozenset({"ConnectError", "ConnectionRefusedError"})),
    (
        "connection_lost",
        frozenset(
            {"ReadError", "WriteError", "CloseError", "ConnectionResetError", "BrokenPipeError"}
            | {"ConnectionAbortedError", "IncompleteRead"}
        ),
    ),
)


def text(code: str, *, timeout_s: float = 0) -> str:
    """`code: sentence`, as stored in a delivery log."""
    return f"{code}: {SENTENCES[code].format(timeout_s=timeout_s)}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _names(exc: BaseException) -> set[str]:
    return {kind.__name__ for kind in type(exc).__mro__}


def code_of(exc: BaseException, *, late: bool = False) -> str:
    """The code for an attempt that raised `exc`; `late` when its deadline had passed."""
    chain = list(_chain(exc))
    if late:
        return "timeout"
    for code, names in _ANYWHERE:
        if any(_names(e) & names for e in chain):
            return code
    for e in chain:
        for code, names in _OUTERMOST:
            if _names(e) & names:
                return code
    return "send_failed"


def describe(exc: BaseException, *, late: bool, timeout_s: float) -> str:
    """The delivery log's error for an attempt that raised `exc` (pure)."""
    return text(code_of(exc, late=late), timeout_s=timeout_s)


def refused(problem: str) -> str:
    """The delivery log's error for a URL the guard refused with `problem` (not shown: it
    may name the host)."""
    if "resolve in time" in problem:
        return text("dns_timeout")
    resolving = "did not resolve" in problem or "does not resolve" in problem
    return text("dns_failed" if resolving else "refused_target")
