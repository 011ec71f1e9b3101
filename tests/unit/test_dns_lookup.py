"""The production resolver's answers that never touch the network: IP literals, the hosts
file, localhost; names that cannot be DNS names; and no resolv.conf at all."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.adapters import url_guard
from engine.adapters.dns_lookup import DnsResolver, read_hosts, read_resolv_conf


@pytest.fixture
def hosts(tmp_path: Path) -> Path:
    path = tmp_path / "hosts"
    path.write_text(
        "# comment\n"
        "127.0.0.1 localhost\n"
        "::1 localhost ip6-localhost  # trailing comment\n"
        "10.1.2.3 Internal.Example internal\n"
        "fe80::1%eth0 linklocal.example\n"
        "not-an-address broken.example\n"
        "10.1.2.4 internal.example.\n"
    )
    return path


@pytest.fixture
def silent() -> Iterator[int]:
    """The port of a nameserver that reads queries and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def resolver(hosts: Path, tmp_path: Path, silent: int) -> DnsResolver:
    # resolv.conf names a nameserver that never answers: any DNS query would time out
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.1\n")
    return DnsResolver(0.2, resolv_conf=conf, hosts=hosts, port=silent)


def test_the_hosts_file_is_read_as_the_os_reads_it(hosts: Path) -> None:
    table = read_hosts(hosts)
    assert table["localhost"] == ("127.0.0.1", "::1")
    assert table["internal.example"] == ("10.1.2.3", "10.1.2.4")
    assert table["internal"] == ("10.1.2.3",)
    assert table["linklocal.example"] == ("fe80::1",)
    assert "broken.example" not in table


def test_hosts_file_names_localhost_and_literals_never_ask_dns(resolver: DnsResolver) -> None:
    resolve = resolver
    started = time.monotonic()
    assert resolve("INTERNAL.example.", 443) == ["10.1.2.3", "10.1.2.4"]
    assert resolve("localhost", 80) == ["127.0.0.1", "::1"]
    assert resolve("api.localhost", 80) == ["127.0.0.1", "::1"]
    assert resolve("93.184.215.14", 80) == ["93.184.215.14"]
    assert resolve("::1", 80) == ["::1"]
    assert time.monotonic() - started < 0.1  # no query was sent (it would time out)


def test_a_hosts_file_entry_is_still_vetted(resolver: DnsResolver) -> None:
    resolve = resolver
    reason = url_guard.check_url("https://internal.example/", allow_private=False, resolve=resolve)
    assert reason == url_guard.NOT_ALLOWED


def test_the_hosts_file_is_read_again_when_it_changes(hosts: Path, resolver: DnsResolver) -> None:
    resolve = resolver
    assert resolve("internal", 80) == ["10.1.2.3"]
    hosts.write_text("10.9.9.9 internal other\n")
    assert resolve("internal", 80) == ["10.9.9.9"]


@pytest.mark.parametrize("name", ["a..b", "-" * 64 + ".example", "x" * 300])
def test_a_name_that_cannot_be_asked_is_an_os_error(resolver: DnsResolver, name: str) -> None:
    with pytest.raises(OSError):
        resolver(name, 443)


def test_a_name_dns_does_not_answer_times_out_at_the_deadline(resolver: DnsResolver) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        resolver("partner.example", 443)
    assert time.monotonic() - started < 0.6


def test_without_a_resolv_conf_the_nameserver_is_local_as_glibc_assumes(tmp_path: Path) -> None:
    assert read_resolv_conf(tmp_path / "missing").nameservers == ["127.0.0.1"]
    empty = tmp_path / "empty"
    empty.write_text("# nothing\n")
    assert read_resolv_conf(empty).nameservers == ["127.0.0.1"]


def test_the_system_resolver_is_the_dns_client_with_the_given_timeout() -> None:
    resolve = url_guard.system_resolver(1.5)
    assert isinstance(resolve, DnsResolver) and resolve.timeout_s == 1.5
