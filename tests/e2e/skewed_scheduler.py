"""`inkwell scheduler` with its clock skewed: `python -m tests.e2e.skewed_scheduler 600`.

The scheduler reads the time only through its Inkwell's `clock` (engine/bootstrap.py), so
this wraps the `bootstrap` the scheduler calls and sets the machine clock under it ahead.
Only this process is skewed, as a machine with a fast clock would be; the database's and
the other processes' clocks stay true.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

from engine.adapters import clock
from engine.bootstrap import Inkwell, utcnow
from engine.settings import Settings
from workers import scheduler


def main(skew_s: float) -> int:
    skew = timedelta(seconds=skew_s)
    real_bootstrap = scheduler.bootstrap

    def skewed(settings: Settings | None = None) -> Inkwell:
        app = real_bootstrap(settings)

        def fast() -> datetime:
            return utcnow() + skew

        # The machine's clock runs fast; on PostgreSQL the process reads it through the
        # database-anchored clock (engine/adapters/clock.py), as production does.
        if isinstance(app.clock, clock.DatabaseClock):
            app.clock.local = fast
        else:
            app.clock = fast
        return app

    scheduler.bootstrap = skewed  # type: ignore[assignment]
    return scheduler.main()


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1])))
