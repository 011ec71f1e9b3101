"""Every error answer, in one shape: `{"error", "message", "suggestion"[, "details"]}`.

The only module that knows HTTP status codes for engine errors.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from engine import errors

log = logging.getLogger("inkwell.api")

STATUS: list[tuple[type[errors.InkwellError], int]] = [
    (errors.MissingScope, 403),
    (errors.AuthError, 401),
    (errors.ValidationFailed, 400),
    (errors.InvalidOrderId, 400),
    (errors.NotFound, 404),
    (errors.InsufficientCredits, 402),
    (errors.Conflict, 409),
    (errors.ManualResendsExhausted, 429),
    (errors.ServiceBusy, 503),
]


#: The route that does what an engine suggestion asks, where one does: the engine says what
#: to do in its own terms and names no routes; the answer may show where.
ROUTES: list[tuple[type[errors.InkwellError], str]] = [
    (errors.EndpointLimitReached, "DELETE /webhooks/{id}"),
    (errors.MissingScope, "POST /keys"),
]


def suggestion_of(exc: errors.InkwellError) -> str | None:
    """The engine's suggestion, with the route that carries it out when there is one."""
    for kind, route in ROUTES:
        if isinstance(exc, kind) and exc.suggestion:
            return f"{exc.suggestion.removesuffix('.')} ({route})."
    return exc.suggestion


def status_of(exc: errors.InkwellError) -> int:
    for kind, status in STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def body(code: str, message: str, suggestion: str | None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"error": code, "message": message}
    out["suggestion"] = suggestion or ""
    out.update(extra)
    return out


def error_response(
    status: int,
    code: str,
    message: str,
    suggestion: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(body(code, message, suggestion, **extra), status, headers=headers)


def _inkwell_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.InkwellError)
    extra: dict[str, Any] = dict(exc.extra)
    if isinstance(exc, errors.ValidationFailed):
        extra["details"] = [p.as_dict() for p in exc.problems]
    elif isinstance(exc, errors.InsufficientCredits):
        extra.update(
            balance_cents=exc.balance_cents,
            cost_cents=exc.cost_cents,
            shortfall_cents=exc.shortfall_cents,
        )
    elif isinstance(exc, errors.MissingScope):
        extra["required_scope"] = exc.scope
    headers = {"WWW-Authenticate": "Bearer"} if status_of(exc) == 401 else None
    if isinstance(exc, errors.ManualResendsExhausted | errors.ServiceBusy):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return error_response(
        status_of(exc), exc.code, exc.message, suggestion_of(exc), headers=headers, **extra
    )


_TYPE_MESSAGES = {
    "missing": "is required",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "datetime_parsing": "must be an ISO 8601 date-time",
    "datetime_from_date_parsing": "must be an ISO 8601 date-time",
    "extra_forbidden": "is not a known field",
}


def problems_from_pydantic(exc_errors: Any) -> list[errors.FieldProblem]:
    """Turn pydantic's error list into our per-field problems."""
    problems: list[errors.FieldProblem] = []
    for err in exc_errors:
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body", "query", "path")]
        index = None
        if len(loc) >= 2 and loc[0] == "recipients" and loc[1].isdigit():
            index = int(loc[1])
            loc = loc[2:]
        field = ".".join(loc) or "body"
        text = _TYPE_MESSAGES.get(err.get("type", ""), err.get("msg", "is invalid"))
        if err.get("type") in ("greater_than_equal", "less_than_equal"):
            text = err.get("msg", "is out of range").lower()
        problems.append(errors.FieldProblem(field, f"{field} {text}", index))
    return problems


def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = exc.errors()
    if any(e.get("type") == "json_invalid" for e in raw):
        detail = next(e for e in raw if e.get("type") == "json_invalid")
        where = detail.get("ctx", {}).get("error", "")
        return error_response(
            400,
            "invalid_json",
            f"The request body is not valid JSON ({where}).",
            "Send a JSON object with 'Content-Type: application/json'.",
        )
    problems = problems_from_pydantic(raw)
    if len(problems) == 1 and problems[0].field == "body":
        return error_response(
            400,
            "invalid_json",
            "The request body must be a JSON object.",
            "Send a JSON object with 'Content-Type: application/json'.",
        )
    exc2 = errors.ValidationFailed(problems)
    return _inkwell_error(request, exc2)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return error_response(
            404,
            "not_found",
            f"No endpoint at {request.url.path}.",
            "Check the path against the API reference at /docs.",
        )
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        return error_response(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}.",
            "Check the method against the API reference at /docs.",
            headers={"Allow": ", ".join(allowed)},
        )
    if exc.status_code == 400:
        # FastAPI's own body parsing gave up (nesting too deep, bad UTF-8, huge numbers).
        return error_response(
            400,
            "invalid_json",
            f"The request body could not be read as JSON ({exc.detail}).",
            "Send a UTF-8 JSON object with 'Content-Type: application/json'.",
        )
    return error_response(
        exc.status_code,
        "http_error",
        str(exc.detail),
        "Check the request against the API reference at /docs.",
        headers=dict(exc.headers or {}),
    )


def _allowed_methods(request: Request) -> list[str]:
    """Every method the API documents at this path (FastAPI keeps one route per method)."""
    table = getattr(request.app.state, "allowed_methods", None)
    if table is None:
        table = [
            (compile_path(path)[0], {m.upper() for m in operations})
            for path, operations in request.app.openapi().get("paths", {}).items()
        ]
        request.app.state.allowed_methods = table
    methods: set[str] = set()
    for pattern, found in table:
        if pattern.match(request.url.path):
            methods |= found
    return sorted(methods)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        500,
        "internal_error",
        "Something went wrong on our side; the request may not have been carried out.",
        "Check the resource before retrying (for orders, retry with the same external_id: an "
        "order that was accepted answers 409 duplicate_external_id with its id). If it keeps "
        "happening, contact support with the time of the request.",
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.InkwellError, _inkwell_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message", "suggestion"],
    "properties": {
        "error": {"type": "string", "description": "Machine-readable code"},
        "message": {"type": "string"},
        "suggestion": {"type": "string"},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "error"],
                "properties": {
                    "recipient_index": {"type": ["integer", "null"]},
                    "field": {"type": "string"},
                    "error": {"type": "string"},
                },
            },
        },
    },
}

_WHEN = {
    "400": "validation_error (every problem in details) or invalid_json",
    "401": "The API key is missing, malformed, unknown, revoked or expired",
    "402": "insufficient_credits, with balance_cents, cost_cents, shortfall_cents",
    "403": "forbidden: the key lacks the endpoint's scope (required_scope)",
    "404": "not_found: no such id for this tenant",
    "409": "The resource's state does not allow it",
    "413": "payload_too_large: the body is over MAX_BODY_BYTES",
    "500": "internal_error",
}


def _statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    codes = ["400", "401", "403", "500"]
    if "{" in path or any(p.get("in") == "query" for p in operation.get("parameters", [])):
        codes.append("404")  # a path id, or a query filter naming an id, that is not ours
    if method in ("post", "put", "delete"):
        codes += ["404", "409", "413"]
    if method == "post" and path.endswith("/orders"):
        codes.append("402")
    return sorted(set(codes))


def document(spec: dict[str, Any]) -> dict[str, Any]:
    """Describe the error answers we really give: 400 (not FastAPI's 422) and the others."""
    spec.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for code in _statuses(path, method, operation):
                responses.setdefault(
                    code,
                    {"description": _WHEN[code], "content": {"application/json": {"schema": ref}}},
                )
    spec["components"]["schemas"].pop("HTTPValidationError", None)
    spec["components"]["schemas"].pop("ValidationError", None)
    return spec
