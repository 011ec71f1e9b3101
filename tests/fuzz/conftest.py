"""Counts the requests the fuzz pass sends and prints the total in the terminal summary."""

from __future__ import annotations

import pytest

REQUESTS: dict[str, int] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REQUESTS:
        total = sum(REQUESTS.values())
        terminalreporter.write_line(
            f"schemathesis: {total} requests over {len(REQUESTS)} operations"
        )
