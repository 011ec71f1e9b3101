"""Refuse webhook targets on private, loopback, link-local and metadata addresses.

Checked after DNS resolution, at registration and again before every send.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}
METADATA_IPS = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


def _forbidden(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip in METADATA_IPS:
        return "a cloud metadata address"
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


def check_url(url: str, *, allow_private: bool) -> str | None:
    """Why `url` may not be a webhook target, or None when it may."""
    if not isinstance(url, str) or not url.strip():
        return "url is required"
    if len(url) > 2000:
        return "url must be at most 2000 characters"
    if any(ord(c) < 33 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in url.strip()):
        return "url must not contain spaces or control characters"
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        return "url must start with http:// or https://"
    host = parts.hostname
    if not host:
        return "url has no host"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "url has an invalid port"
    if allow_private:
        return None
    if host.lower() in METADATA_HOSTS:
        return "url points at a cloud metadata service"
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return f"host {host} does not resolve"
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]
        reason = _forbidden(ipaddress.ip_address(address))
        if reason:
            return f"url resolves to {reason} ({address}); webhooks go to public hosts only"
    return None
