"""The URL guard: every address category, the v6 forms that hide a v4 address, metadata
even when private targets are allowed, odd IP literals, malformed URLs, and messages that
never say what a name resolved to."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from engine.adapters import url_guard

REFUSED_ADDRESSES = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.0.10", "private"),
    ("169.254.1.1", "link-local"),
    ("100.64.0.1", "CGNAT"),
    ("100.127.255.254", "CGNAT"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("0.0.0.0", "unspecified"),
    ("169.254.169.254", "metadata"),
    ("::1", "v6 loopback"),
    ("::", "v6 unspecified"),
    ("fe80::1", "v6 link-local"),
    ("fc00::1", "v6 unique local"),
    ("ff02::1", "v6 multicast"),
    ("fd00:ec2::254", "v6 metadata"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:10.0.0.1", "IPv4-mapped private"),
    ("::ffff:169.254.169.254", "IPv4-mapped metadata"),
    ("64:ff9b::7f00:1", "NAT64 of 127.0.0.1"),
    ("64:ff9b::a00:1", "NAT64 of 10.0.0.1"),
    ("64:ff9b::a9fe:a9fe", "NAT64 of metadata"),
    ("2002:7f00:1::", "6to4 of 127.0.0.1"),
    ("2002:c0a8:1::1", "6to4 of 192.168.0.1"),
    ("2002:a9fe:a9fe::", "6to4 of metadata"),
]
PUBLIC_ADDRESSES = ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "64:ff9b::808:808"]
METADATA = [
    "169.254.169.254",
    "fd00:ec2::254",
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",  # NAT64
    "2002:a9fe:a9fe::",  # 6to4
]


def answering(*addresses: str) -> url_guard.Resolve:
    """A resolver (the guard's port) that answers these addresses for any name."""

    def resolve(host: str, port: int) -> Sequence[str]:
        return list(addresses)

    return resolve


def literal(address: str) -> str:
    return f"http://[{address}]/hook" if ":" in address else f"http://{address}/hook"


@pytest.mark.parametrize(("address", "category"), REFUSED_ADDRESSES)
def test_every_non_public_category_is_refused_as_a_literal(address: str, category: str) -> None:
    # Given private targets are not allowed
    # When a URL on such a literal address is checked
    reason = url_guard.check_url(literal(address), allow_private=False)

    # Then it is refused as not public, naming neither the address nor its category
    assert reason == url_guard.NOT_ALLOWED, category


@pytest.mark.parametrize(("address", "category"), REFUSED_ADDRESSES)
def test_every_non_public_category_is_refused_when_a_name_resolves_to_it(
    address: str, category: str
) -> None:
    # Given a name that resolves to a public address and to this one
    resolve = answering("93.184.215.14", address)

    # When it is checked
    reason = url_guard.check_url(
        "https://hooks.partner.test/in", allow_private=False, resolve=resolve
    )

    # Then it is refused, without saying what the name resolved to
    assert reason == url_guard.NOT_ALLOWED, category
    assert address not in reason and "93.184" not in reason


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_pass(address: str) -> None:
    assert url_guard.check_url(literal(address), allow_private=False) is None
    name = "https://hooks.partner.test/in"
    assert url_guard.check_url(name, allow_private=False, resolve=answering(address)) is None


@pytest.mark.parametrize("address", METADATA)
def test_metadata_addresses_stay_refused_when_private_targets_are_allowed(address: str) -> None:
    # Given private targets are allowed (tests and the demo)
    # When a metadata address is the target, written out or behind a name
    # Then it is still refused as not public
    assert url_guard.check_url(literal(address), allow_private=True) == url_guard.NOT_ALLOWED
    name = "http://innocent.partner.test/"
    refused = url_guard.check_url(name, allow_private=True, resolve=answering(address))
    assert refused == url_guard.NOT_ALLOWED


def test_metadata_host_names_stay_refused_when_private_targets_are_allowed() -> None:
    url = "http://metadata.google.internal/computeMetadata/v1/"
    assert url_guard.check_url(url, allow_private=True) == url_guard.NOT_ALLOWED


def test_allowing_private_targets_lets_loopback_through() -> None:
    assert url_guard.check_url("http://127.0.0.1:8080/hook", allow_private=True) is None
    assert url_guard.check_url("http://[::1]/hook", allow_private=True) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://0010.0010.0010.0010/",  # octal: 8.8.8.8 to the OS
        "http://0x7f.1/",  # 127.0.0.1 to the OS
        "http://2130706433/",  # 127.0.0.1 to the OS
        "http://0x7f000001/",
        "http://017700000001/",
        "http://127.1/",
        "http://127.0.0.01/",
        "http://1.2.3.4.5/",
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_odd_ip_literals_are_refused(url: str, allow_private: bool) -> None:
    # Given any setting, and a resolver that would call them public
    resolve = answering("93.184.215.14")

    # When a URL whose host the OS would read as a number in another form is checked
    reason = url_guard.check_url(url, allow_private=allow_private, resolve=resolve)

    # Then it is refused, saying why
    assert reason is not None and "address" in reason


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1/",
        "http://[::1]]/",
        "http://[zzzz::1]/",
        "http://[]/",
        "https://exa mple.com/",
        "http://example.com:99999/",
        "http://example.com:-1/",
        "http://example.com:abc/",
        "http://\x00/",
        "http://\ud800/",
        "http://xn--/",
        "http://" + "a" * 300 + ".com/",
        "http://" + "a" * 2001,
        "http:///path",
        "http://@/",
        "",
        "   ",
        "\n",
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_malformed_urls_never_raise_and_are_refused(url: str, allow_private: bool) -> None:
    # When a malformed URL is checked (with a resolver that answers anything public)
    reason = url_guard.check_url(url, allow_private=allow_private, resolve=answering("8.8.8.8"))

    # Then it is a problem to report, not an exception
    assert isinstance(reason, str) and reason


@pytest.mark.parametrize("value", [None, 42, b"http://x/", ["http://x/"]])
def test_non_strings_are_refused(value: object) -> None:
    assert url_guard.check_url(value, allow_private=True) == "url is required"


def test_a_name_that_does_not_resolve_is_refused_without_private_targets() -> None:
    def nothing(host: str, port: int) -> Sequence[str]:
        raise OSError("no such name")

    assert url_guard.check_url("https://nowhere.test/", allow_private=False, resolve=nothing)


def test_a_lookup_that_outlives_its_timeout_is_refused_saying_so() -> None:
    # Given a resolver that gives up (the system resolver raises TimeoutError after
    # WEBHOOK_DNS_TIMEOUT_S)
    def slow(host: str, port: int) -> Sequence[str]:
        raise TimeoutError("lookup took too long")

    # When a name is checked, Then it is refused, saying so
    reason = url_guard.check_url("https://slow.test/", allow_private=False, resolve=slow)
    assert reason is not None and "in time" in reason
