"""Request bodies as documented in the OpenAPI contract.

Bodies are read as plain JSON objects and checked by the engine's rules, so that every
problem is reported at once with its field; these models describe them for /docs and
client generators.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from engine.domain import event_types


class ReturnAddressIn(BaseModel):
    name: str = Field(max_length=100)
    line1: str | None = Field(
        default=None, max_length=255, description="Required, as line1 or address_line1"
    )
    line2: str | None = Field(default=None, max_length=255)
    address_line1: str | None = Field(default=None, max_length=255, description="001's line1")
    address_line2: str | None = Field(default=None, max_length=255, description="001's line2")
    city: str = Field(max_length=100)
    state: str | None = Field(default=None, description="2-letter code for US addresses")
    zip: str | None = Field(default=None, description="5 digits or ZIP+4 for US addresses")
    country: str = Field(default="US", description="ISO 3166 alpha-2")


class RecipientIn(BaseModel):
    first_name: str = Field(max_length=100)
    last_name: str = Field(max_length=100)
    address_line1: str = Field(max_length=255)
    address_line2: str | None = Field(default=None, max_length=255)
    city: str = Field(max_length=100)
    state: str | None = Field(default=None, description="2-letter USPS code; required for US")
    zip: str | None = Field(
        default=None, description="5 digits or ZIP+4 (e.g. 78701-1234); required for US"
    )
    country: str = Field(default="US", description="ISO 3166 alpha-2")
    custom_fields: dict[str, Any] | None = Field(
        default=None, description="Merge fields, used as {{name}} in message_body"
    )


class OrderCreate(BaseModel):
    message_body: str = Field(min_length=1, max_length=7500)
    recipients: list[RecipientIn] = Field(min_length=1, max_length=100)
    product_type: Literal["letter", "card", "postcard"] = "letter"
    paper_type: Literal["standard", "premium"] = "standard"
    envelope_type: Literal["standard", "none"] | None = Field(
        default=None, description="Defaults to standard; postcards take none"
    )
    mailing_option: Literal["we_mail", "print_send", "drop_ship"] | None = None
    handwriting_style: str | None = Field(default=None, description="Font id or name")
    authenticity_preset: str | None = None
    return_address: ReturnAddressIn | None = None
    skip_invalid: bool = Field(
        default=False,
        description="Accept the order without the recipients that fail validation",
    )
    send_date: datetime | None = Field(
        default=None, description="Mail no earlier than this (up to 180 days ahead)"
    )
    metadata: dict[str, str] | None = Field(
        default=None,
        description="Your own string pairs, echoed in answers and webhooks "
        "(at most 20 keys of 40 characters, values of 500, 8 KB in all)",
    )
    external_id: str | None = Field(
        default=None,
        max_length=255,
        description="Your own id; a second order with it answers 409 duplicate_external_id",
    )


class KeyCreate(BaseModel):
    name: str = Field(max_length=100)
    permissions: list[str] | None = Field(
        default=None, description="Scopes; default: all of the calling key's scopes"
    )
    expires_at: datetime | None = None


class WebhookCreate(BaseModel):
    url: str = Field(description="https:// URL on a public host")
    events: list[str] = Field(
        default=[event_types.WILDCARD],
        description=f"{event_types.listed()}, or {event_types.WILDCARD} for all",
    )


class WebhookUpdate(BaseModel):
    url: str | None = None
    events: list[str] | None = None
    is_active: bool | None = None


class WebhookResend(BaseModel):
    order_id: str
    event: str


DOCUMENTED: list[type[BaseModel]] = [
    OrderCreate,
    KeyCreate,
    WebhookCreate,
    WebhookUpdate,
    WebhookResend,
]


def documented_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` that documents a route's JSON body as `model`."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }


def add_to_openapi(spec: dict[str, Any]) -> dict[str, Any]:
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for model in DOCUMENTED:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas[model.__name__] = schema
    return spec
