"""The audit rows and access records inside an incident's scope, without a PHI value.

What is selected, and why it is safe:

* audit rows (sealed ``audit_log`` and not yet sealed ``audit_buffer``) hold identifiers only:
  table, operation, changed column NAMES, actor, tenant, the row's key, the chain hashes
  (schema 002/008). The row's key and tenant are values of the audited row, so they are
  replaced by ``[redacted: PHI column]`` when that column is registered as PHI
  (``vigil db phi add``, 011): a table keyed by, say, a medical record number.
* access records: time, actor, tenant, action, success. ``resource`` and ``reason`` are free
  text an application may fill with anything (a patient's name in a denial reason), so they
  are never selected, as in the daily report (vigil/report/gather_db.py); ``action`` is kept
  only when it looks like an identifier.

Both are range scans of the window on a time index (``audit_log_logged_at`` of 015,
``access_log_ts`` of 003), bounded by ``limit``.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg.rows import dict_row

from vigil.investigate.scope import Scope

Conn = psycopg.Connection[Any]
REDACTED = "[redacted: PHI column]"
DEFAULT_LIMIT = 10_000
IDENT = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")   # an id, not free text

# Tables whose audited key column or tenant column is registered as PHI. The key the audit
# trigger records is whichever column ``enable_audit(table, pk)`` named (its first trigger
# argument, 011), not necessarily the primary key: both are checked, so rows logged before the
# trigger was re-keyed stay redacted too.
_PHI_KEYS = """
WITH phi AS (
    SELECT format('%I.%I', p.schema_name, p.table_name) AS qualified,
           to_regclass(format('%I.%I', p.schema_name, p.table_name)) AS rel,
           p.schema_name, p.table_name, p.column_name
    FROM vigil_monitor.phi_columns p)
SELECT phi.qualified,
       bool_or(EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid
                       AND a.attnum = ANY (i.indkey)
                       WHERE i.indrelid = phi.rel AND i.indisprimary
                         AND a.attname = phi.column_name)
               OR EXISTS (SELECT 1 FROM pg_trigger t
                          WHERE t.tgrelid = phi.rel AND t.tgname = 'vigil_audit'
                            AND position(convert_to(phi.column_name, 'UTF8')
                                         || decode('00', 'hex') IN t.tgargs) = 1)) AS key_is_phi,
       bool_or(vigil_monitor.tenant_column_of(phi.schema_name, phi.table_name)
               = phi.column_name) AS tenant_is_phi
FROM phi WHERE phi.rel IS NOT NULL GROUP BY phi.qualified
"""

# In scope: every actor when the scope names none, else a named actor or tenant.
_AUDIT = """
SELECT * FROM (
    SELECT 'sealed' AS state, l.id AS seq, l.logged_at, l.tenant_id, l.actor_id, l.table_name,
           l.operation, l.row_pk, l.changed_columns, l.row_hash
    FROM vigil_monitor.audit_log l
    WHERE l.logged_at >= %(since)s AND l.logged_at <= %(until)s
      AND (%(everyone)s OR l.actor_id = ANY (%(actors)s) OR l.tenant_id = ANY (%(tenants)s))
    UNION ALL
    SELECT 'buffered', NULL, b.logged_at, b.tenant_id, b.actor_id, b.table_name, b.operation,
           b.row_pk, b.changed_columns, NULL
    FROM vigil_monitor.audit_buffer b
    WHERE b.logged_at >= %(since)s AND b.logged_at <= %(until)s
      AND (%(everyone)s OR b.actor_id = ANY (%(actors)s) OR b.tenant_id = ANY (%(tenants)s))
) r ORDER BY r.logged_at, r.seq LIMIT %(limit)s
"""

_ACCESS = """
SELECT a.id, a.ts, a.tenant_id, a.actor_id, a.action, a.success
FROM vigil_monitor.access_log a
WHERE a.ts >= %(since)s AND a.ts <= %(until)s
  AND (%(everyone)s OR a.actor_id = ANY (%(actors)s) OR a.tenant_id = ANY (%(tenants)s))
ORDER BY a.ts, a.id LIMIT %(limit)s
"""


def params(scope: Scope, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    return {"since": scope.since, "until": scope.until, "everyone": scope.everyone,
            "actors": list(scope.actors), "tenants": list(scope.tenants), "limit": limit}


def phi_keys(conn: Conn) -> dict[str, tuple[bool, bool]]:
    """Table -> (its key column is PHI, its tenant column is PHI)."""
    return {str(r[0]): (bool(r[1]), bool(r[2])) for r in conn.execute(_PHI_KEYS)}


def audit_rows(conn: Conn, scope: Scope, limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    phi = phi_keys(conn)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_AUDIT, params(scope, limit)).fetchall()
    for row in rows:
        key_phi, tenant_phi = phi.get(row["table_name"], (False, False))
        if key_phi and row["row_pk"] is not None:
            row["row_pk"] = REDACTED
        if tenant_phi and row["tenant_id"] is not None:
            row["tenant_id"] = REDACTED
        row["logged_at"] = row["logged_at"].isoformat()
        row["changed_columns"] = list(row["changed_columns"] or [])
    return rows


def access_records(conn: Conn, scope: Scope, limit: int = DEFAULT_LIMIT
                   ) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_ACCESS, params(scope, limit)).fetchall()
    for row in rows:
        row["ts"] = row["ts"].isoformat()
        if not IDENT.match(row["action"] or ""):
            row["action"] = "[redacted: free text]"
    return rows
