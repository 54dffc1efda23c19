"""Legal hold: an incident's scope recorded in ``vigil_monitor.legal_holds`` (schema 015).

Retention (``maintain_trim``, run by ``vigil db maintain``) keeps every access, PHI-access and
rollup row inside an unreleased hold's window and actors/tenants. Holding again widens the
scope (the incident grew; it never shrinks); releasing keeps the row, with who and when,
for the record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from vigil.investigate.scope import Scope

Conn = psycopg.Connection[Any]

# Holding again only ever widens a hold in force (earliest since, latest until with NULL =
# open, union of actors and tenants; no actor and no tenant = everyone, and stays so): a later,
# narrower ``hold`` or ``collect --hold`` must not let retention delete rows held before.
# A released hold is replaced by the new scope.
_HOLD = """
INSERT INTO vigil_monitor.legal_holds AS h (incident_id, since, until, actors, tenants, held_by)
VALUES (%(id)s, %(since)s, %(until)s, %(actors)s, %(tenants)s, %(who)s)
ON CONFLICT (incident_id) DO UPDATE
SET (since, until, actors, tenants) = (
        SELECT CASE WHEN f.fresh THEN excluded.since ELSE least(h.since, excluded.since) END,
               CASE WHEN f.fresh THEN excluded.until
                    WHEN h.until IS NULL OR excluded.until IS NULL THEN NULL
                    ELSE greatest(h.until, excluded.until) END,
               CASE WHEN f.fresh THEN excluded.actors WHEN f.everyone THEN '{}'::text[]
                    ELSE ARRAY(SELECT DISTINCT a FROM unnest(h.actors || excluded.actors) a
                               ORDER BY a) END,
               CASE WHEN f.fresh THEN excluded.tenants WHEN f.everyone THEN '{}'::text[]
                    ELSE ARRAY(SELECT DISTINCT t FROM unnest(h.tenants || excluded.tenants) t
                               ORDER BY t) END
        FROM (SELECT h.released_at IS NOT NULL AS fresh,
                     (cardinality(h.actors) = 0 AND cardinality(h.tenants) = 0)
                     OR (cardinality(excluded.actors) = 0
                         AND cardinality(excluded.tenants) = 0) AS everyone) f),
    held_by = excluded.held_by, held_at = clock_timestamp(),
    released_at = NULL, released_by = NULL
RETURNING incident_id, since, until, actors, tenants, held_at, held_by
"""
_RELEASE = """
UPDATE vigil_monitor.legal_holds SET released_at = clock_timestamp(), released_by = %(who)s
WHERE incident_id = %(id)s AND released_at IS NULL
RETURNING incident_id, released_at, released_by
"""


def _json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def hold(conn: Conn, scope: Scope, who: str, *, open_ended: bool) -> dict[str, Any]:
    """Record the hold; ``open_ended``: the incident is still open, keep what comes later."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_HOLD, {
            "id": scope.incident_id, "since": scope.since,
            "until": None if open_ended else scope.until, "actors": list(scope.actors),
            "tenants": list(scope.tenants), "who": who}).fetchone()
    assert row is not None
    return _json(row)


def release(conn: Conn, incident_id: int, who: str) -> dict[str, Any] | None:
    """Release the hold; None when the incident has no hold in force."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_RELEASE, {"id": incident_id, "who": who}).fetchone()
    return _json(row) if row else None
