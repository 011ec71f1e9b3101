"""The web process, killed between a commit and its publish when the test asks:
`uvicorn tests.e2e.crashing_web:app` with CRASH_MARKER set to a file path.

While that file exists, the next commit that wrote outbox rows (an order accepted) ends
the process at once, after the commit and before the relay is woken: the order is in the
database, its first job only in the outbox, and the client gets no answer. The file is
removed first, so the restarted process runs normally.
"""

from __future__ import annotations

import os
from pathlib import Path

from api.app import create_app
from engine.bootstrap import bootstrap

MARKER = Path(os.environ["CRASH_MARKER"])
inkwell = bootstrap()
_after_commit = inkwell._after_commit


def _crash_or_publish() -> None:
    if MARKER.exists():
        MARKER.unlink()
        os._exit(9)
    _after_commit()


# The unit of work calls this bound hook after each commit (Inkwell.uow).
inkwell._after_commit = _crash_or_publish  # type: ignore[method-assign]
app = create_app(inkwell, background=True)
