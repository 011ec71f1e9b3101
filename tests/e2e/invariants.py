"""The one check every fault scenario ends with: what must hold once the system settles.

`violations()` lists what is wrong right now; `settle_and_check()` waits for that list to
empty (work still in flight converges) and fails with the list if it never does. The
timeout only bounds the wait; no duration is asserted.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable

import sqlalchemy as sa

from engine.adapters import tables
from engine.bootstrap import Inkwell
from engine.services import attempts, wallet
from tests.e2e.harness import Receiver

#: The pipeline's stages in order, each with the actor that moves an order past it.
STAGE_ACTORS = (
    ("addresses_checked", "check_addresses"),
    ("rendered", "render_order"),
    ("captured", "capture_order"),
)
STAGE_ORDER = ["received"] + [stage for stage, _ in STAGE_ACTORS]
#: Attempt errors that mean the receiver was certainly not sent that attempt.
NOT_SENT = {attempts.JOB_LOST, attempts.UNPREPARED, attempts.SECRET_UNREADABLE}


def violations(
    app: Inkwell,
    *,
    accepted: Collection[uuid.UUID],
    receivers: Iterable[Receiver],
    statuses: Collection[str] = ("processing",),
    exact_attempts: bool = True,
) -> list[str]:
    """Everything the fault broke, one line each (empty: all holds).

    - every accepted order exists, in one of `statuses` (a failed one with its reason);
    - each wallet's ledger sums to its balance and held amounts;
    - an order is captured once if it is processing, never otherwise;
    - every event is fanned out, with exactly one delivery to each active subscribed
      endpoint, and every delivery succeeded;
    - what each receiver saw matches the deliveries' attempts: with `exact_attempts` the
      hits on one webhook-id are its attempts less those never sent; otherwise (workers
      killed mid-send, so some attempts' fate is unknown) between those it answered and that;
    - a finished (succeeded) job record for every stage an order passed, every event
      fanned out and every delivery sent.
    """
    out: list[str] = []
    hits: Counter[str] = Counter()
    ok_hits: Counter[str] = Counter()
    by_url: dict[str, Receiver] = {}
    for r in receivers:
        by_url[r.url] = r
        for seen in list(r.received):
            hook_id = seen.headers.get("webhook-id", "?")
            hits[hook_id] += 1
            if seen.status is not None and 200 <= seen.status < 300:
                ok_hits[hook_id] += 1
    with app.uow() as uow:
        s = uow.session
        orders = s.execute(
            sa.select(
                tables.Order.id,
                tables.Order.status,
                tables.Order.stage,
                tables.Order.failure_reason,
            )
        ).all()
        by_id = {o.id: o for o in orders}
        for order_id in accepted:
            if order_id not in by_id:
                out.append(f"orders: accepted order {order_id} is not in the table")
        for o in orders:
            if o.status not in statuses:
                out.append(f"orders: {o.id} is {o.status} at stage {o.stage} ({o.failure_reason})")
            elif o.status == "failed" and not o.failure_reason:
                out.append(f"orders: {o.id} failed without a reason")

        for check in wallet.check_ledger(s):
            if not check.ok:
                out.append(f"ledger: wallet {check.wallet_id} does not match its entries {check}")

        captures = Counter(
            s.scalars(
                sa.select(tables.LedgerEntry.order_id).where(tables.LedgerEntry.kind == "capture")
            )
        )
        for order_id, n in captures.items():
            if n > 1:
                out.append(f"ledger: order {order_id} captured {n} times")
            if order_id in by_id and by_id[order_id].status != "processing":
                out.append(f"ledger: order {order_id} captured but {by_id[order_id].status}")
        for o in orders:
            if o.status == "processing" and o.id not in captures:
                out.append(f"ledger: order {o.id} is processing without a capture")

        events = s.execute(
            sa.select(
                tables.Event.id,
                tables.Event.tenant_id,
                tables.Event.mode,
                tables.Event.type,
                tables.Event.fanned_out_at,
            )
        ).all()
        endpoints = s.execute(
            sa.select(
                tables.WebhookEndpoint.id,
                tables.WebhookEndpoint.tenant_id,
                tables.WebhookEndpoint.mode,
                tables.WebhookEndpoint.events,
                tables.WebhookEndpoint.url,
            ).where(tables.WebhookEndpoint.is_active.is_(True))
        ).all()
        d = tables.WebhookDelivery
        fanned = s.execute(
            sa.select(d.id, d.event_id, d.endpoint_id, d.status, d.attempts, d.last_error).where(
                d.resend_of.is_(None)
            )
        ).all()
        per_pair = Counter((row.event_id, row.endpoint_id) for row in fanned)
        for pair, n in per_pair.items():
            if n > 1:
                out.append(f"webhook_deliveries: {n} deliveries of event {pair[0]} to {pair[1]}")
        for ev in events:
            if ev.fanned_out_at is None:
                out.append(f"events: {ev.type} {ev.id} never fanned out")
                continue
            for ep in endpoints:
                subscribed = ev.type in ep.events or "*" in ep.events
                same_owner = (ep.tenant_id, ep.mode) == (ev.tenant_id, ev.mode)
                if same_owner and subscribed and per_pair[(ev.id, ep.id)] == 0:
                    out.append(f"webhook_deliveries: {ev.type} {ev.id} has none to {ep.id}")

        a = tables.WebhookAttempt
        answered: Counter[uuid.UUID] = Counter()
        not_sent: Counter[uuid.UUID] = Counter()
        for delivery_id, status_code, error in s.execute(
            sa.select(a.delivery_id, a.status_code, a.error)
        ):
            if status_code is not None:
                answered[delivery_id] += 1
            elif error in NOT_SENT:
                not_sent[delivery_id] += 1
        known_ids = set()
        for row in fanned:
            known_ids.add(str(row.id))
            if row.status != "succeeded":
                out.append(
                    f"webhook_deliveries: {row.id} is {row.status} after {row.attempts} "
                    f"attempts ({row.last_error})"
                )
            seen = hits[str(row.id)]
            sent = row.attempts - not_sent[row.id]
            if exact_attempts and seen != sent:
                out.append(
                    f"webhook_deliveries: {row.id} has {sent} sent attempts "
                    f"({row.attempts} counted), the receiver saw {seen}"
                )
            elif not answered[row.id] <= seen <= sent:
                out.append(
                    f"webhook_deliveries: {row.id} the receiver saw {seen}, not between the "
                    f"{answered[row.id]} answered and {sent} sent attempts"
                )
            if row.status == "succeeded" and ok_hits[str(row.id)] == 0:
                out.append(f"webhook_deliveries: {row.id} succeeded, no receiver answered 2xx")
        for hook_id in set(hits) - known_ids:
            out.append(f"receiver: webhook-id {hook_id} seen {hits[hook_id]}x, no such delivery")

        r = tables.JobRun
        finished = s.execute(
            sa.select(r.actor_name, r.order_id, r.args).where(r.outcome == "succeeded")
        ).all()
        done_orders = {(run.actor_name, run.order_id) for run in finished}
        done_args = {
            (run.actor_name, str((run.args or {}).get(key)))
            for run in finished
            for key in ("event_id", "delivery_id")
            if (run.args or {}).get(key)
        }
        for o in orders:
            reached = STAGE_ORDER.index(o.stage) if o.stage in STAGE_ORDER else 0
            for stage, actor in STAGE_ACTORS[:reached]:
                if (actor, o.id) not in done_orders:
                    out.append(f"job_runs: order {o.id} passed {stage}, no finished {actor} run")
        for ev in events:
            if ev.fanned_out_at is not None and ("fan_out_event", str(ev.id)) not in done_args:
                out.append(f"job_runs: event {ev.id} fanned out, no finished fan_out_event run")
        for row in fanned:
            if row.status == "succeeded" and ("deliver_webhook", str(row.id)) not in done_args:
                out.append(f"job_runs: delivery {row.id} succeeded, no finished deliver_webhook")
    return out


def settle_and_check(
    app: Inkwell,
    *,
    accepted: Collection[uuid.UUID],
    receivers: Iterable[Receiver],
    statuses: Collection[str] = ("processing",),
    exact_attempts: bool = True,
    timeout_s: float = 120,
) -> None:
    """Wait until `violations()` is empty; fail with what is still wrong if it never is."""
    receivers = list(receivers)
    deadline = time.monotonic() + timeout_s
    found: list[str] = []
    while time.monotonic() < deadline:
        found = violations(
            app,
            accepted=accepted,
            receivers=receivers,
            statuses=statuses,
            exact_attempts=exact_attempts,
        )
        if not found:
            return
        time.sleep(1.0)
    kinds: defaultdict[str, int] = defaultdict(int)
    for line in found:
        kinds[line.split(":", 1)[0]] += 1
    shown = "\n".join(found[:40])
    raise AssertionError(
        f"{len(found)} invariant violations after {timeout_s}s ({dict(kinds)}):\n{shown}"
    )
