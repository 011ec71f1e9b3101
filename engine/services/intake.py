"""Group commit for new orders: one writer thread per process takes every order waiting
and writes them in one transaction, so a tenant's wallet row is locked once per batch
instead of once per order (the row every order of a tenant must touch).

A request thread prepares its order (validation, pricing), hands it over and waits for its
own answer. A batch that fails as a whole is retried order by order, so one bad order
never fails the others.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

from engine import errors
from engine.bootstrap import Inkwell
from engine.services import orders

log = logging.getLogger("inkwell.intake")
MAX_BATCH = 100
#: A request never waits longer than this for its batch (the writer is stuck or gone).
WAIT_S = 60.0

_Item = tuple[orders.Prepared, "Future[orders.CreatedOrder]"]


class Intake:
    def __init__(self, app: Inkwell) -> None:
        self.app = app
        self._closed = False
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="order-intake", daemon=True)
        self._thread.start()

    def submit(self, prepared: orders.Prepared) -> orders.CreatedOrder:
        if self._closed:
            raise RuntimeError("order intake is closed")
        future: Future[orders.CreatedOrder] = Future()
        self._queue.put((prepared, future))
        return future.result(timeout=WAIT_S)

    def close(self) -> None:
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list[_Item]) -> None:
        try:
            results = orders.write_orders(self.app, [p for p, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            log.warning("batch of %d orders failed (%s); writing them one by one", len(batch), exc)
            for item in batch:
                self._write([item])
            return
        for (_, future), result in zip(batch, results, strict=True):
            if isinstance(result, errors.InkwellError):
                future.set_exception(result)
            else:
                future.set_result(result)


_lock = threading.Lock()


def submit(app: Inkwell, prepared: orders.Prepared) -> orders.CreatedOrder:
    """Write one prepared order through the process's intake (started on first use)."""
    with _lock:
        intake: Intake | None = getattr(app, "_intake", None)
        if intake is None:
            intake = Intake(app)
            app._intake = intake  # type: ignore[attr-defined]
            app._closers.append(intake.close)
    return intake.submit(prepared)
