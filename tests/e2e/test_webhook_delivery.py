"""Webhook delivery against real processes: retries on schedule, timeouts, 410, deactivation
after N consecutive failed attempts, retry / reactivate / resend, and secret rotation. Every
attempt a local receiver sees must match what GET /webhook-logs says was attempted."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from engine.domain import signing
from tests.conftest import MakeTenant, order_body
from tests.e2e.harness import Deployment, Received, Receiver, wait_until

Answer = int | tuple[int, dict[str, str], float]


class Script:
    """A receiver's answers in order (then `then` forever); remembers every status given."""

    def __init__(self, *answers: Answer, then: Answer = 200) -> None:
        self.answers = list(answers)
        self.then = then
        self.statuses: list[int] = []

    def __call__(self, n: int) -> Answer:
        answer = self.answers[n - 1] if n <= len(self.answers) else self.then
        self.statuses.append(answer if isinstance(answer, int) else answer[0])
        return answer


@contextmanager
def deployed(pg_url: str, tmp_path: Path, **env: str) -> Iterator[Deployment]:
    """A deployment with extra environment, always stopped."""
    d = Deployment(pg_url, tmp_path, **env)
    try:
        d.start_all()
        yield d
    finally:
        d.stop()


def register(c: httpx.Client, url: str, events: list[str] | None = None) -> tuple[str, str]:
    """A new endpoint: (id, secret)."""
    r = c.post("/webhooks", json={"url": url, "events": events or ["order.confirmed"]})
    assert r.status_code == 201, r.text
    hook = r.json()["webhook"]
    return hook["id"], hook["secret"]


def place_order(c: httpx.Client) -> str:
    r = c.post("/orders", json=order_body(1))
    assert r.status_code == 201, r.text
    return str(r.json()["order"]["id"])


def wait_processing(c: httpx.Client, order_id: str) -> None:
    wait_until(
        lambda: c.get(f"/orders/{order_id}").json()["order"]["status"] == "processing",
        what=f"order {order_id} processing",
    )


def deliveries_of(c: httpx.Client, hook_id: str, **params: str) -> list[dict[str, Any]]:
    """The endpoint's deliveries as GET /webhook-logs shows them (newest first)."""
    r = c.get("/webhook-logs", params={"webhook_id": hook_id, **params})
    assert r.status_code == 200, r.text
    return list(r.json()["deliveries"])


def log_of(c: httpx.Client, delivery_id: str) -> dict[str, Any]:
    r = c.get(f"/webhook-logs/{delivery_id}")
    assert r.status_code == 200, r.text
    return dict(r.json()["delivery"])


def wait_delivery(c: httpx.Client, delivery_id: str, status: str, timeout_s: float = 30) -> None:
    wait_until(
        lambda: log_of(c, delivery_id)["status"] == status,
        timeout_s=timeout_s,
        what=f"delivery {delivery_id} {status}",
    )


def only_delivery_for(c: httpx.Client, hook_id: str, order_id: str) -> dict[str, Any]:
    """The single delivery of `order_id`'s event to the endpoint, once it exists."""
    found: list[dict[str, Any]] = []

    def exists() -> bool:
        found[:] = deliveries_of(c, hook_id, order_id=order_id)
        return bool(found)

    wait_until(exists, what=f"a delivery for order {order_id}")
    assert len(found) == 1, found
    return found[0]


def webhook(c: httpx.Client, hook_id: str) -> dict[str, Any]:
    r = c.get(f"/webhooks/{hook_id}")
    assert r.status_code == 200, r.text
    return dict(r.json()["webhook"])


def statuses(delivery: dict[str, Any]) -> list[int | None]:
    return [a["response_status"] for a in delivery["attempt_log"]]


def verifies(secret: str, got: Received) -> bool:
    try:
        Webhook(secret).verify(got.body, got.headers)
    except WebhookVerificationError:
        return False
    return True


def test_three_failures_then_success_is_four_identical_attempts_logged_as_seen(
    pg_url: str, tmp_path: Path, receiver: Receiver, make_tenant: MakeTenant
) -> None:
    # Given a receiver that answers 500 three times, then 200, and deactivation only after
    # 4 failed attempts in a row (at the default 3, the third failure would deactivate it)
    script = Script(500, 500, 500)
    receiver.respond = script
    t = make_tenant()
    env = {"WEBHOOK_MAX_CONSECUTIVE_FAILURES": "4"}
    with deployed(pg_url, tmp_path, **env) as d, d.client(t.key) as c:
        hook_id, secret = register(c, receiver.url)

        # When an order is confirmed
        order_id = place_order(c)
        delivery = only_delivery_for(c, hook_id, order_id)
        wait_delivery(c, delivery["id"], "succeeded")
        time.sleep(1.5)  # long enough for a (wrong) further retry to show up

        # Then the receiver saw exactly four attempts of one delivery
        got = list(receiver.received)
        assert len(got) == 4
        assert script.statuses == [500, 500, 500, 200]
        assert {g.headers["webhook-id"] for g in got} == {delivery["id"]}
        assert len({g.body for g in got}) == 1
        body = got[0].json
        assert body["id"] == delivery["event_id"]
        assert body["event"] == "order.confirmed"
        assert body["data"]["order_id"] == order_id
        assert all(verifies(secret, g) for g in got)
        # And the event id is the one the events feed shows for that order
        feed = c.get("/events", params={"order_id": order_id}).json()["events"]
        assert [e["id"] for e in feed if e["event"] == "order.confirmed"] == [body["id"]]

        # And the log says the same, attempt by attempt
        logged = deliveries_of(c, hook_id)
        assert [d["id"] for d in logged] == [delivery["id"]]
        entry = logged[0]
        assert entry["status"] == "succeeded"
        assert entry["attempts"] == 4
        assert entry["response_status"] == 200
        assert entry["delivered_at"] is not None
        assert statuses(entry) == script.statuses
        assert [a["number"] for a in entry["attempt_log"]] == [1, 2, 3, 4]
        for attempt in entry["attempt_log"]:
            assert attempt["response_body"] == "ok"
            assert attempt["error"] is None
            assert isinstance(attempt["latency_ms"], int) and attempt["latency_ms"] >= 0
        # And the filters find it where it belongs
        assert [d["id"] for d in deliveries_of(c, hook_id, status="succeeded")] == [entry["id"]]
        assert deliveries_of(c, hook_id, status="failed") == []
        assert len(deliveries_of(c, hook_id, event="order.confirmed")) == 1
        assert deliveries_of(c, hook_id, event="order.cancelled") == []
        # And a success leaves the endpoint healthy
        assert webhook(c, hook_id)["failure_count"] == 0


def test_a_receiver_that_times_out_is_logged_with_an_error_and_retried(
    pg_url: str, tmp_path: Path, receiver: Receiver, make_tenant: MakeTenant
) -> None:
    # Given a 1 s webhook timeout and a receiver that takes 3 s over its first answer
    script = Script((200, {}, 3.0))
    receiver.respond = script
    t = make_tenant()
    with deployed(pg_url, tmp_path, WEBHOOK_TIMEOUT_S="1") as d, d.client(t.key) as c:
        hook_id, _ = register(c, receiver.url)

        # When an order is confirmed
        order_id = place_order(c)
        delivery = only_delivery_for(c, hook_id, order_id)
        wait_delivery(c, delivery["id"], "succeeded")

        # Then the first attempt is logged as a timeout error, the second as a success
        entry = log_of(c, delivery["id"])
    assert entry["attempts"] == 2
    first, second = entry["attempt_log"]
    assert first["response_status"] is None
    assert first["error"] and "timeout" in first["error"].lower(), first
    assert 900 <= first["latency_ms"] < 3000, first
    assert second["response_status"] == 200 and second["error"] is None
    # And the receiver saw both attempts of the one delivery
    assert len(receiver.received) == 2
    assert {g.headers["webhook-id"] for g in receiver.received} == {delivery["id"]}


def test_410_deactivates_at_once_and_reactivate_replays_the_failed_delivery(
    deployment: Deployment, receiver: Receiver, make_tenant: MakeTenant
) -> None:
    # Given a receiver that answers 410 Gone (and would answer 200 afterwards)
    receiver.respond = Script(410)
    t = make_tenant()
    with deployment.client(t.key) as c:
        hook_id, _ = register(c, receiver.url)

        # When an order is confirmed
        order_id = place_order(c)
        delivery = only_delivery_for(c, hook_id, order_id)
        wait_delivery(c, delivery["id"], "failed")

        # Then the endpoint is deactivated after that single attempt
        hook = webhook(c, hook_id)
        assert hook["is_active"] is False
        assert "410" in (hook["deactivated_reason"] or ""), hook
        entry = log_of(c, delivery["id"])
        assert entry["attempts"] == 1
        assert statuses(entry) == [410]

        # And later events send nothing more to it, not even retries
        later = place_order(c)
        wait_processing(c, later)
        time.sleep(3)  # three retry delays of the 1 s schedule
        assert len(receiver.received) == 1
        assert [d["id"] for d in deliveries_of(c, hook_id)] == [delivery["id"]]

        # And a retry is refused while it is deactivated
        refused = c.post(f"/webhook-logs/{delivery['id']}/retry")
        assert refused.status_code == 409, refused.text

        # When the partner reactivates it (replaying what it missed, the default)
        r = c.post(f"/webhooks/{hook_id}/reactivate")
        assert r.status_code == 200, r.text
        # (the failed delivery, and the later order's event fanned out while it was off)
        assert r.json()["replayed_deliveries"] == 2
        assert r.json()["webhook"]["is_active"] is True

        # Then the failed delivery arrives again, with the same webhook-id, and succeeds
        wait_delivery(c, delivery["id"], "succeeded")
        entry = log_of(c, delivery["id"])
        # And the missed event arrives too, once, as a delivery of its own
        wait_until(lambda: len(receiver.received) == 3, what="the missed event delivered")
        missed = [d for d in deliveries_of(c, hook_id) if d["id"] != delivery["id"]]
    again = [r for r in receiver.received[1:] if r.headers["webhook-id"] == delivery["id"]]
    assert len(again) == 1 and again[0].body == receiver.received[0].body
    assert statuses(entry) == [410, 200]
    assert len(missed) == 1 and missed[0]["id"] != delivery["id"]
    assert {r.headers["webhook-id"] for r in receiver.received[1:]} == {
        delivery["id"],
        missed[0]["id"],
    }


def test_always_failing_endpoint_is_deactivated_after_n_failed_attempts(
    pg_url: str, tmp_path: Path, receiver: Receiver, make_tenant: MakeTenant
) -> None:
    # Given deactivation after 3 failed attempts in a row (reference 000: attempts, not
    # deliveries), a schedule that would allow 4 attempts, retries at once, and a receiver
    # that always answers 500
    receiver.respond = Script(then=500)
    t = make_tenant()
    env = {"WEBHOOK_MAX_CONSECUTIVE_FAILURES": "3", "WEBHOOK_RETRY_SCHEDULE_S": "0,0,0"}
    with (
        deployed(pg_url, tmp_path, **env) as d,
        d.client(t.key) as c,
    ):
        hook_id, _ = register(c, receiver.url)

        # When an order's delivery fails
        first = only_delivery_for(c, hook_id, place_order(c))
        wait_delivery(c, first["id"], "failed")

        # Then the endpoint is deactivated after 3 attempts, and the delivery failed with it
        hook = webhook(c, hook_id)
        assert hook["is_active"] is False, hook
        assert hook["failure_count"] == 3
        assert "3 consecutive failed attempts" in (hook["deactivated_reason"] or ""), hook
        assert len(receiver.received) == 3
        assert {g.headers["webhook-id"] for g in receiver.received} == {first["id"]}
        entry = log_of(c, first["id"])
        assert entry["attempts"] == 3
        assert statuses(entry) == [500, 500, 500]

        # And a second order's confirmation never reaches it
        second = place_order(c)
        wait_processing(c, second)
        time.sleep(2)
        assert len(receiver.received) == 3
        assert deliveries_of(c, hook_id, order_id=second) == []


def test_retry_sends_a_failed_delivery_once_more_after_reactivation_without_replay(
    pg_url: str, tmp_path: Path, receiver: Receiver, make_tenant: MakeTenant
) -> None:
    # Given deactivation after 4 failed attempts, retries at once (4 attempts in all), and a
    # receiver that fails 4 times, then works
    script = Script(500, 500, 500, 500)
    receiver.respond = script
    t = make_tenant()
    env = {"WEBHOOK_MAX_CONSECUTIVE_FAILURES": "4", "WEBHOOK_RETRY_SCHEDULE_S": "0,0,0"}
    with (
        deployed(pg_url, tmp_path, **env) as d,
        d.client(t.key) as c,
    ):
        hook_id, _ = register(c, receiver.url)
        delivery = only_delivery_for(c, hook_id, place_order(c))
        wait_delivery(c, delivery["id"], "failed")
        assert webhook(c, hook_id)["is_active"] is False
        assert len(receiver.received) == 4

        # When the partner reactivates the endpoint without replay
        r = c.post(f"/webhooks/{hook_id}/reactivate", params={"replay": "false"})
        assert r.status_code == 200, r.text
        assert r.json()["replayed_deliveries"] == 0
        assert r.json()["webhook"]["is_active"] is True
        assert r.json()["webhook"]["failure_count"] == 0

        # Then nothing is sent by itself
        time.sleep(2)
        assert len(receiver.received) == 4
        assert log_of(c, delivery["id"])["status"] == "failed"

        # When the partner retries the failed delivery
        retried = c.post(f"/webhook-logs/{delivery['id']}/retry")
        assert retried.status_code == 200, retried.text
        assert retried.json()["delivery"]["id"] == delivery["id"]

        # Then it is sent once more, as the same delivery, and succeeds
        wait_delivery(c, delivery["id"], "succeeded")
        time.sleep(1)
        entry = log_of(c, delivery["id"])
        assert len(receiver.received) == 5
        last = receiver.received[-1]
        assert last.headers["webhook-id"] == delivery["id"]
        assert last.body == receiver.received[0].body
        assert entry["attempts"] == 5
        assert statuses(entry) == script.statuses == [500, 500, 500, 500, 200]

        # And a succeeded delivery cannot be retried; an unknown one does not exist
        again = c.post(f"/webhook-logs/{delivery['id']}/retry")
        assert again.status_code == 409, again.text
        assert again.json()["error"] == "conflict"
        unknown = c.post("/webhook-logs/00000000-0000-4000-8000-000000000000/retry")
        assert unknown.status_code == 404, unknown.text
    assert len(receiver.received) == 5


def test_resend_makes_a_new_delivery_of_the_same_event(
    deployment: Deployment, receiver: Receiver, make_tenant: MakeTenant
) -> None:
    # Given an order whose confirmation was delivered
    t = make_tenant()
    with deployment.client(t.key) as c:
        hook_id, secret = register(c, receiver.url)
        order_id = place_order(c)
        original = only_delivery_for(c, hook_id, order_id)
        wait_delivery(c, original["id"], "succeeded")

        # When the partner asks for that event again
        r = c.post("/webhooks/resend", json={"order_id": order_id, "event": "order.confirmed"})
        assert r.status_code == 201, r.text
        made = r.json()["deliveries"]

        # Then one new delivery of the same event is made and arrives with a new webhook-id
        assert len(made) == 1
        new = made[0]
        assert new["id"] != original["id"]
        assert new["event_id"] == original["event_id"]
        assert new["webhook_id"] == hook_id
        wait_delivery(c, new["id"], "succeeded")
        assert {d["id"] for d in deliveries_of(c, hook_id, order_id=order_id)} == {
            original["id"],
            new["id"],
        }

        # And an unknown order is 404, a bad event 400 naming the field
        unknown = c.post(
            "/webhooks/resend",
            json={"order_id": "00000000-0000-4000-8000-000000000000", "event": "order.confirmed"},
        )
        assert unknown.status_code == 404, unknown.text
        assert unknown.json()["error"] == "not_found"
        bad = c.post("/webhooks/resend", json={"order_id": order_id, "event": "order.exploded"})
        assert bad.status_code == 400, bad.text
        assert bad.json()["error"] == "validation_error"
        assert [p["field"] for p in bad.json()["details"]] == ["event"]
    first, second = receiver.received
    assert first.headers["webhook-id"] == original["id"]
    assert second.headers["webhook-id"] == new["id"]
    assert second.json["id"] == first.json["id"] == original["event_id"]
    assert second.body == first.body
    assert verifies(secret, second)


def test_after_rotation_both_secrets_verify_and_x_signature_uses_the_new_one(
    deployment: Deployment, receiver: Receiver, make_tenant: MakeTenant
) -> None:
    # Given an endpoint whose first delivery was signed with its original secret
    t = make_tenant()
    with deployment.client(t.key) as c:
        hook_id, old = register(c, receiver.url)
        place_order(c)
        wait_until(lambda: len(receiver.received) == 1, what="first delivery")

        # When the partner rotates the secret and another order is confirmed
        r = c.post(f"/webhooks/{hook_id}/rotate-secret")
        assert r.status_code == 200, r.text
        new = r.json()["webhook"]["secret"]
        assert new.startswith("whsec_") and new != old
        assert "secret" not in webhook(c, hook_id)
        place_order(c)
        wait_until(lambda: len(receiver.received) == 2, what="second delivery")

    before, after = receiver.received
    # Then the delivery before rotation verifies with the old secret only
    assert verifies(old, before) and not verifies(new, before)
    # And the one after verifies with the new secret and, in the overlap, the old one
    assert verifies(new, after)
    assert verifies(old, after)
    assert len(after.headers["webhook-signature"].split(" ")) == 2
    # And X-Signature-256 is the HMAC of the body under the new secret
    expected = hmac.new(signing.key_bytes(new), after.body, hashlib.sha256).hexdigest()
    assert after.headers["x-signature-256"] == f"sha256={expected}"
    assert not verifies(signing.new_secret(), after)
