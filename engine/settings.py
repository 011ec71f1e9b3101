"""Every setting Inkwell reads, in one typed object.

Environment variables are read once, by `get_settings()`; nothing reads the environment at
import time. Unset means the embedded default (SQLite file, in-process broker).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_VAR_DIR = Path("var")
#: Time a webhook actor may spend on the database around its one attempt.
WEBHOOK_DB_ALLOWANCE_S = 20.0
#: A delivery's lease outlives the actor's time limit by this much (clock skew, slow commit).
WEBHOOK_LEASE_MARGIN_S = 30.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    #: SQLAlchemy URL; `postgresql://…` in production. Unset: a SQLite file under var/.
    database_url: str | None = None
    #: Redis broker URL (`amqp://…` selects RabbitMQ). Unset: in-process broker.
    redis_url: str | None = None
    #: Key prefix in Redis, so several deployments (or test runs) can share one server.
    redis_namespace: str = "inkwell"
    #: Where rendered PDFs, proofs and uploads are written.
    storage_dir: Path = DEFAULT_VAR_DIR / "storage"
    #: Base URL the API is reached at, used in links handed to partners.
    public_base_url: str = "http://127.0.0.1:8000"
    #: Key that encrypts webhook signing secrets at rest (`inkwell secrets new-key`).
    #: Required with DATABASE_URL; otherwise generated once under var/.
    secret_key: str | None = None
    #: Older keys, comma-separated, still accepted for decrypting during a key rotation.
    secret_key_previous: Annotated[tuple[str, ...], NoDecode] = ()
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    #: Bearer token for the admin endpoints; unset disables them.
    admin_token: str | None = None
    #: Allow webhook targets on loopback/private addresses (tests and the demo only).
    webhook_allow_private_targets: bool = False
    #: One webhook attempt, whole exchange (connect to last byte kept), not per read.
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    #: A webhook URL's DNS lookup (registration, update, each send) gives up after this.
    webhook_dns_timeout_s: float = Field(default=2.0, gt=0)
    #: Delays between webhook attempts, seconds (default as in the reference: 30 s, 5 min, 1 h).
    webhook_retry_schedule_s: Annotated[tuple[int, ...], NoDecode] = (30, 300, 3600)
    webhook_max_consecutive_failures: int = 3
    #: Manual resends (`POST /webhooks/resend`) and retries allowed per endpoint per hour.
    webhook_manual_sends_per_hour: int = Field(default=100, ge=1)
    #: Default window after creation during which an order can be cancelled for free.
    order_cancel_window_s: int = Field(default=300, ge=0)
    #: An order left in one pipeline stage longer than this is re-enqueued by the sweeper.
    stage_deadline_s: int = Field(default=60, ge=1)
    #: The events feed holds back events younger than this, so none is skipped by a reader.
    events_settle_s: float = Field(default=2.0, ge=0)
    #: How often the scheduler relays the outbox, seconds.
    scheduler_interval_s: float = Field(default=0.5, gt=0)
    #: Most messages the relay keeps waiting in each broker queue for a worker (taken ones,
    #: prefetched or running, do not count). The rest wait in the outbox, where the relay
    #: serves tenants round-robin: one tenant's burst delays another's order by at most this
    #: many messages (plus the workers' prefetch) per stage.
    queue_backlog_max: int = Field(default=64, ge=1)
    #: A tenant's jobs of one kind go to the express queues (served first) while it has at
    #: most this many waiting or sent in the last 5 seconds; 0 turns the express lane off.
    express_lane_max: int = Field(default=8, ge=0)
    #: How long an idle worker waits before looking at an express queue again, ms (plain
    #: queues: dramatiq's `dramatiq_worker_timeout`, WORKER_POLL_MS in the Procfile).
    express_poll_ms: int = Field(default=20, ge=1)
    #: Largest request body the API accepts, bytes.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    #: Requests per minute per API key (sliding window).
    rate_limit_per_minute: int = Field(default=1000, ge=1)
    #: Threads per web process running endpoints. Few: many threads starve the one that
    #: holds a wallet row lock of the GIL, and every order queues behind it.
    web_threads: int = Field(default=8, ge=1)
    #: An API key's lookup is reused this long in a process (revocation elsewhere takes
    #: effect within it; in the revoking process at once).
    auth_cache_s: float = Field(default=5.0, ge=0)
    #: A tenant's prices and cancel window are reused this long per process when pricing
    #: orders (an operator's change applies within it).
    tenant_cache_s: float = Field(default=5.0, ge=0)
    #: A new order not written within this many seconds answers 503 service_busy (and is
    #: then certainly not written).
    intake_deadline_s: float = Field(default=10.0, gt=0)
    #: SQLAlchemy pool size per process.
    db_pool_size: int = Field(default=10, ge=1)
    #: Worker sizing, read by the Procfile's process types.
    worker_processes: int = Field(default=2, ge=1)
    worker_threads: int = Field(default=8, ge=1)
    log_level: str = "INFO"

    @field_validator("webhook_retry_schedule_s", mode="before")
    @classmethod
    def _parse_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            return tuple(int(p) for p in parts)
        if isinstance(value, int):
            return (value,)
        return value

    @field_validator("secret_key_previous", mode="before")
    @classmethod
    def _parse_previous_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value

    @field_validator("webhook_retry_schedule_s")
    @classmethod
    def _check_schedule(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(v < 0 for v in value):
            raise ValueError("retry delays must be >= 0 seconds")
        return value

    @property
    def webhook_time_limit_s(self) -> float:
        """The deliver_webhook actor's time limit: one lookup, one attempt, then the
        database work around it (claim, record) with room to spare."""
        return self.webhook_dns_timeout_s + self.webhook_timeout_s + WEBHOOK_DB_ALLOWANCE_S

    @property
    def webhook_lease_s(self) -> float:
        """How long a claimed delivery is held: longer than the actor may run, so a slow
        send is never claimed and sent again while it is still running."""
        return self.webhook_time_limit_s + WEBHOOK_LEASE_MARGIN_S

    @property
    def embedded(self) -> bool:
        """True when no external database or broker is configured."""
        return self.database_url is None and self.redis_url is None

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(DEFAULT_VAR_DIR / 'inkwell.sqlite3').as_posix()}"


def normalise_database_url(url: str) -> str:
    """Point plain `postgresql://` URLs at psycopg 3, the driver we ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first call."""
    return Settings()
