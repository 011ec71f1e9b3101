"""Logs keep errors, not the rows they quote.

A filter on the process's log handlers runs every record's message and traceback through
`redact.operator_text`, so a database error logged by our code, uvicorn or dramatiq never
writes a message body, a name or a street address (Postgres quotes failing rows in its
DETAIL text even with `hide_parameters`). Installed once per process by its entry point.
"""

from __future__ import annotations

import logging

from engine.domain import redact

_FORMATTER = logging.Formatter()


class Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not record.exc_text:
            record.exc_text = redact.operator_text(_FORMATTER.formatException(record.exc_info))
        if record.args or "\n" in str(record.msg):
            record.msg = redact.operator_text(record.getMessage())
            record.args = None
        return True


_FILTER = Redact()


def install() -> None:
    """Add the filter to every handler the root logger and the servers' loggers have now
    (handlers added later, by a framework configuring itself after us, need another call)."""
    for name in (None, "uvicorn", "uvicorn.error", "dramatiq"):
        for handler in logging.getLogger(name).handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
