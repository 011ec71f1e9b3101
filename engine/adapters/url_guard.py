"""Decide whether a webhook URL may be sent to, and to which vetted address.

A target is resolved once; every address it resolves to is vetted (loopback, private,
link-local, CGNAT, multicast, reserved, unspecified, and the IPv4 hidden inside
IPv4-mapped, NAT64 and 6to4 forms); the sender then connects to that vetted address and
never looks the name up again, so DNS rebinding has nothing to rebind. Cloud metadata
addresses stay refused even when private targets are allowed (tests and the demo).

Lookups go through `system_resolver`, a DNS client on the caller's thread with a deadline
(`dns_lookup`): a name that never answers costs its own caller the timeout and nothing
else, so one tenant's hanging names cannot starve other lookups in the process.

`check_url` and `resolve_target` never raise on any input: a problem is a string.
Problems never say what a name resolved to.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from engine.adapters.dns_lookup import DnsResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: A resolver: host and port to the addresses a connection could go to. Raises OSError
#: (or TimeoutError) when the name does not resolve.
Resolve = Callable[[str, int], Sequence[str]]

DEFAULT_DNS_TIMEOUT_S = 2.0
METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data", "metadata.azure.com"}
METADATA_IPS = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack…
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
}
NAT64 = ipaddress.ip_network("64:ff9b::/96")
NOT_ALLOWED = "url is not allowed: webhooks go to public hosts only"
#: Labels that an OS resolver would read as a number (decimal, octal 0…, hex 0x…).
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)

#: The only place brackets may be: around an IPv6 literal, before an optional port.
_BRACKETED = re.compile(r"^(?:[^@\[\]]*@)?\[[0-9a-fA-F:.]+\](?::[0-9]*)?$")


@dataclass(frozen=True)
class Target:
    """A URL taken apart, with the addresses it resolved to (all of them vetted)."""

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def system_resolver(timeout_s: float = DEFAULT_DNS_TIMEOUT_S) -> Resolve:
    """The hosts file, then DNS (resolv.conf's nameservers), given at most `timeout_s` per
    lookup (raises TimeoutError). Runs on the caller's thread and parks none: see
    `engine.adapters.dns_lookup` for why it is not getaddrinfo in a thread pool."""
    return DnsResolver(timeout_s)


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address a v6 form carries to (mapped, NAT64, 6to4), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def vet_address(ip: IPAddress, *, allow_private: bool) -> str | None:
    """Why a connection may not go to `ip`, or None when it may."""
    inner = _embedded_v4(ip)
    if ip in METADATA_IPS or (inner is not None and inner in METADATA_IPS):
        return "a cloud metadata address"
    if allow_private:
        return None
    if inner is not None:
        return vet_address(inner, allow_private=False)
    for attribute, words in (
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_private", "a private address"),
        ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"),
        ("is_unspecified", "an unspecified address"),
    ):
        if getattr(ip, attribute):
            return words
    if not ip.is_global:  # e.g. 100.64.0.0/10, shared carrier space, which is not "private"
        return "a non-public address"
    return None


def _split(url: object) -> tuple[str, str, int] | str:
    """(scheme, host, port) of a webhook URL, or the problem with it."""
    if not isinstance(url, str) or not url.strip():
        return "url is required"
    if len(url) > 2000:
        return "url must be at most 2000 characters"
    url = url.strip()
    if any(ord(c) < 33 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in url):
        return "url must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        scheme = parts.scheme
        host = parts.hostname
    except ValueError:
        return "url is malformed"
    if scheme not in ("http", "https"):
        return "url must start with http:// or https://"
    if not host:
        return "url has no host"
    if ("[" in parts.netloc or "]" in parts.netloc) and not _BRACKETED.match(parts.netloc):
        return "url is malformed"
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        return "url has an invalid port"
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is None:
        labels = host.rstrip(".").split(".")
        if all(_NUMERIC_LABEL.match(label) for label in labels):
            # 0x7f.1, 2130706433, 0010.0010.0010.0010: the OS reads these as addresses
            # that differ from what they seem. Only plain dotted quads are accepted.
            return "url host is not a valid address; write IPv4 as four plain decimal numbers"
        try:
            host.encode("idna").decode("idna")  # both ways: xn-- labels must decode
        except UnicodeError:
            return "url host is not a valid host name"
    return scheme, host, port


def resolve_target(
    url: object, *, allow_private: bool, resolve: Resolve, require_resolution: bool = True
) -> Target | str:
    """The vetted target of `url`, or the problem with it (never raises).

    With `require_resolution` off, a name that does not resolve is accepted with no
    addresses (registration while private targets are allowed: tests and the demo).
    """
    split = _split(url)
    if isinstance(split, str):
        return split
    scheme, host, port = split
    if host.lower().rstrip(".") in METADATA_HOSTS:
        return NOT_ALLOWED
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    try:
        found = [str(literal)] if literal is not None else list(resolve(host, port))
    except TimeoutError:
        if not require_resolution:
            return Target(scheme, host, port, ())
        return f"host {host} did not resolve in time"
    except (OSError, UnicodeError, ValueError):
        if not require_resolution:
            return Target(scheme, host, port, ())
        return f"host {host} does not resolve"
    if not found:
        return f"host {host} does not resolve"
    for address in found:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return NOT_ALLOWED
        if vet_address(ip, allow_private=allow_private):
            return NOT_ALLOWED
    return Target(scheme, host, port, tuple(found))


def check_url(
    url: object,
    *,
    allow_private: bool,
    resolve: Resolve | None = None,
) -> str | None:
    """Why `url` may not be a webhook target, or None when it may (never raises)."""
    target = resolve_target(
        url,
        allow_private=allow_private,
        resolve=resolve or system_resolver(),
        require_resolution=not allow_private,
    )
    return target if isinstance(target, str) else None
