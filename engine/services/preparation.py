"""Preparing an order: check every rule, price it and build its rows, writing nothing.

What `prepare_order` returns (`acceptance.Prepared`) is what the order writer stores.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from engine import errors
from engine.adapters import tables
from engine.domain import addresses, orderform, pricing, text
from engine.domain.statuses import (
    EnvelopeType,
    OrderStatus,
    PaperType,
    ProductType,
    RecipientStatus,
    Stage,
)
from engine.services import fonts, tenants
from engine.services.acceptance import Prepared
from engine.services.context import Context
from engine.services.principals import Principal


def _validation_error(
    problems: list[errors.FieldProblem], total_recipients: int
) -> errors.ValidationFailed:
    bad = sorted({p.recipient_index for p in problems if p.recipient_index is not None})
    top_level = [p for p in problems if p.recipient_index is None]
    if bad and not top_level:
        n = len(bad)
        valid = max(total_recipients - n, 0)
        message = f"{n} recipient{'s' * (n != 1)} {'have' if n != 1 else 'has'} issues"
        suggestion = (
            f"Fix the {n} invalid recipient{'s' * (n != 1)} and resubmit, or set "
            f'"skip_invalid": true to process only the {valid} valid '
            f"recipient{'s' * (valid != 1)}."
        )
    else:
        message, suggestion = None, None
    exc = errors.ValidationFailed(problems, message=message, suggestion=suggestion)
    exc.extra = {"valid_count": total_recipients - len(bad), "invalid_count": len(bad)}
    return exc


def cancel_window(app: Context, tenant: tables.Tenant) -> timedelta:
    seconds = tenant.cancel_window_s
    if seconds is None:
        seconds = app.settings.order_cancel_window_s
    return timedelta(seconds=seconds)


def prepare_order(app: Context, principal: Principal, raw: Mapping[str, object]) -> Prepared:
    """Check every rule and price the order (reads the tenant, usually cached; writes
    nothing).

    Raises:
        ValidationFailed: every problem with the request, each with its field.
    """
    now = app.clock()
    problems = orderform.check_order(raw, now=now)
    recipients_raw = raw.get("recipients")
    total = len(recipients_raw) if isinstance(recipients_raw, list) else 0
    skip_invalid = raw.get("skip_invalid") is True
    tenant = tenants.cached_tenant(app, principal.tenant_id)
    font = fonts.resolve_for(app, tenant, raw.get("handwriting_style"))
    if isinstance(font, str):
        problems.append(errors.FieldProblem("handwriting_style", font))
    invalid: dict[int, list[str]] = {}
    for p in problems:
        if p.recipient_index is not None:
            invalid.setdefault(p.recipient_index, []).append(p.error)
    blocking = [p for p in problems if p.recipient_index is None or not skip_invalid]
    if skip_invalid and total and len(invalid) == total:
        none_left = errors.FieldProblem("recipients", "no valid recipients left to send to")
        raise _validation_error([none_left, *problems], total)
    if blocking:
        raise _validation_error(blocking, total)
    assert isinstance(recipients_raw, list) and not isinstance(font, str)

    product = ProductType(str(raw.get("product_type") or "letter"))
    default_envelope = "none" if product is ProductType.POSTCARD else "standard"
    envelope = EnvelopeType(str(raw.get("envelope_type") or default_envelope))
    paper = PaperType(str(raw.get("paper_type") or "standard"))
    valid_count = total - len(invalid)
    quote = pricing.quote(
        tenants.price_list(tenant),
        product=product,
        paper=paper,
        envelope=envelope,
        count=valid_count,
    )
    send_date = orderform.parse_send_date(raw.get("send_date"))
    cancellable_until = max(now + cancel_window(app, tenant), send_date or now)
    order = tables.Order(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        mode=principal.mode.value,
        status=OrderStatus.PENDING.value,
        stage=Stage.RECEIVED.value,
        stage_changed_at=now,
        message_body=str(raw["message_body"]),
        product_type=product.value,
        paper_type=paper.value,
        envelope_type=envelope.value,
        mailing_option=_opt_str(raw.get("mailing_option")),
        font_id=font,
        authenticity_preset=_opt_str(raw.get("authenticity_preset")),
        return_address=_return_address(raw.get("return_address")),
        skip_invalid=skip_invalid,
        source="partner_api",
        letter_count=valid_count,
        recipient_count=total,
        order_metadata=raw.get("metadata"),
        external_id=raw.get("external_id"),
        total_cents=quote.total_cents,
        cost_breakdown=quote.breakdown(),
        send_date=send_date,
        cancellable_until=cancellable_until,
        created_at=now,
        updated_at=now,
    )
    recipients = [
        _recipient(order.id, index, item, invalid.get(index), now)
        for index, item in enumerate(recipients_raw)
    ]
    return Prepared(order=order, recipients=recipients)


def _opt_str(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _return_address(value: object) -> dict[str, object] | None:
    if not isinstance(value, Mapping):
        return None
    value, _ = orderform.return_address_lines(value)
    keys = ("name", "line1", "line2", "city", "state", "zip", "country")
    out = {k: value.get(k) for k in keys if value.get(k) is not None}
    out.setdefault("country", "US")
    return out


def _recipient(
    order_id: uuid.UUID,
    index: int,
    raw: object,
    problems: list[str] | None,
    now: datetime,
) -> tables.Recipient:
    if problems or not isinstance(raw, Mapping):
        # Stored as sent (within column limits) so the partner can see what was skipped.
        fields = raw if isinstance(raw, Mapping) else {}
        stored = {
            f: (text.clean(str(fields.get(f)))[:limit] if fields.get(f) is not None else None)
            for f, limit in addresses.STORED_TEXT
        }
        custom = fields.get("custom_fields")
        if addresses.check_custom_fields(custom):
            custom = None  # not storable as sent; the reason says why
        return tables.Recipient(
            id=uuid.uuid4(),
            order_id=order_id,
            position=index,
            country=addresses.country_of(fields)[:2],
            custom_fields=dict(custom) if isinstance(custom, Mapping) else {},
            status=RecipientStatus.INVALID.value,
            invalid_reason="; ".join(problems or ["recipient must be an object"]),
            created_at=now,
            updated_at=now,
            **stored,
        )
    clean = addresses.normalise_recipient(raw)
    return tables.Recipient(
        id=uuid.uuid4(),
        order_id=order_id,
        position=index,
        status=RecipientStatus.PENDING.value,
        created_at=now,
        updated_at=now,
        **clean,
    )
