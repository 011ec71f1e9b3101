"""Name lookups for webhook targets that one tenant's hanging names cannot starve.

Why not the OS resolver in a thread pool (what this replaced): `getaddrinfo` cannot be
cancelled. A lookup that outlives its timeout keeps its thread until the OS gives up
(resolv.conf's timeout, attempts and search domains: tens of seconds), so a tenant
that registers or sends to names whose nameserver never answers fills any shared pool,
and every other lookup in the process then fails "did not resolve in time": other tenants'
registrations in the web process, other tenants' sends in the workers (failed attempts
that count toward deactivating their endpoints).

Design: a DNS client (dnspython) on the caller's own thread. A lookup asks for A, then
AAAA, under one deadline (the lookup timeout); dnspython gives each query at most the
time left and closes its socket when it is over. So a lookup holds its caller for at most
the timeout and holds nothing once it returns: no pool, no thread left parked, no shared
limit for anyone's names to fill. Lookups of different names, or of the same name, are
independent sockets. In the web process the routes that check URLs are sync routes, run
on the server's thread pool, never on the event loop; a registration whose name hangs
still holds its request thread (one of WEB_THREADS) for up to the timeout, no longer.

Rejected alternative: at most k in-flight lookups per name over a thread per lookup. A
hostile tenant controls unlimited names (`<anything>.their-domain.example` hanging at
their own nameserver), so a per-name cap does not bound the parked threads, and a
per-tenant cap needs the tenant at the resolver; threads would still be parked for as
long as the OS takes.

Names answered without DNS, as the OS would: the hosts file (re-read when it changes) and
`localhost` / `*.localhost` (RFC 6761, loopback). IP literals are returned as they are.

Where this differs from getaddrinfo, on purpose:
- Only the hosts file and DNS are consulted (no mDNS, LDAP or nss-myhostname sources).
- Search domains are not applied: a webhook URL names its host absolutely.
- IPv4 answers come before IPv6 (the sender connects to the first address, and many
  containers have no IPv6 route). If AAAA runs out of time after A answered, the A
  answers are used.
- With no usable resolv.conf, the nameserver is 127.0.0.1, as glibc assumes.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

RESOLV_CONF = Path("/etc/resolv.conf")
HOSTS = Path("/etc/hosts")
#: A hosts file larger than this is ignored rather than parsed on a lookup's time.
_HOSTS_MAX_BYTES = 4 * 1024 * 1024
_LOOPBACK = ("127.0.0.1", "::1")


T = TypeVar("T")


class _Cached(Generic[T]):
    """A value derived from a file, derived again when the file's mtime or size changes."""

    def __init__(self, derive: Callable[[Path], T]) -> None:
        self._derive = derive
        self._lock = threading.Lock()
        self._seen: dict[Path, tuple[tuple[int, int] | None, T]] = {}

    def get(self, path: Path) -> T:
        try:
            st = path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        with self._lock:
            seen = self._seen.get(path)
        if seen is not None and seen[0] == stamp:
            return seen[1]
        value = self._derive(path)
        with self._lock:
            self._seen[path] = (stamp, value)
        return value


def read_hosts(path: Path) -> dict[str, tuple[str, ...]]:
    """Name (lower case, no trailing dot) to its addresses, in file order."""
    found: dict[str, list[str]] = {}
    try:
        if path.stat().st_size > _HOSTS_MAX_BYTES:
            return {}
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        address = fields[0].split("%", 1)[0]
        try:
            ipaddress.ip_address(address)
        except ValueError:
            continue
        for name in fields[1:]:
            kept = found.setdefault(name.lower().rstrip("."), [])
            if address not in kept:
                kept.append(address)
    return {name: tuple(addresses) for name, addresses in found.items()}


def read_resolv_conf(path: Path) -> dns.resolver.Resolver:
    """A stub resolver configured from `path` (127.0.0.1 when it has no nameserver)."""
    try:
        resolver = dns.resolver.Resolver(filename=str(path), configure=True)
    except (dns.exception.DNSException, OSError, ValueError):
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
    resolver.cache = None  # one resolution per attempt: never an answer from before
    return resolver


_hosts_cache = _Cached(read_hosts)
_resolv_cache = _Cached(read_resolv_conf)


class DnsResolver:
    """The guard's resolver port (`url_guard.Resolve`): host and port to addresses.

    Raises TimeoutError when the deadline (`timeout_s` from the call) passes first, and
    OSError when the name does not resolve. `nameservers` and `port` replace what
    resolv.conf says (tests point them at a server of their own).
    """

    def __init__(
        self,
        timeout_s: float,
        *,
        resolv_conf: Path = RESOLV_CONF,
        hosts: Path = HOSTS,
        nameservers: list[str] | None = None,
        port: int = 53,
    ) -> None:
        self.timeout_s = timeout_s
        self.resolv_conf = resolv_conf
        self.hosts = hosts
        self._own: dns.resolver.Resolver | None = None
        if nameservers is not None or port != 53:
            self._own = read_resolv_conf(resolv_conf)
            self._own.port = port
            if nameservers is not None:
                self._own.nameservers = list(nameservers)

    def _stub(self) -> dns.resolver.Resolver:
        return self._own if self._own is not None else _resolv_cache.get(self.resolv_conf)

    def __call__(self, host: str, port: int) -> list[str]:
        deadline = time.monotonic() + self.timeout_s
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        name = host.lower().rstrip(".")
        if not name:
            raise OSError("empty host name")
        local = _hosts_cache.get(self.hosts)
        if name in local:
            return list(local[name])
        if name == "localhost" or name.endswith(".localhost"):
            return list(_LOOPBACK)
        try:
            qname = dns.name.from_text(name.encode("idna").decode("ascii"), dns.name.root)
        except (UnicodeError, dns.exception.DNSException) as e:
            raise OSError(f"{host} is not a valid DNS name") from e
        return self._ask(self._stub(), qname, host, deadline)

    def _ask(
        self, stub: dns.resolver.Resolver, qname: dns.name.Name, host: str, deadline: float
    ) -> list[str]:
        found: list[str] = []
        timed_out = False
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            try:
                answer = stub.resolve(
                    qname, rdtype, search=False, raise_on_no_answer=False, lifetime=left
                )
            except dns.resolver.NXDOMAIN as e:
                raise OSError(f"{host} does not exist") from e
            except dns.exception.Timeout:
                timed_out = True
                break
            except dns.exception.DNSException:
                continue  # SERVFAIL, refused, a bad answer: this type gave nothing
            if answer.rrset is not None:
                found.extend(str(rdata.address).split("%", 1)[0] for rdata in answer.rrset)
        if found:
            return found
        if timed_out:
            raise TimeoutError(f"lookup of {host} took longer than {self.timeout_s:g} s")
        raise OSError(f"{host} has no addresses")
