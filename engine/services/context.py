"""What a service receives: the process's Context, seen through what services may use.

Built once by the composition root (`engine/bootstrap.py`) and passed in; no service
imports the root or hangs state on it. Per-process state is declared here: `caches` for
lookups reused between requests, and `component` for the few long-lived helpers a
process starts on first use (the order intake writer, the job-record writer).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa

from engine.adapters import secretbox
from engine.adapters.unit_of_work import UnitOfWork
from engine.adapters.webhook_sender import WebhookSender
from engine.settings import Settings

T = TypeVar("T")


@dataclass
class Caches:
    """Per-process lookups, each bounded and timed by its own service."""

    #: API key digest -> what it authenticates as (engine/services/keys.py).
    keys: dict[str, Any] = field(default_factory=dict)
    #: Tenant id -> (read at, detached row) (engine/services/tenants.py).
    tenants: dict[uuid.UUID, tuple[float, Any]] = field(default_factory=dict)
    #: (fresh until, monotonic s; the catalogue's default font id) (engine/services/fonts.py).
    default_font: tuple[float, uuid.UUID | None] | None = None


class Context(Protocol):
    settings: Settings
    #: Seals and opens the webhook signing secrets stored in the database.
    secret_keys: secretbox.Keyring
    caches: Caches
    engine: sa.Engine

    @property
    def clock(self) -> Callable[[], datetime]:
        """The time every service reads (the database's, on PostgreSQL)."""
        ...

    def uow(self) -> UnitOfWork:
        """A unit of work: one transaction, rolled back unless committed."""
        ...

    @property
    def sender(self) -> WebhookSender:
        """The process's pooled webhook HTTP client."""
        ...

    def component(self, kind: type[T], build: Callable[[], T]) -> T:
        """The process's one `kind`, built by `build` on first use and closed (if it has
        `close`) with the process."""
        ...
