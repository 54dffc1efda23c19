"""Is a custom query exactly one read statement? Checked at config load (``--check-config``).

The run time enforces it too (the extended protocol accepts one statement, the transaction is
read-only); this check only makes the mistake visible before deployment, with its YAML path.
"""

from __future__ import annotations

import re

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
READ_KEYWORDS = ("select", "with", "values", "table")


def _code(sql: str) -> str:
    """``sql`` with string literals, quoted identifiers and comments blanked out; the same
    length, so a position in it is a position in ``sql``."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif sql.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(" " * (j - i))
            i = j
        elif c in "'\"":
            j = i + 1
            while j < n:
                if sql[j] == c and sql.startswith(c * 2, j):
                    j += 2
                elif sql[j] == c:
                    break
                else:
                    j += 1
            j = min(j + 1, n)
            out.append("x" * (j - i))
            i = j
        elif c == "$" and (m := _DOLLAR.match(sql, i)) and (i == 0 or not sql[i - 1].isalnum()):
            j = sql.find(m.group(0), m.end())
            j = n if j < 0 else j + len(m.group(0))
            out.append("x" * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def problem(sql: str) -> str | None:
    """Why ``sql`` is not one read-only statement, or None."""
    code = _code(sql).strip().rstrip(";").strip()
    if ";" in code:
        return ("must be exactly one statement: a ';' separates statements (the exporter runs "
                "each query alone in a read-only transaction)")
    words = code.split(None, 1)
    if not words or words[0].lower().lstrip("(") not in READ_KEYWORDS:
        return "must be a query: start with SELECT, WITH, VALUES or TABLE"
    return None


def strip(sql: str) -> str:
    """The statement without a trailing ';' (and what follows it: blanks, comments), ready to
    be wrapped in a subquery."""
    code = _code(sql).rstrip()
    if code.endswith(";"):
        return sql[:len(code) - 1]
    return sql
