"""One transaction per use case: rolled back unless the service says commit."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

#: Work to add to every transaction this thread commits, just before COMMIT (a job run
#: sets it so its record lands with the stage's own changes: engine/services/jobs.py).
BEFORE_COMMIT: contextvars.ContextVar[Callable[[Session], None] | None] = contextvars.ContextVar(
    "before_commit", default=None
)


class UnitOfWork:
    """`with uow: ...; uow.commit()`; leaving the block without commit rolls back."""

    session: Session

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._after_commit = after_commit
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        self._committed = False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back whatever was not committed and detaches the objects without
        # expiring them, so what a service returns stays readable after the block.
        self.session.close()

    def commit(self, *, midway: bool = False) -> None:
        """Commit; then, if the transaction wrote outbox rows, run the after-commit hook.

        `midway`: this commit finishes nothing (a claim taken before the work it guards),
        so the running job's record is not written with it."""
        wrote_outbox = self.session.info.pop("outbox_dirty", False)
        hook = BEFORE_COMMIT.get()
        if hook is not None and not midway:
            hook(self.session)
        self.session.commit()
        self._committed = True
        if wrote_outbox and self._after_commit is not None:
            self._after_commit()
