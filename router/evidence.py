"""The evidence bundles of an incident: ``GET|POST /api/v1/incidents/{id}/evidence``.

``vigil incident evidence collect`` writes a bundle on the responder's host and records it
here (path, the SHA-256 of its manifest, how many files, who, when), with an
``evidence_collected`` event in the incident's timeline in the same transaction. The router
holds the manifest hash apart from the bundle: ``vigil incident evidence verify --incident``
compares a bundle with it, so rewriting the files and the manifest together is still caught.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from psycopg.rows import dict_row

from router import identity, store
from router.http import error, json_body, path_int, reply
from router.keys import CLOCK, POOL

_HASH = re.compile(r"^[0-9a-f]{64}$")
MAX_PATH = 4096
MAX_FILES = 1_000_000
_LIST = ("SELECT id, incident_id, path, manifest_hash, files, collected_by, collected_at "
         "FROM vigil_router.evidence WHERE incident_id = %s ORDER BY id")
_RECORD = ("INSERT INTO vigil_router.evidence (incident_id, path, manifest_hash, files, "
           "collected_by, collected_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id, "
           "incident_id, path, manifest_hash, files, collected_by, collected_at")


async def _exists(conn: Any, incident_id: int) -> bool:
    cur = await conn.execute("SELECT 1 FROM vigil_router.incidents WHERE id = %s",
                             (incident_id,))
    return await cur.fetchone() is not None


async def list_evidence(request: web.Request) -> web.Response:
    incident_id = path_int(request, "id")
    async with request.app[POOL].connection() as conn:
        if not await _exists(conn, incident_id):
            return error(404, "no such incident")
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_LIST, (incident_id,))
            rows = await cur.fetchall()
    return reply({"incident_id": incident_id, "evidence": rows})


def _problem(doc: dict[str, Any]) -> tuple[str, str] | None:
    """(field, message) of the first bad field, or None."""
    path = doc.get("path")
    if not isinstance(path, str) or not path.strip() or len(path) > MAX_PATH:
        return "path", f"path: required non-empty string of at most {MAX_PATH} characters"
    digest = doc.get("manifest_hash")
    if not isinstance(digest, str) or not _HASH.match(digest):
        return "manifest_hash", "manifest_hash: expected 64 lowercase hex digits (SHA-256)"
    files = doc.get("files")
    if isinstance(files, bool) or not isinstance(files, int) or not 0 <= files <= MAX_FILES:
        return "files", f"files: expected an integer from 0 to {MAX_FILES}"
    who = doc.get("who", "api")
    if not isinstance(who, str) or not who.strip() or len(who) > 200:
        return "who", "who: expected a non-empty string of at most 200 characters"
    return None


async def record_evidence(request: web.Request) -> web.Response:
    incident_id = path_int(request, "id")
    doc = await json_body(request)
    if (refused := identity.claim(request, doc)) is not None:
        return refused
    problem = _problem(doc)
    if problem:
        return error(400, problem[1], problem[0])
    who = str(doc.get("who", "api"))
    now = request.app[CLOCK].now()
    async with request.app[POOL].connection() as conn, conn.transaction():
        if not await _exists(conn, incident_id):
            return error(404, "no such incident")
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                _RECORD, (incident_id, doc["path"], doc["manifest_hash"], doc["files"], who, now))
            row = await cur.fetchone()
        assert row is not None
        await store.event(conn, now, "evidence_collected", incident_id=incident_id, actor=who,
                          detail={"evidence_id": row["id"], "path": doc["path"],
                                  "manifest_hash": doc["manifest_hash"],
                                  "files": doc["files"]})
    return reply(row, 201)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/incidents/{id}/evidence", list_evidence)
    app.router.add_post("/api/v1/incidents/{id}/evidence", record_evidence)
