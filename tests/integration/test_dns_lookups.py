"""DNS lookups for webhook targets, through the production resolver and a real DNS server
on a real socket (`TinyDns`): a name whose nameserver never answers costs its own lookup
the timeout and nothing else.

Before: every lookup ran getaddrinfo in one shared pool of 16 threads, and getaddrinfo
cannot be cancelled, so 16 hanging lookups made every other lookup in the process fail
"did not resolve in time" (even `localhost`).
"""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.serve import ServerThread
from engine.adapters import url_guard
from engine.adapters.dns_lookup import DnsResolver
from engine.adapters.webhook_sender import WebhookSender
from engine.bootstrap import bootstrap
from engine.services import tenants
from tests.conftest import PARTNER, make_settings
from tests.integration.dns_server import TinyDns
from tests.integration.hostile import RawReceiver, answer

HANGING = 40  # lookups stuck at once (the old pool had 16 threads)
PUBLIC = "93.184.215.14"


@pytest.fixture
def server() -> Iterator[TinyDns]:
    answers = {"good.partner.test": "127.0.0.1", "public.partner.test": PUBLIC}
    late = {"late.partner.test": (3.0, PUBLIC)}
    with TinyDns(answers, silent="hang.test", late=late) as s:
        yield s


@pytest.fixture
def no_os_lookups(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every name getaddrinfo is asked for (the OS resolver, which parks threads)."""
    seen: list[object] = []
    real = socket.getaddrinfo

    def recording(host: object, *args: object, **kwargs: object) -> object:
        seen.append(host)
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    return seen


def hang(resolve: url_guard.Resolve, count: int) -> tuple[list[threading.Thread], list[object]]:
    """`count` lookups of names that never answer, in flight at once: distinct names (a
    tenant controls as many as it likes) and the same name over and over."""
    outcomes: list[object] = []

    def one(i: int) -> None:
        try:
            outcomes.append(resolve("same.hang.test" if i % 2 else f"h{i}.hang.test", 443))
        except Exception as e:
            outcomes.append(e)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    return threads, outcomes


def wait_until_stuck(server: TinyDns, count: int) -> None:
    deadline = time.monotonic() + 5
    while server.asked("hang.test") < count:
        assert time.monotonic() < deadline, f"only {server.asked('hang.test')} lookups began"
        time.sleep(0.01)


def test_hanging_lookups_do_not_starve_lookups_of_other_names(
    server: TinyDns, no_os_lookups: list[object]
) -> None:
    # Given the production resolver, with a 5 s timeout, asking our DNS server
    resolve = DnsResolver(5.0, nameservers=["127.0.0.1"], port=server.port)

    # And 40 lookups of names whose nameserver never answers, all stuck at once
    threads, outcomes = hang(resolve, HANGING)
    wait_until_stuck(server, HANGING)

    # When another tenant's names are looked up meanwhile
    good = resolve("good.partner.test", 443)
    public = resolve("public.partner.test", 443)
    local = resolve("localhost", 80)

    # Then they resolve while every hanging lookup is still in flight (starved, they
    # would have waited for those to time out)
    assert good == ["127.0.0.1"] and public == [PUBLIC] and "127.0.0.1" in local
    assert all(t.is_alive() for t in threads) and not outcomes
    # And the guard vets that answer (not "did not resolve in time")
    url = "https://public.partner.test/in"
    assert url_guard.check_url(url, allow_private=False, resolve=resolve) is None

    # And each hanging lookup ends at its own timeout, as a TimeoutError
    for t in threads:
        t.join(8)
    assert len(outcomes) == HANGING
    assert all(isinstance(o, TimeoutError) for o in outcomes), outcomes
    # And the OS resolver, which cannot be cancelled, was never asked for a name
    assert all(isinstance(h, str | bytes) and h[:1].isdigit() for h in no_os_lookups), no_os_lookups


def test_another_tenants_webhook_is_sent_while_hanging_lookups_are_stuck(
    server: TinyDns,
) -> None:
    # Given a worker's sender on the production resolver, a receiver on loopback
    # (private targets allowed, as in tests), and 40 hanging lookups through that sender
    resolve = DnsResolver(5.0, nameservers=["127.0.0.1"], port=server.port)
    sender = WebhookSender(5.0, allow_private=True, resolve=resolve)
    stuck: list[object] = []
    threads = [
        threading.Thread(
            target=lambda i=i: stuck.append(sender.post(f"https://h{i}.hang.test/in", b"{}", {})),
            daemon=True,
        )
        for i in range(HANGING)
    ]
    try:
        with RawReceiver(answer("200 OK", {}, b"ok")) as receiver:
            for t in threads:
                t.start()
            wait_until_stuck(server, HANGING)

            # When another tenant's webhook is sent meanwhile
            result = sender.post(f"http://good.partner.test:{receiver.port}/hook", b"{}", {})

            # Then it is delivered, while the hanging sends are still resolving
            assert result.ok and result.address == "127.0.0.1", result
            assert receiver.hits == 1
            assert not stuck
        for t in threads:
            t.join(8)
    finally:
        sender.close()

    # And each hanging send became a failed attempt saying the name did not resolve in time
    assert len(stuck) == HANGING
    assert all("did not resolve in time" in str(getattr(r, "error", "")) for r in stuck), stuck


@pytest.mark.parametrize("name", ["never.hang.test", "late.partner.test"])
def test_a_slow_lookup_is_cut_at_the_timeout(server: TinyDns, name: str) -> None:
    # Given the production resolver with a 0.5 s timeout and a nameserver that never
    # answers this name, or answers it after 3 s
    resolve = DnsResolver(0.5, nameservers=["127.0.0.1"], port=server.port)

    # When the name is looked up
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        resolve(name, 443)
    elapsed = time.monotonic() - started

    # Then the lookup gives up at the timeout, not at the answer or the OS's retries
    # (bounds far apart, so a loaded machine cannot blur them)
    assert 0.45 <= elapsed < 2.5, elapsed
    assert server.queries[name] >= 1


def test_the_timeout_wins_over_resolv_conf_and_the_guard_says_so(
    server: TinyDns, tmp_path: Path
) -> None:
    # Given resolv.conf naming our server with a 30 s per-try timeout, and a 0.5 s lookup
    # timeout (WEBHOOK_DNS_TIMEOUT_S)
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.1\noptions timeout:30 attempts:5\n")
    resolve = DnsResolver(0.5, resolv_conf=conf, hosts=tmp_path / "no-hosts", port=server.port)
    sender = WebhookSender(5.0, allow_private=False, resolve=resolve)

    # When a registration is checked, and a webhook sent, to a name that never answers
    started = time.monotonic()
    reason = url_guard.check_url("https://x.hang.test/in", allow_private=False, resolve=resolve)
    checked = time.monotonic() - started
    started = time.monotonic()
    try:
        result = sender.post("https://x.hang.test/in", b"{}", {})
    finally:
        sender.close()
    sent = time.monotonic() - started

    # Then each gives up at the lookup timeout, saying the host did not resolve in time
    assert reason is not None and "did not resolve in time" in reason
    assert result.error is not None and "did not resolve in time" in result.error
    assert checked < 2.5 and sent < 2.5, (checked, sent)  # not resolv.conf's 30 s
    # And a name the server does know resolves through the same configuration
    assert resolve("public.partner.test", 443) == [PUBLIC]


def test_a_name_that_does_not_exist_fails_at_once(server: TinyDns) -> None:
    resolve = DnsResolver(10.0, nameservers=["127.0.0.1"], port=server.port)
    started = time.monotonic()
    reason = url_guard.check_url("https://nowhere.test/", allow_private=False, resolve=resolve)
    assert reason is not None and "does not resolve" in reason
    assert time.monotonic() - started < 5.0  # the answer, not the 10 s timeout


def test_the_web_process_answers_other_tenants_while_registrations_hang(
    server: TinyDns, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the web process, public targets only, WEBHOOK_DNS_TIMEOUT_S = 5 s, and the
    # production resolver asking our DNS server. (Request threads are a separate limit,
    # WEB_THREADS: each hanging registration holds one for at most the DNS timeout; here
    # there are more threads than hanging registrations, so only DNS could starve.)
    asking = functools.partial(DnsResolver, nameservers=["127.0.0.1"], port=server.port)
    monkeypatch.setattr(url_guard, "DnsResolver", asking)
    settings = make_settings(
        pg_url,
        tmp_path,
        webhook_allow_private_targets=False,
        webhook_dns_timeout_s=5.0,
        web_threads=HANGING + 4,
    )
    app = bootstrap(settings)
    web = ServerThread(create_app(app)).start()
    try:
        hostile = tenants.create_tenant(app, name="Hostile", credits_cents=0).api_key
        other = tenants.create_tenant(app, name="Other", credits_cents=0).api_key
        answers: list[httpx.Response] = []

        def register(key: str, url: str) -> httpx.Response:
            with httpx.Client(base_url=web.url + PARTNER, timeout=30) as c:
                body = {"url": url, "events": ["*"]}
                return c.post("/webhooks", json=body, headers={"Authorization": f"Bearer {key}"})

        # And a tenant registering 40 names whose nameserver never answers, all at once
        threads = [
            threading.Thread(
                target=lambda i=i: answers.append(register(hostile, f"https://h{i}.hang.test/"))
            )
            for i in range(HANGING)
        ]
        for t in threads:
            t.start()
        wait_until_stuck(server, HANGING)

        # When another tenant registers a public endpoint, and the health check is asked
        created = register(other, "https://public.partner.test/in")
        health = httpx.get(web.url + "/healthz", timeout=5)

        # Then both answer while the hanging registrations are all still waiting (starved,
        # they would have waited for those to time out)
        assert created.status_code == 201, created.text
        assert health.status_code == 200
        assert not answers
        # And each hanging registration is refused at the timeout, saying so
        for t in threads:
            t.join(15)
        assert [r.status_code for r in answers] == [400] * HANGING
        assert all("did not resolve in time" in r.text for r in answers)
    finally:
        web.stop()
        app.close()
