"""`inkwell scheduler` with its clock skewed: `python -m tests.e2e.skewed_scheduler 600`.

The scheduler reads the time only through its Inkwell's `clock` (engine/bootstrap.py), so
this wraps the `bootstrap` the scheduler calls and sets that clock ahead; the engine
itself has no hook for it. Only this process is skewed, as a machine with a fast clock
would be; the database's and the other processes' clocks stay true.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

from engine.bootstrap import Inkwell, utcnow
from engine.settings import Settings
from workers import scheduler


def main(skew_s: float) -> int:
    skew = timedelta(seconds=skew_s)
    real_bootstrap = scheduler.bootstrap

    def skewed(settings: Settings | None = None) -> Inkwell:
        app = real_bootstrap(settings)

        def clock() -> datetime:
            return utcnow() + skew

        app.clock = clock
        return app

    scheduler.bootstrap = skewed  # type: ignore[assignment]
    return scheduler.main()


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1])))
