"""``--check-config`` against the targets: does each custom query parse, and does it return
the columns its metrics name?

The static checks (exporter/config.py) cannot see a misspelt column or a label the query
never returns; the run time would fail on them every interval. When a target is reachable,
each custom query that runs on it is PREPAREd (parsed and planned, never executed) inside a
read-only transaction that is rolled back, and the prepared statement's result columns are
compared with the metric's value, labels and watermark. An unreachable target is reported
as not checked, not as a pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import psycopg
from psycopg import pq

from exporter import sqlcheck
from exporter.config import ExporterConfig, MetricConfig
from vigil.core import pg
from vigil.core.errors import DatabaseUnavailable

# SQLSTATE classes that say the query itself is wrong (syntax, unknown or forbidden object,
# data type, unsupported feature); others (a lock, a timeout) say only that now it could not
# be checked.
_QUERY_ERRORS = ("42", "22", "0A")
# The parameters a watermark query takes (docs/exporter.md), as the server numbers them.
_PARAMS = {"watermark": "$1", "batch": "$2"}
_PARAM = re.compile(r"%\((watermark|batch)\)s|%%")


@dataclass
class Report:
    errors: list[tuple[str, str]] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)   # why a target was not checked
    checked: int = 0                                      # queries prepared


def check_targets(cfg: ExporterConfig) -> Report:
    report = Report()
    for target in cfg.targets:
        queries = [(f"custom_collectors[{i}].queries[{j}]", q, any(m.watermark for m in q.metrics))
                   for i, c in enumerate(cfg.custom_collectors)
                   if target.collectors is None or c.name in target.collectors
                   for j, q in enumerate(c.queries)]
        if not queries:
            continue
        try:
            conn = pg.connect(target.dsn, application_name="vigil-exporter-check",
                              connect_timeout=max(2, int(target.pool.connect_timeout)))
        except DatabaseUnavailable as exc:
            report.unchecked.append(f"target {target.name}: custom SQL not checked, the target "
                                    f"is not reachable ({exc})")
            continue
        with conn:
            for where, q, watermark in queries:
                columns, why = _describe(conn, q.sql, watermark)
                if why is not None and not why.startswith(_QUERY_ERRORS):
                    report.unchecked.append(f"{where}.sql: not checked on target "
                                            f"{target.name}: {why}")
                    continue
                report.checked += 1
                if why is not None:
                    report.errors.append((f"{where}.sql", f"invalid SQL ({why}; on target "
                                                          f"{target.name})"))
                    continue
                for k, m in enumerate(q.metrics):
                    report.errors.extend(_columns(f"{where}.metrics[{k}]", columns, m,
                                                  target.name))
    return report


def _server_sql(sql: str, watermark: bool) -> str:
    """The statement as the server sees it: psycopg turns %(name)s into $n and %% into %
    only when the query has parameters (a watermark query); otherwise it is sent as is."""
    text = sqlcheck.strip(sql)
    if not watermark:
        return text
    return _PARAM.sub(lambda m: _PARAMS.get(m.group(1) or "", "%"), text)


def _describe(conn: psycopg.Connection[tuple[object, ...]], sql: str, watermark: bool,
              ) -> tuple[tuple[str, ...], str | None]:
    """(result columns, None), or ((), why it does not prepare: "SQLSTATE ...")."""
    pgconn = conn.pgconn
    conn.execute("BEGIN READ ONLY")
    try:
        # Planning takes the tables' share locks: a locked table must not hang the check.
        conn.execute("SET LOCAL lock_timeout = '2s'")
        conn.execute("SET LOCAL statement_timeout = '5s'")
        res = pgconn.prepare(b"", _server_sql(sql, watermark).encode())
        if res.status != pq.ExecStatus.COMMAND_OK:
            return (), _error(res)
        desc = pgconn.describe_prepared(b"")
        if desc.status != pq.ExecStatus.COMMAND_OK:
            return (), _error(desc)
        return tuple((desc.fname(i) or b"").decode() for i in range(desc.nfields)), None
    finally:
        conn.execute("ROLLBACK")


def _error(res: pq.abc.PGresult) -> str:
    """The server's reason: SQLSTATE, position and primary message (about the operator's own
    query text, which the config file already holds; never a row value)."""
    state = (res.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
    message = (res.error_field(pq.DiagnosticField.MESSAGE_PRIMARY) or b"").decode()
    position = (res.error_field(pq.DiagnosticField.STATEMENT_POSITION) or b"").decode()
    at = f" at character {position}" if position else ""
    return f"{state}{at}: {message}"


def _columns(where: str, columns: tuple[str, ...], m: MetricConfig, target: str,
             ) -> list[tuple[str, str]]:
    returned = f"it returns {', '.join(columns) or 'no column'}; on target {target}"
    out: list[tuple[str, str]] = []
    if m.value not in columns:
        out.append((f"{where}.value", f"the query returns no column {m.value!r} ({returned})"))
    out.extend((f"{where}.labels", f"label {label!r} is not a column the query returns "
                                   f"({returned})")
               for label in m.labels if label not in columns)
    if m.watermark and m.watermark not in columns:
        out.append((f"{where}.watermark", f"the query returns no column {m.watermark!r} "
                                          f"({returned})"))
    return out
