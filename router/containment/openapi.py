"""The containment operations' part of the OpenAPI document (router/openapi.py merges it)."""

from __future__ import annotations

from typing import Any

_NULL_STR = {"type": "string", "nullable": True}
_NULL_TIME = {"type": "string", "format": "date-time", "nullable": True}
_NULL_OBJ = {"type": "object", "nullable": True}
CONTAINMENT: dict[str, Any] = {
    "type": "object", "required": ["id", "incident_id", "kind", "target", "state"],
    "description": "One containment action of an incident on a monitored database",
    "properties": {
        "id": {"type": "integer"}, "incident_id": {"type": "integer"},
        "database": {"type": "string"},
        "kind": {"type": "string", "enum": ["role", "actor", "tenant"]},
        "target": {"type": "string"},
        "plan": {"type": "array", "items": {"type": "object"},
                 "description": "the statements as planned: {sql, effect, after_commit}"},
        "requested_at": {"type": "string", "format": "date-time"},
        "requested_by": {"type": "string"},
        "approvals_needed": {"type": "integer"},
        "approved_by": {"type": "array", "items": {"type": "string"}},
        "approved": {"type": "boolean"},
        "state": {"type": "string",
                  "enum": ["awaiting_approval", "approved", "contained", "released"]},
        "contained_at": _NULL_TIME, "contained_by": _NULL_STR, "verification": _NULL_OBJ,
        "released_at": _NULL_TIME, "released_by": _NULL_STR,
        "release_verification": _NULL_OBJ}}
_REQUEST = {"type": "object", "required": ["database", "kind", "target"], "properties": {
    "database": {"type": "string", "description": "the monitored database's name"},
    "kind": {"type": "string", "enum": ["role", "actor", "tenant"]},
    "target": {"type": "string"}, "who": {"type": "string"},
    "plan": {"type": "array", "items": {"type": "object"}}}}
_APPROVE = {"type": "object", "properties": {"who": {
    "type": "string", "description": "required with the shared token (taken on trust); with a "
    "personal token leave it out or give its user (the router knows who)"}}}
_RESULT = {"type": "object", "required": ["verification"], "properties": {
    "who": {"type": "string"},
    "verification": {"type": "object", "required": ["ok"],
                     "properties": {"ok": {"type": "boolean"}}}}}
_CID = {"name": "cid", "in": "path", "required": True,
        "schema": {"type": "integer", "format": "int64"}}


def paths() -> dict[str, Any]:
    from router.openapi import _ID, _list, _op

    listing = _list("containments", "Containment", incident_id={"type": "integer"})
    listing["properties"]["containments"]["items"] = CONTAINMENT
    base = "/api/v1/incidents/{id}/containments"
    request = _op("Request a containment (201; 200 and the active one if any: idempotent)",
                  CONTAINMENT, params=_ID, body=_REQUEST, ok_code=201, codes=(200,))
    request["responses"]["200"]["content"]["application/json"]["schema"] = CONTAINMENT
    ids = [*_ID, _CID]
    return {
        base: {
            "get": _op("An incident's containment actions", listing, params=_ID),
            "post": request},
        base + "/{cid}/approve": {"post": _op(
            "Approve as a second responder, never the requester: a personal token's user "
            "(via api-token), else who, taken on trust (via api)", CONTAINMENT, params=ids,
            body=_APPROVE, codes=(409,))},
        base + "/{cid}/contained": {"post": _op(
            "Record that the plan ran, with its verification (409 until approved)",
            CONTAINMENT, params=ids, body=_RESULT, codes=(409,))},
        base + "/{cid}/released": {"post": _op(
            "Record the release, with its verification", CONTAINMENT, params=ids,
            body=_RESULT, codes=(409,))},
    }
