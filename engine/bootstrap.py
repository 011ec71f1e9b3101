"""The composition root: the one place that turns settings into engines and sessions."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from engine.adapters import database, url_guard
from engine.adapters.unit_of_work import UnitOfWork
from engine.adapters.webhook_sender import WebhookSender
from engine.settings import Settings, get_settings

log = logging.getLogger("inkwell")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Inkwell:
    """Everything a service needs: settings, the database, the clock, the publisher."""

    settings: Settings
    engine: sa.Engine
    session_factory: sessionmaker[Session]
    clock: Callable[[], datetime] = utcnow
    #: Called after a unit of work commits; the process that can reach the broker sets it
    #: to relay the outbox at once (the scheduler relays anything it misses).
    after_commit: Callable[[], None] | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)
    _sender: WebhookSender | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, self._after_commit)

    def _after_commit(self) -> None:
        if self.after_commit is not None:
            self.after_commit()

    @property
    def sender(self) -> WebhookSender:
        """The process's pooled webhook HTTP client, made on first use."""
        with self._lock:
            if self._sender is None:
                self._sender = WebhookSender(
                    self.settings.webhook_timeout_s,
                    allow_private=self.settings.webhook_allow_private_targets,
                    resolve=url_guard.system_resolver(self.settings.webhook_dns_timeout_s),
                )
                self._closers.append(self._sender.close)
            return self._sender

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer()
        self.engine.dispose()


def bootstrap(settings: Settings | None = None) -> Inkwell:
    """Build an Inkwell from settings (the environment's when not given). Opens nothing yet."""
    settings = settings or get_settings()
    engine = database.create_engine(
        settings.effective_database_url, pool_size=settings.db_pool_size
    )
    factory = sessionmaker(engine, expire_on_commit=False)
    return Inkwell(settings=settings, engine=engine, session_factory=factory)
