"""The composition root: the one place that turns settings into engines and sessions."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from engine.adapters import clock, database, secretbox, url_guard
from engine.adapters.unit_of_work import UnitOfWork
from engine.adapters.webhook_sender import WebhookSender
from engine.services.context import Caches
from engine.settings import DEFAULT_VAR_DIR, Settings, get_settings

log = logging.getLogger("inkwell")
T = TypeVar("T")


utcnow = clock.utcnow


@dataclass
class Inkwell:
    """Everything a service needs: settings, the database, the clock, the publisher."""

    settings: Settings
    engine: sa.Engine
    session_factory: sessionmaker[Session]
    #: Seals and opens the webhook signing secrets stored in the database.
    secret_keys: secretbox.Keyring
    clock: Callable[[], datetime] = utcnow
    #: Called after a unit of work commits; the process that can reach the broker sets it
    #: to relay the outbox at once (the scheduler relays anything it misses).
    after_commit: Callable[[], None] | None = None
    caches: Caches = field(default_factory=Caches)
    _closers: list[Callable[[], None]] = field(default_factory=list)
    _sender: WebhookSender | None = None
    _components: dict[type, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_close(self, closer: Callable[[], None]) -> None:
        """Run `closer` when the app closes (last added, first run)."""
        self._closers.append(closer)

    def component(self, kind: type[T], build: Callable[[], T]) -> T:
        """The process's one `kind`, built by `build` on first use and closed (if it has
        `close`) when the app closes."""
        with self._lock:
            found = self._components.get(kind)
            if found is None:
                found = self._components[kind] = build()
                close = getattr(found, "close", None)
                if callable(close):
                    self._closers.append(close)
            return found

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


class ConfigurationError(Exception):
    """The settings cannot run a process; the message says what to set."""


#: Where a process without DATABASE_URL keeps the key it generated on first start.
EMBEDDED_KEY_FILE = DEFAULT_VAR_DIR / "secret_key"


def keyring(settings: Settings) -> secretbox.Keyring:
    """The key that seals webhook secrets, plus the older ones that may still open them.

    Raises:
        ConfigurationError: DATABASE_URL without SECRET_KEY, or a malformed key.
    """
    current = settings.secret_key
    if current is None:
        if settings.database_url is not None:
            raise ConfigurationError(
                "SECRET_KEY is required when DATABASE_URL is set: it encrypts webhook "
                "signing secrets at rest. Generate one with `inkwell secrets new-key` and "
                "give every process the same value."
            )
        current = secretbox.load_or_create_key_file(EMBEDDED_KEY_FILE)
    try:
        return secretbox.Keyring.from_text(current, settings.secret_key_previous)
    except secretbox.BadKey as e:
        raise ConfigurationError(str(e)) from e


def bootstrap(settings: Settings | None = None) -> Inkwell:
    """Build an Inkwell from settings (the environment's when not given). Opens nothing yet.

    Raises:
        ConfigurationError: the settings lack a usable SECRET_KEY.
    """
    settings = settings or get_settings()
    box = keyring(settings)
    engine = database.create_engine(
        settings.effective_database_url, pool_size=settings.db_pool_size
    )
    factory = sessionmaker(engine, expire_on_commit=False)
    app = Inkwell(settings=settings, engine=engine, session_factory=factory, secret_keys=box)
    if engine.dialect.name == "postgresql":
        app.clock = clock.DatabaseClock(engine)  # one time for every process (adapters.clock)
    return app
