"""The Inkwell a worker process runs on: built on first use, never at import."""

from __future__ import annotations

import threading

from engine.bootstrap import Inkwell, bootstrap
from engine.settings import get_settings
from workers.broker import broker
from workers.relay import Relay, publisher, room

#: Worker and web processes also publish what they write at once; this timer is only their
#: backstop (the scheduler relays on its own, faster timer).
PROCESS_RELAY_INTERVAL_S = 5.0

_lock = threading.RLock()
_app: Inkwell | None = None


def install(app: Inkwell, *, relay_interval_s: float = PROCESS_RELAY_INTERVAL_S) -> Inkwell:
    """Make `app` this process's Inkwell and start its outbox relay."""
    global _app
    with _lock:
        relay = Relay(
            app, publisher(broker), room(broker, app.settings.queue_backlog_max), relay_interval_s
        ).start()
        app.after_commit = relay.wake
        app.on_close(relay.stop)
        _app = app
    return app


def inkwell() -> Inkwell:
    """This process's Inkwell, built from the environment the first time (once, however
    many worker threads ask at the same moment)."""
    with _lock:
        if _app is not None:
            return _app
        return install(bootstrap(get_settings()))


def reset() -> None:
    """Forget the installed Inkwell (tests and embedded shutdown)."""
    global _app
    with _lock:
        _app = None
