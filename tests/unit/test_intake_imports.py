"""The intake writer knows orders only through `acceptance`: importing it, in a fresh
interpreter, loads none of the order modules (which import the intake themselves)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORDER_MODULES = [
    "engine.services.orders",
    "engine.services.preparation",
    "engine.services.order_writer",
]
PROBE = """
import json, sys
import engine.services.intake
print(json.dumps(sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)))
"""


def test_the_intake_imports_no_order_module() -> None:
    # Given a fresh interpreter
    # When it imports the intake
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(ORDER_MODULES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    # Then no order module came with it
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
