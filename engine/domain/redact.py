"""Error text made fit for job records and logs: the error kept, the row values dropped.

Operators read exception messages and tracebacks, but those must not hold message bodies,
names or street addresses. SQLAlchemy runs with `hide_parameters`, yet Postgres puts row
values in its own text: `DETAIL:  Failing row contains (…)`, `Key (col)=(value)`,
`CONTEXT:  JSON data, line 1: …` and `invalid input syntax for type uuid: "value"`.
SQLAlchemy's `[SQL: …]` block is dropped too (a statement can carry literals).
"""

from __future__ import annotations

import re

HIDDEN = "(hidden)"

#: A Postgres DETAIL/CONTEXT/HINT/… part up to the end of its message: the next SQLAlchemy
#: block, a blank line (tracebacks), the next chained exception's header or the end.
_PG_PARTS = re.compile(
    r"\n(?:DETAIL|CONTEXT|HINT|QUERY|WHERE|STATEMENT|LINE \d+):.*?"
    r"(?=\n\[SQL|\n\[parameters|\n\(Background|\n\n|\nThe above exception|\nDuring handling|\Z)",
    re.DOTALL,
)
#: SQLAlchemy's statement and parameter blocks.
_SQL_BLOCK = re.compile(
    r"\n?\[SQL: .*?\](?=\n\[|\n\(Background|\n\n|\nThe above exception|\nDuring handling|\Z)",
    re.DOTALL,
)
_PARAMETERS = re.compile(
    r"\n?\[(?:SQL )?parameters[: ].*?\](?=\n\(Background|\n\n|\nThe above exception|\Z)",
    re.DOTALL,
)
#: Values Postgres quotes in a primary message (`…for type integer: "Jane"`,
#: `value "x" is out of range`); identifiers it quotes (`relation "orders"`) stay.
_QUOTED_VALUE = re.compile(r'(?:(?<=: )|(?<=value ))"(?:[^"\n]|"")*"')
_FAILING_ROW = re.compile(r"Failing row contains \(.*?\)\.?(?=\n|\Z)", re.DOTALL)
_KEY_VALUE = re.compile(r"Key \((.*?)\)=\(.*?\)(?= already exists| is not present|\.|\n|\Z)")


def operator_text(text: str) -> str:
    """`text` (an exception message or a traceback) without the values rows held (pure)."""
    text = _PG_PARTS.sub("", text)
    text = _SQL_BLOCK.sub("", text)
    text = _PARAMETERS.sub("", text)
    # Anything of the above not at a part's start (a message on one line, a log format).
    text = _FAILING_ROW.sub(f"Failing row contains {HIDDEN}", text)
    text = _KEY_VALUE.sub(rf"Key (\1)={HIDDEN}", text)
    return _QUOTED_VALUE.sub(HIDDEN, text)
