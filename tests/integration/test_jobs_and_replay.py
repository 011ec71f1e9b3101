"""Every job run is recorded; permanent errors fail the order, transient ones retry; an admin
lists failures and replays them (also from the `inkwell` CLI); the sweeper restarts stalled
stages and gives up after MAX_STAGE_ATTEMPTS (DESIGN.md section 3, issue 3 item 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from engine.adapters import tables
from engine.bootstrap import Inkwell, bootstrap
from engine.domain import reasons
from engine.services import jobs, orders, pipeline, principals, replay, sweeper, wallet
from engine.services.pipeline import Outcome
from tests.conftest import (
    TEST_SECRET_KEY,
    MakeTenant,
    TenantHandle,
    make_settings,
    order_body,
)

ONE_LETTER_CENTS = 298
ROOT = Path(__file__).resolve().parents[2]
INKWELL_CLI = Path(sys.executable).parent / "inkwell"


def create(app: Inkwell, t: TenantHandle) -> uuid.UUID:
    who = principals.authenticate(app, f"Bearer {t.key}")
    return orders.create_order(app, who, order_body(1)).order.id


def context(actor: str, order_id: uuid.UUID, *, attempt: int = 1) -> jobs.JobContext:
    """What the actor wrapper builds for one delivery of a message."""
    return jobs.JobContext(
        actor_name=actor,
        queue_name="render" if actor == "render_order" else "pipeline",
        message_id=f"msg-{uuid.uuid4().hex[:12]}",
        attempt=attempt,
        max_attempts=4,
        args={"order_id": str(order_id)},
    )


def raising(exc: Exception) -> Callable[[], object]:
    def work() -> object:
        raise exc

    return work


def load_order(app: Inkwell, order_id: uuid.UUID) -> tables.Order:
    with app.uow() as uow:
        order = uow.session.get(tables.Order, order_id)
        assert order is not None
        return order


def runs_of(app: Inkwell, message_id: str) -> list[tables.JobRun]:
    with app.uow() as uow:
        return list(
            uow.session.scalars(
                sa.select(tables.JobRun).where(tables.JobRun.message_id == message_id)
            )
        )


def wait_for_run(app: Inkwell, message_id: str, outcome: str) -> tables.JobRun:
    """The run's row once the batching job-record writer has stored `outcome`."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = runs_of(app, message_id)
        if found and found[0].outcome == outcome:
            return found[0]
        time.sleep(0.02)
    raise AssertionError(f"no {outcome} run for {message_id}: {runs_of(app, message_id)}")


def ledger_keys(app: Inkwell, order_id: uuid.UUID) -> dict[str, str]:
    with app.uow() as uow:
        rows = uow.session.execute(
            sa.select(tables.LedgerEntry.key, tables.LedgerEntry.kind).where(
                tables.LedgerEntry.order_id == order_id
            )
        ).all()
    return {key: kind for key, kind in rows}


def events_of(app: Inkwell, order_id: uuid.UUID, type_: str) -> list[tables.Event]:
    with app.uow() as uow:
        return list(
            uow.session.scalars(
                sa.select(tables.Event).where(
                    tables.Event.order_id == order_id, tables.Event.type == type_
                )
            )
        )


def outbox_for(app: Inkwell, order_id: uuid.UUID, actor: str) -> list[tables.OutboxMessage]:
    o = tables.OutboxMessage
    with app.uow() as uow:
        return list(
            uow.session.scalars(
                sa.select(o)
                .where(o.actor_name == actor, o.args["order_id"].as_string() == str(order_id))
                .order_by(o.created_at)
            )
        )


def wallet_of(app: Inkwell, t: TenantHandle) -> tuple[int, int]:
    """(balance, held) of the tenant's test wallet."""
    with app.uow() as uow:
        w = wallet.get_wallet(uow.session, t.id, "test")
        return w.balance_cents, w.held_cents


def assert_ledger_ok(app: Inkwell) -> None:
    with app.uow() as uow:
        checks = wallet.check_ledger(uow.session)
    assert checks and all(c.ok for c in checks), checks


def fail_in_render(app: Inkwell, t: TenantHandle) -> tuple[uuid.UUID, jobs.JobContext]:
    """An order whose addresses were checked and whose render job then failed for good."""
    order_id = create(app, t)
    assert pipeline.check_addresses(app, order_id) is Outcome.DONE
    ctx = context("render_order", order_id)
    with pytest.raises(jobs.JobFailed):
        jobs.run(app, ctx, raising(ValueError("font file is corrupt")))
    return order_id, ctx


def test_a_successful_run_is_recorded(inkwell: Inkwell, make_tenant: MakeTenant) -> None:
    # Given a pending order
    t = make_tenant(credits_cents=10_000)
    order_id = create(inkwell, t)
    ctx = context("check_addresses", order_id)

    # When its address check runs as a recorded job
    result = jobs.run(inkwell, ctx, lambda: pipeline.check_addresses(inkwell, order_id))

    # Then the stage's result is returned and the run is stored as succeeded
    assert result is Outcome.DONE
    run = wait_for_run(inkwell, ctx.message_id, "succeeded")
    assert (run.actor_name, run.queue_name, run.order_id, run.attempt) == (
        "check_addresses",
        "pipeline",
        order_id,
        1,
    )
    assert run.args == {"order_id": str(order_id)}
    assert run.finished_at is not None and run.finished_at >= run.started_at
    assert run.error is None and run.traceback is None
    assert len(runs_of(inkwell, ctx.message_id)) == 1
    assert load_order(inkwell, order_id).stage == "addresses_checked"


def test_a_permanent_error_fails_the_order_and_records_the_run(
    inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given an order checked and waiting to be rendered
    t = make_tenant(credits_cents=10_000)
    order_id = create(inkwell, t)
    assert pipeline.check_addresses(inkwell, order_id) is Outcome.DONE
    ctx = context("render_order", order_id)

    # When its render job raises a non-transient error
    with pytest.raises(jobs.JobFailed) as raised:
        jobs.run(inkwell, ctx, raising(ValueError("font file is corrupt")))

    # Then JobFailed (which the actors do not retry) carries the cause
    assert isinstance(raised.value.__cause__, ValueError)
    # And the order failed with the reason, at the stage that failed
    order = load_order(inkwell, order_id)
    assert order.status == "failed"
    assert (order.failure_code, order.failure_reason) == reasons.stage_failure("render_order")
    assert order.failure_code == "render_failed"
    assert order.stage == order.failed_stage == "addresses_checked"
    # And its hold is released and order.failed recorded
    assert ledger_keys(inkwell, order_id) == {
        f"order:{order_id}:hold": "hold",
        f"order:{order_id}:release:failed": "release",
    }
    assert wallet_of(inkwell, t) == (10_000, 0)
    [failed] = events_of(inkwell, order_id, "order.failed")
    # And the partner is told a sentence, never the exception's text (that is for operators)
    assert failed.data["failure_code"] == "render_failed"
    assert failed.data["failure_reason"] == failed.data["reason"]
    assert failed.data["reason"] == reasons.stage_failure("render_order").reason
    assert "font file is corrupt" not in failed.data["reason"]
    # And the run is stored, at once, as failed with its error and traceback
    [run] = runs_of(inkwell, ctx.message_id)
    assert run.outcome == "failed"
    assert run.error == "ValueError: font file is corrupt"
    assert run.traceback is not None
    assert "Traceback" in run.traceback and "ValueError: font file is corrupt" in run.traceback
    assert run.finished_at is not None and run.order_id == order_id
    assert [r.id for r in replay.failed_runs(inkwell)] == [run.id]
    assert_ledger_ok(inkwell)


def test_a_transient_error_is_retried_while_attempts_remain(
    inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given a pending order
    t = make_tenant(credits_cents=10_000)
    order_id = create(inkwell, t)
    ctx = context("check_addresses", order_id, attempt=1)
    lost = OperationalError("stmt", {}, Exception("x"))

    # When its first attempt meets a database outage
    with pytest.raises(OperationalError) as raised:
        jobs.run(inkwell, ctx, raising(lost))

    # Then the error itself is re-raised for the broker to retry, and the run says so
    assert raised.value is lost
    [run] = runs_of(inkwell, ctx.message_id)
    assert run.outcome == "retrying"
    assert run.error is not None and run.error.startswith("OperationalError")
    assert run.traceback
    # And the order is untouched: still pending, money still held, nothing failed
    order = load_order(inkwell, order_id)
    assert (order.status, order.stage, order.failure_reason) == ("pending", "received", None)
    assert wallet_of(inkwell, t) == (10_000, ONE_LETTER_CENTS)
    assert events_of(inkwell, order_id, "order.failed") == []
    assert replay.failed_runs(inkwell) == []


def test_a_transient_error_on_the_last_attempt_leaves_the_order_for_replay(
    inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given a pending order whose check has used every attempt but the last
    t = make_tenant(credits_cents=10_000)
    order_id = create(inkwell, t)
    ctx = context("check_addresses", order_id, attempt=4)

    # When the last attempt meets the database outage too
    with pytest.raises(jobs.JobFailed):
        jobs.run(inkwell, ctx, raising(OperationalError("stmt", {}, Exception("x"))))

    # Then the run failed and waits in the failed list for an admin
    [run] = runs_of(inkwell, ctx.message_id)
    assert run.outcome == "failed"
    assert run.error is not None and run.error.startswith("OperationalError")
    assert [r.id for r in replay.failed_runs(inkwell)] == [run.id]
    # But the order is not failed for an outage: still pending, its stage and hold intact
    order = load_order(inkwell, order_id)
    assert (order.status, order.stage, order.failure_reason) == ("pending", "received", None)
    assert wallet_of(inkwell, t) == (10_000, ONE_LETTER_CENTS)
    assert events_of(inkwell, order_id, "order.failed") == []
    # And once the database is back, the same stage goes on
    assert pipeline.check_addresses(inkwell, order_id) is Outcome.DONE
    assert load_order(inkwell, order_id).stage == "addresses_checked"
    assert_ledger_ok(inkwell)


def test_replay_reopens_the_order_and_resumes_the_failed_stage(
    inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given an order (cancel window 0) whose render job failed for good
    t = make_tenant(credits_cents=10_000, cancel_window_s=0)
    order_id, ctx = fail_in_render(inkwell, t)
    [run] = runs_of(inkwell, ctx.message_id)
    render_rows_before = len(outbox_for(inkwell, order_id, "render_order"))

    # When an admin replays the failed run
    [replayed] = replay.replay(inkwell, [run.id])

    # Then the order is pending again at the same stage, with a second hold of its own
    assert (replayed.run_id, replayed.actor_name) == (run.id, "render_order")
    assert replayed.result == "order re-opened and resumed"
    order = load_order(inkwell, order_id)
    assert (order.status, order.stage) == ("pending", "addresses_checked")
    assert order.hold_generation == 1
    assert order.failure_reason is None and order.failed_stage is None
    assert order.failure_code is None
    assert ledger_keys(inkwell, order_id) == {
        f"order:{order_id}:hold": "hold",
        f"order:{order_id}:release:failed": "release",
        f"order:{order_id}:hold:1": "hold",
    }
    assert wallet_of(inkwell, t) == (10_000, ONE_LETTER_CENTS)
    # And the failed stage is waiting in the outbox, the run marked replayed
    rows = outbox_for(inkwell, order_id, "render_order")
    assert len(rows) == render_rows_before + 1
    assert rows[-1].published_at is None and rows[-1].queue_name == "render"
    [run] = runs_of(inkwell, ctx.message_id)
    assert run.replayed_at is not None
    assert replay.failed_runs(inkwell) == []
    assert [r.id for r in replay.failed_runs(inkwell, include_replayed=True)] == [run.id]

    # When the re-enqueued stages run
    assert pipeline.render_order(inkwell, order_id) is Outcome.DONE
    assert pipeline.capture_order(inkwell, order_id) is Outcome.DONE

    # Then the order is confirmed and charged once, from the second hold
    assert load_order(inkwell, order_id).status == "processing"
    assert ledger_keys(inkwell, order_id)[f"order:{order_id}:capture"] == "capture"
    assert wallet_of(inkwell, t) == (10_000 - ONE_LETTER_CENTS, 0)
    assert len(events_of(inkwell, order_id, "order.in_production")) == 1
    assert_ledger_ok(inkwell)


def test_replay_is_refused_with_the_shortfall_when_the_wallet_cannot_cover_it(
    inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given a tenant with money for exactly one letter, whose first order failed (hold
    # released) and whose second order then took the money back
    t = make_tenant(credits_cents=ONE_LETTER_CENTS)
    order_id, ctx = fail_in_render(inkwell, t)
    create(inkwell, t)
    assert wallet_of(inkwell, t) == (ONE_LETTER_CENTS, ONE_LETTER_CENTS)
    [run] = runs_of(inkwell, ctx.message_id)
    rows_before = len(outbox_for(inkwell, order_id, "render_order"))

    # When an admin replays the failed run
    [replayed] = replay.replay(inkwell, [run.id])

    # Then it is refused with the shortfall
    assert replayed.result.startswith("refused")
    assert f"short {ONE_LETTER_CENTS}" in replayed.result
    assert f"costs {ONE_LETTER_CENTS}" in replayed.result
    # And nothing changed: order still failed, no new hold, no job, run still listed
    order = load_order(inkwell, order_id)
    assert (order.status, order.hold_generation) == ("failed", 0)
    assert order.failure_reason == reasons.stage_failure("render_order")[1]
    assert f"order:{order_id}:hold:1" not in ledger_keys(inkwell, order_id)
    assert wallet_of(inkwell, t) == (ONE_LETTER_CENTS, ONE_LETTER_CENTS)
    assert len(outbox_for(inkwell, order_id, "render_order")) == rows_before
    [run] = runs_of(inkwell, ctx.message_id)
    assert run.replayed_at is None
    assert [r.id for r in replay.failed_runs(inkwell)] == [run.id]
    assert_ledger_ok(inkwell)


def _cli(pg_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env["DATABASE_URL"] = pg_url
    env["SECRET_KEY"] = TEST_SECRET_KEY
    return subprocess.run(
        [str(INKWELL_CLI), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_lists_failed_jobs_and_replays_them(
    pg_url: str, inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given an order whose render job failed for good
    t = make_tenant(credits_cents=10_000)
    order_id, ctx = fail_in_render(inkwell, t)
    [run] = runs_of(inkwell, ctx.message_id)

    # When an operator lists failed jobs
    listed = _cli(pg_url, "jobs", "failed")
    as_json = _cli(pg_url, "jobs", "failed", "--json")

    # Then the failed run is shown with its actor, order and error
    assert listed.returncode == 0, listed.stderr
    line = next(ln for ln in listed.stdout.splitlines() if ln.startswith(str(run.id)))
    assert "render_order" in line and f"order={order_id}" in line
    assert "ValueError: font file is corrupt" in line
    assert listed.stdout.rstrip().endswith("1 failed job run(s)")
    assert as_json.returncode == 0, as_json.stderr
    [record] = [json.loads(ln) for ln in as_json.stdout.splitlines() if ln.strip()]
    assert record["id"] == str(run.id)
    assert record["actor"] == "render_order" and record["order_id"] == str(order_id)
    assert record["message_id"] == ctx.message_id and record["replayed_at"] is None

    # When the operator replays it by id
    replayed = _cli(pg_url, "jobs", "replay", str(run.id))

    # Then the order is re-opened at the failed stage and the run no longer listed
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert f"{run.id}  render_order" in replayed.stdout
    assert "order re-opened and resumed" in replayed.stdout
    assert "1 replayed, 0 refused" in replayed.stdout
    order = load_order(inkwell, order_id)
    assert (order.status, order.stage, order.hold_generation) == (
        "pending",
        "addresses_checked",
        1,
    )
    assert outbox_for(inkwell, order_id, "render_order")[-1].published_at is None
    after = _cli(pg_url, "jobs", "failed")
    assert after.returncode == 0 and after.stdout.rstrip().endswith("0 failed job run(s)")
    # And a replay of an unknown run is refused with a non-zero exit
    unknown = _cli(pg_url, "jobs", "replay", str(uuid.uuid4()))
    assert unknown.returncode == 1
    assert "not found" in unknown.stdout and "0 replayed, 1 refused" in unknown.stdout
    assert_ledger_ok(inkwell)


@pytest.fixture
def impatient(pg_url: str, tmp_path: Path) -> Iterator[Inkwell]:
    """An Inkwell whose stage deadline is one second."""
    app = bootstrap(make_settings(pg_url, tmp_path, stage_deadline_s=1))
    yield app
    app.close()


def _stall(app: Inkwell, order_id: uuid.UUID) -> None:
    """Pretend the order's stage last moved an hour ago, its job handed to the broker and
    lost there (a job still waiting in the outbox is queued, not stalled)."""
    with app.engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE orders SET stage_changed_at = now() - interval '1 hour' WHERE id = :oid"
            ),
            {"oid": order_id},
        )
        conn.execute(sa.text("UPDATE outbox SET published_at = now() WHERE published_at IS NULL"))


def test_sweeper_reenqueues_a_stalled_stage_then_gives_up(
    impatient: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given a pending order whose address check message was lost
    t = make_tenant(credits_cents=10_000)
    order_id = create(impatient, t)
    assert len(outbox_for(impatient, order_id, "check_addresses")) == 1

    # When the sweeper runs before the stage deadline
    early = sweeper.sweep(impatient)

    # Then it leaves the order alone
    assert early.orders_requeued == 0
    assert len(outbox_for(impatient, order_id, "check_addresses")) == 1

    # When the stage has been stuck past its deadline
    _stall(impatient, order_id)
    first = sweeper.sweep(impatient)

    # Then the stage is enqueued again and the attempt counted
    assert (first.orders_requeued, first.orders_failed) == (1, 0)
    rows = outbox_for(impatient, order_id, "check_addresses")
    assert len(rows) == 2 and rows[-1].published_at is None
    order = load_order(impatient, order_id)
    assert (order.status, order.stage, order.stage_attempts) == ("pending", "received", 1)
    # And a sweep right after does not enqueue it again (its clock was reset)
    assert sweeper.sweep(impatient).orders_requeued == 0

    # When it stays stuck through every allowed attempt
    for _ in range(sweeper.MAX_STAGE_ATTEMPTS - 1):
        _stall(impatient, order_id)
        assert sweeper.sweep(impatient).orders_requeued == 1
    assert load_order(impatient, order_id).stage_attempts == sweeper.MAX_STAGE_ATTEMPTS
    _stall(impatient, order_id)
    last = sweeper.sweep(impatient)

    # Then the order fails instead of looping: reason, hold released, order.failed
    assert (last.orders_requeued, last.orders_failed) == (0, 1)
    order = load_order(impatient, order_id)
    assert order.status == "failed"
    # (told to the partner as a code and a sentence, not the internal stage name)
    assert (order.failure_code, order.failure_reason) == reasons.stalled("check_addresses")
    assert order.failure_code == "stalled" and "received" not in order.failure_reason
    [failed_event] = events_of(impatient, order_id, "order.failed")
    assert failed_event.data["failure_code"] == "stalled"
    assert failed_event.data["failure_reason"] == order.failure_reason
    # (while the stage and the attempts are on the failed run, for operators)
    [given_up] = runs_of(impatient, "sweeper")
    assert given_up.actor_name == "check_addresses"
    assert given_up.error == (
        f"Stage received did not complete after {sweeper.MAX_STAGE_ATTEMPTS} attempts"
    )
    assert order.failed_stage == "received"
    assert wallet_of(impatient, t) == (10_000, 0)
    assert len(events_of(impatient, order_id, "order.failed")) == 1
    assert len(outbox_for(impatient, order_id, "check_addresses")) == (
        1 + sweeper.MAX_STAGE_ATTEMPTS
    )
    # And later sweeps leave the failed order alone
    _stall(impatient, order_id)
    after = sweeper.sweep(impatient)
    assert (after.orders_requeued, after.orders_failed) == (0, 0)
    assert load_order(impatient, order_id).status == "failed"
    assert_ledger_ok(impatient)


def test_sweeper_leaves_capture_waiting_for_the_cancel_window(
    impatient: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given an order rendered long ago but still inside its 5-minute cancel window
    t = make_tenant(credits_cents=10_000)
    order_id = create(impatient, t)
    assert pipeline.check_addresses(impatient, order_id) is Outcome.DONE
    assert pipeline.render_order(impatient, order_id) is Outcome.DONE
    _stall(impatient, order_id)

    # When the sweeper runs
    report = sweeper.sweep(impatient)

    # Then capture is not re-enqueued early: it is waiting, not stalled
    assert report.orders_requeued == 0
    assert len(outbox_for(impatient, order_id, "capture_order")) == 1
    assert load_order(impatient, order_id).stage_attempts == 0


def test_sweeper_leaves_an_order_whose_job_still_waits_in_the_outbox(
    impatient: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given an order past its stage deadline whose job the relay still holds back (its
    # queue full, tenants served in turn): the row is unpublished
    t = make_tenant(credits_cents=10_000)
    order_id = create(impatient, t)
    with impatient.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE orders SET stage_changed_at = now() - interval '1 hour'"),
        )

    # When the sweeper runs
    report = sweeper.sweep(impatient)

    # Then the order is queued, not stalled: no second job, no attempt counted
    assert report.orders_requeued == 0
    assert len(outbox_for(impatient, order_id, "check_addresses")) == 1
    assert load_order(impatient, order_id).stage_attempts == 0


def test_a_late_running_record_never_undoes_a_finished_run(
    inkwell: Inkwell, make_tenant: MakeTenant
) -> None:
    # Given a job that committed its stage (its run on record as succeeded with it), while
    # the process's batch writer still holds the run's earlier "running" row
    t = make_tenant(credits_cents=10_000)
    order_id = create(inkwell, t)
    records = jobs.job_log(inkwell)
    ctx = jobs.JobContext(
        actor_name="check_addresses",
        queue_name="pipeline",
        message_id="m-1",
        attempt=1,
        max_attempts=1,
        args={"order_id": str(order_id)},
    )
    jobs.run(inkwell, ctx, lambda: pipeline.check_addresses(inkwell, order_id))
    records.flush()
    [run_id] = [r.id for r in runs_of(inkwell, "m-1")]

    # When that stale "running" row is written after all
    records.record(
        run_id,
        actor_name=ctx.actor_name,
        queue_name=ctx.queue_name,
        message_id=ctx.message_id,
        order_id=order_id,
        args=ctx.args,
        attempt=1,
        outcome="running",
        started_at=inkwell.clock(),
    )
    records.flush()

    # Then the run stays succeeded
    assert [r.outcome for r in runs_of(inkwell, "m-1")] == ["succeeded"]
