"""The errors Inkwell's services raise. HTTP status codes live only in `api/errors.py`.

InkwellError
├── NotFound                 (resource, resource_id)
├── ValidationFailed         (problems: list of FieldProblem)
├── InvalidOrderId           (value): a path order id that is not a UUID
├── Conflict
│   ├── NotCancellable       (order_id, status)
│   ├── SelfRevoke           (key_id)
│   ├── DuplicateExternalId  (external_id, existing_order_id)
│   ├── EndpointLimitReached (limit): one more active webhook endpoint would pass the cap
│   └── StaleState           (entity, entity_id): a compare-and-set found the row moved
├── InsufficientCredits      (balance_cents, cost_cents, shortfall_cents)
├── ManualResendsExhausted   (endpoint_id, limit, retry_after_s): resends+retries per hour
├── ServiceBusy              (retry_after_s): not done in time, and certainly not done
├── OutcomeUnknown           (order_id): the database left a commit's outcome unknown
└── AuthError                (code): missing, malformed, unknown, revoked, expired key
    └── MissingScope         (scope)

CommitUncertain is not an InkwellError: it never reaches a client. The intake writer
raises it when the connection failed during COMMIT (the transaction may or may not have
landed) and resolves it by looking the orders up.
"""

from __future__ import annotations

from dataclasses import dataclass


class InkwellError(Exception):
    """Base of every error a service raises on purpose."""

    code = "internal_error"

    def __init__(self, message: str, *, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion
        #: Further top-level fields for the error body (e.g. `valid_count`).
        self.extra: dict[str, object] = {}


class NotFound(InkwellError):
    code = "not_found"

    def __init__(self, resource: str, resource_id: object) -> None:
        super().__init__(
            f"{resource.capitalize()} {resource_id} was not found.",
            suggestion=f"Check the {resource} id; you can only see your own {resource}s.",
        )
        self.resource = resource
        self.resource_id = resource_id


class InvalidOrderId(InkwellError):
    code = "invalid_order_id"

    def __init__(self, value: str) -> None:
        super().__init__(
            f"Order id {value!r} is not a valid UUID.",
            suggestion="Use the order id returned when the order was created.",
        )
        self.value = value


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with one field; `recipient_index` is set for recipient fields."""

    field: str
    error: str
    recipient_index: int | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"field": self.field, "error": self.error}
        if self.recipient_index is not None:
            out = {"recipient_index": self.recipient_index, **out}
        return out


class ValidationFailed(InkwellError):
    code = "validation_error"

    def __init__(
        self,
        problems: list[FieldProblem],
        *,
        message: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.problems = problems
        super().__init__(
            message or f"The request has {len(problems)} problem{'s' * (len(problems) != 1)}.",
            suggestion=suggestion or "Fix every field listed in details and send it again.",
        )


class Conflict(InkwellError):
    code = "conflict"


class NotCancellable(Conflict):
    code = "not_cancellable"

    def __init__(self, order_id: object, status: str) -> None:
        super().__init__(
            f"Order {order_id} is {status} and can no longer be cancelled.",
            suggestion="Only draft, pending_payment and pending orders can be cancelled.",
        )
        self.order_id = order_id
        self.status = status


class SelfRevoke(Conflict):
    code = "self_revoke"

    def __init__(self, key_id: object) -> None:
        super().__init__(
            "You cannot revoke the API key this request is authenticated with.",
            suggestion="Revoke it with another key that has the keys.manage scope.",
        )
        self.key_id = key_id


class EndpointLimitReached(Conflict):
    code = "endpoint_limit_reached"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"You already have {limit} active webhook endpoints, the most allowed.",
            suggestion="Deactivate an endpoint you no longer use before adding another.",
        )
        self.limit = limit


class StaleState(Conflict):
    code = "conflict"

    def __init__(self, entity: str, entity_id: object) -> None:
        super().__init__(
            f"{entity.capitalize()} {entity_id} was changed by another request.",
            suggestion="Fetch it again and retry if the action still applies.",
        )
        self.entity = entity
        self.entity_id = entity_id


class InsufficientCredits(InkwellError):
    code = "insufficient_credits"

    def __init__(self, *, balance_cents: int, cost_cents: int) -> None:
        self.balance_cents = balance_cents
        self.cost_cents = cost_cents
        self.shortfall_cents = max(cost_cents - balance_cents, 0)
        super().__init__(
            "Insufficient credit balance for this order.",
            suggestion=f"Add at least {self.shortfall_cents} cents of credit and try again.",
        )


class ManualResendsExhausted(InkwellError):
    """An endpoint had its hourly allowance of manual resends and retries."""

    code = "rate_limit_exceeded"

    def __init__(self, endpoint_id: object, *, limit: int, retry_after_s: int) -> None:
        super().__init__(
            f"Webhook {endpoint_id} had its {limit} manual resends and retries this hour.",
            suggestion=f"Try again in {retry_after_s} seconds.",
        )
        self.endpoint_id = endpoint_id
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.extra["retry_after_s"] = retry_after_s


class ServiceBusy(InkwellError):
    """The request was not carried out in time and nothing of it was kept; retry it."""

    code = "service_busy"

    def __init__(self, *, retry_after_s: int = 1) -> None:
        super().__init__(
            "We are too busy to take this order right now. Nothing was created or charged.",
            suggestion=f"Send the same request again in {retry_after_s} second(s).",
        )
        self.retry_after_s = retry_after_s


class OutcomeUnknown(InkwellError):
    """The database failed while committing this order and could not be asked since
    whether the commit landed; the answer must not claim either outcome."""

    def __init__(self, order_id: object) -> None:
        super().__init__(
            f"We could not confirm whether order {order_id} was accepted: our database "
            "failed while saving it.",
            suggestion=(
                f"Read order {order_id} again in a minute. To retry safely, send the same "
                "request with the same external_id: if the order was accepted, the answer "
                "is 409 duplicate_external_id with its id."
            ),
        )
        self.order_id = order_id
        self.extra["order_id"] = str(order_id)


class CommitUncertain(Exception):
    """The connection failed during COMMIT: `results` were computed in the transaction,
    which may or may not have landed."""

    def __init__(self, results: list[object]) -> None:
        super().__init__("the connection failed while committing")
        self.results = results


class AuthError(InkwellError):
    """An API key that cannot be used; `code` says why."""

    def __init__(self, code: str, message: str, suggestion: str) -> None:
        super().__init__(message, suggestion=suggestion)
        self.code = code


class MissingScope(AuthError):
    def __init__(self, scope: str) -> None:
        super().__init__(
            "forbidden",
            f"This API key lacks the '{scope}' permission this request needs.",
            f"Use a key with the '{scope}' scope, or create one with a key that has the "
            "keys.manage scope.",
        )
        self.scope = scope


class DuplicateExternalId(Conflict):
    code = "duplicate_external_id"

    def __init__(self, external_id: str, existing_order_id: object) -> None:
        super().__init__(
            f"An order with external_id {external_id!r} already exists.",
            suggestion="Read the existing order instead, or give a new external_id.",
        )
        self.external_id = external_id
        self.existing_order_id = existing_order_id
        self.extra["existing_order_id"] = str(existing_order_id)
