"""py-spy attached to one running worker process, its samples summed up as text.

py-spy rather than pyinstrument: it attaches to a process already running by its pid and
samples every thread in it (a worker runs 8); pyinstrument profiles the thread that starts
it, from inside the process.
"""

from __future__ import annotations

import collections
import itertools
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from bench.stack import BIN, ROOT

RATE_HZ = 100
TOP = 30


class Attached:
    """`py-spy record` on `pid` until `stop()`; raw folded stacks to `raw_path`."""

    def __init__(self, pid: int, raw_path: Path) -> None:
        exe = BIN / "py-spy"
        found = str(exe) if exe.exists() else shutil.which("py-spy")
        if not found:
            raise RuntimeError("py-spy is not installed: `make install` adds the dev group")
        self.raw_path = raw_path
        self.proc = subprocess.Popen(
            # --gil: sample only the thread holding the GIL, i.e. where the process's Python
            # CPU goes (the workers are CPU bound; a thread waiting on Postgres inside
            # psycopg's C code would otherwise count as busy). --nonblocking: never pause
            # the worker. --nolineno: sum samples per function rather than per line.
            [
                found,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(RATE_HZ),
                "--gil",
                "--nonblocking",
                "--nolineno",
                "--format",
                "raw",
                "--output",
                str(raw_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=60)
        if not self.raw_path.exists():
            raise RuntimeError(f"py-spy wrote nothing: {err.decode(errors='replace')[-2000:]}")


def summarise(raw_path: Path, heading: str, seconds: float) -> str:
    """The top functions by own and by total samples, from py-spy's folded stacks."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw_path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";")]
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    busy = samples / (seconds * RATE_HZ)
    lines = [
        heading,
        f"{samples} samples at {RATE_HZ} Hz of the thread holding the GIL over {seconds:.0f} s:"
        f" some thread ran Python code in {busy:.0%} of the ticks",
        "",
    ]
    for title, counter in (("own time", own), ("total time (self and callees)", total)):
        lines.append(f"top {TOP} by {title}:")
        lines.append(f"{'own %':>7} {'total %':>8}  function (file)")
        shown = (f for f, _ in counter.most_common() if not _plumbing(f))
        for frame in itertools.islice(shown, TOP):
            lines.append(
                f"{100 * own[frame] / max(samples, 1):7.1f} "
                f"{100 * total[frame] / max(samples, 1):8.1f}  {frame}"
            )
        lines.append("")
    return "\n".join(lines)


_PREFIXES = sorted(
    {p for p in (*sys.path, str(ROOT)) if p and os.path.isabs(p)}, key=len, reverse=True
)


def _plumbing(frame: str) -> bool:
    """Frames under every sample (thread start, dramatiq's worker loop), which say nothing."""
    return frame.endswith(("(threading.py)", "(dramatiq/worker.py)"))


def _short(frame: str) -> str:
    """`fn (/long/path/site-packages/pkg/mod.py)` as `fn (pkg/mod.py)`."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for prefix in _PREFIXES:
        if where.startswith(prefix + os.sep):
            where = where[len(prefix) + 1 :]
            break
    return f"{name} ({where})" if where else name
