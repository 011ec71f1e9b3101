"""Engines for Postgres (production) and SQLite (embedded), built the same way everywhere."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> sa.Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and serialised writers."""
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=True,
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _configure_sqlite(engine)
        return engine
    engine = sa.create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        # Errors and logs carry the SQL but never the values (bodies, names, addresses).
        hide_parameters=True,
    )
    _ping_when_idle(engine)
    return engine


#: A pooled connection unused for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_S = 1.0


def _ping_when_idle(engine: sa.Engine) -> None:
    """A connection the server dropped (restart, failover, idle kill) is found and replaced
    at checkout instead of failing the next transaction, as `pool_pre_ping` does, but only
    a connection idle for a while is asked: one back in the pool a moment ago was working,
    and pinging it too doubled the round trips of a short transaction. (If the server went
    away within that moment, the next statement fails as a disconnect, SQLAlchemy empties
    the pool, and the job retries or the request answers 503.)"""

    @sa.event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return  # new, or just used
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as e:
            raise sa.exc.DisconnectionError(f"pooled connection is gone: {e}") from e
        if not alive:
            raise sa.exc.DisconnectionError("pooled connection is gone")


def _configure_sqlite(engine: sa.Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and never takes the write lock up
    # front, so two writers can deadlock on upgrade. We take it ourselves with BEGIN IMMEDIATE
    # (SQLAlchemy's documented recipe); the embedded mode is one process, so this costs little.
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
