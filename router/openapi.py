"""The OpenAPI 3.0 document served at ``/api/v1/openapi.json``.

Every status an operation can answer is listed with its schema: the auth and content checks
of the middleware (401, 415, 400 for a query value PostgreSQL can't store) apply to every
``/api/`` operation, and 503 (database unavailable, ``Retry-After``) to every one that reads
or writes the database. ``tests/router/test_router_openapi.py`` runs schemathesis against it
and fails on any 5xx or undocumented status.

The web console's pages under ``/console/`` (router/console/, docs/console.md) are left out
on purpose: they are HTML for a browser, behind a login form and CSRF tokens, not an API, and
the ack links in notifications are capabilities, not operations. Its behaviour is covered by
the browser tests in tests/console/ instead.
"""

from __future__ import annotations

from typing import Any

_NULL_STR = {"type": "string", "nullable": True}
_TIME = {"type": "string", "format": "date-time"}
_NULL_TIME = {**_TIME, "nullable": True}
_LEVEL = {"type": "string", "enum": ["P1", "P2", "P3", "P4"]}
_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_INCIDENT_STATUSES = ["open", "responding", "contained", "resolved", "closed"]

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string", "description": "what is wrong; never quotes a value"},
        "field": {"type": "string", "description": "where: alerts[2].startsAt, who, body"}}},
    "Alert": {"type": "object", "required": ["id", "fingerprint", "severity", "status"],
              "properties": {
        "id": {"type": "integer", "format": "int64"}, "fingerprint": {"type": "string"},
        "starts_at": _TIME, "alertname": {"type": "string"}, "severity": _LEVEL,
        "severity_raw": _NULL_STR, "labels": _STR_MAP, "annotations": _STR_MAP,
        "generator_url": {"type": "string"},
        "status": {"type": "string", "enum": ["open", "acked", "resolved"]},
        "received_at": _TIME, "last_seen_at": _TIME, "response_deadline": _TIME,
        "duplicates": {"type": "integer"}, "acked_at": _NULL_TIME, "acked_by": _NULL_STR,
        "ack_note": _NULL_STR, "resolved_at": _NULL_TIME, "resolved_by": _NULL_STR,
        "ends_at": _NULL_TIME, "sla_breached": {"type": "boolean"},
        "next_step": {"type": "object", "nullable": True,
                      "description": "in lists: the earliest pending escalation step",
                      "properties": {"due_at": {"type": "string"},
                                     "step_no": {"type": "integer"},
                                     "targets": {"type": "array",
                                                 "items": {"type": "string"}}}}}},
    "Event": {"type": "object", "required": ["id", "at", "kind"], "properties": {
        "id": {"type": "integer"}, "at": _TIME, "kind": {"type": "string"},
        "actor": _NULL_STR, "detail": {"type": "object"},
        "alert_id": {"type": "integer", "nullable": True,
                     "description": "in an incident's timeline: the linked alert's event"},
        "incident_id": {"type": "integer", "nullable": True}}},
    "Delivery": {"type": "object", "required": ["idempotency_key", "target", "state"],
                 "properties": {
        "id": {"type": "integer"}, "idempotency_key": {"type": "string"},
        "alert_id": {"type": "integer", "nullable": True},
        "incident_id": {"type": "integer", "nullable": True}, "kind": {"type": "string"},
        "target": {"type": "string"}, "channel": {"type": "string"},
        "state": {"type": "string", "enum": ["pending", "sent", "dead"]},
        "attempts": {"type": "integer"}, "next_attempt_at": _TIME,
        "last_error": _NULL_STR, "created_at": _TIME, "sent_at": _NULL_TIME}},
    "Incident": {"type": "object", "required": ["id", "type", "severity", "status"],
                 "properties": {
        "id": {"type": "integer"}, "type": {"type": "string"}, "severity": _LEVEL,
        "description": {"type": "string"},
        "status": {"type": "string", "enum": _INCIDENT_STATUSES},
        "created_at": _TIME, "created_by": {"type": "string"}, "responded_at": _NULL_TIME,
        "responded_by": _NULL_STR, "status_changed_at": _NULL_TIME,
        "status_changed_by": _NULL_STR,
        "alert_ids": {"type": "array", "items": {"type": "integer"}},
        "alerts_unresolved": {"type": "integer"}}},
    "Evidence": {"type": "object", "required": ["id", "incident_id", "path", "manifest_hash"],
                 "properties": {
        "id": {"type": "integer"}, "incident_id": {"type": "integer"},
        "path": {"type": "string", "description": "the bundle's folder on the collector's host"},
        "manifest_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                          "description": "SHA-256 of the bundle's manifest.json"},
        "files": {"type": "integer"}, "collected_by": {"type": "string"},
        "collected_at": _TIME}},
    "Refused": {"type": "object", "required": ["error", "field"], "description":
                "An Error; when single alerts or fields were refused (names only), the rest of "
                "the group was stored: refused, stored and the counts say so",
                "properties": {
        "error": {"type": "string"}, "field": {"type": "string"},
        "refused": {"type": "array", "items": {"type": "string"}},
        "stored": {"type": "integer"}, "new": {"type": "integer"},
        "duplicates": {"type": "integer"}, "resolved": {"type": "integer"}}},
    "Stored": {"type": "object", "required": ["status", "alerts", "new", "duplicates",
                                              "resolved"], "properties": {
        "status": {"type": "string", "enum": ["stored"]}, "alerts": {"type": "integer"},
        "new": {"type": "integer"}, "duplicates": {"type": "integer"},
        "resolved": {"type": "integer"}}},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list(key: str, item: str, **extra: Any) -> dict[str, Any]:
    return {"type": "object", "required": [key], "properties": {
        key: {"type": "array", "items": _ref(item)}, **extra}}


_ALERT_TIMELINE = _list("events", "Event", alert_id={"type": "integer"})
_INCIDENT_TIMELINE = _list("events", "Event", incident_id={"type": "integer"},
                           status={"type": "string"},
                           alert_ids={"type": "array", "items": {"type": "integer"}})
_RELATED_ALERT = {"allOf": [_ref("Alert"), {"type": "object", "properties": {
    "same_alertname": {"type": "boolean"}, "matched": _STR_MAP,
    "shared_labels": {"type": "array", "items": {"type": "string"}}}}]}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_METRICS = {"type": "object", "required": ["status"], "description":
            "The rule's expression (left of its comparison) from Prometheus over the last "
            "hours, each value against the threshold; status ok, no_rule, unavailable or "
            "not_configured (then error says why)", "properties": {
    "status": {"type": "string", "enum": ["ok", "no_rule", "unavailable", "not_configured"]},
    "error": {"type": "string"}, "rule": {"type": "object"},
    "expression": {"type": "string"}, "operator": _NULL_STR,
    "threshold": {"type": "number", "nullable": True},
    "threshold_expression": _NULL_STR, "series": {"type": "array", "items": {
        "type": "object", "properties": {"labels": _STR_MAP, "values": {"type": "array"},
                                         "crossed": {"type": "integer"}}}}}}
_CONTEXT = {"type": "object", "required": ["alert", "plan", "deliveries"], "properties": {
    "alert": _ref("Alert"), "response_time_seconds": {"type": "number"},
    "metrics": _METRICS,
    "earlier": {"type": "object", "description": "earlier alerts of the same name",
                "properties": {"total": {"type": "integer"},
                               "alerts": {"type": "array", "items": {"type": "object"}}}},
    "related": {"type": "object", "properties": {
        "window_seconds": {"type": "number"}, "ignored_labels": _STRINGS,
        "alerts": {"type": "array", "items": _RELATED_ALERT}}},
    "plan": {"type": "array", "items": {"type": "object", "properties": {
        "kind": {"type": "string"}, "step_no": {"type": "integer"}, "due_at": _TIME,
        "targets": {"type": "array", "items": {"type": "string"}},
        "state": {"type": "string"}, "fired_at": _NULL_TIME}}},
    "deliveries": {"type": "array", "items": _ref("Delivery")}}}
_EVIDENCE_LIST = _list("evidence", "Evidence", incident_id={"type": "integer"})
_EVIDENCE = {"type": "object", "required": ["path", "manifest_hash", "files"], "properties": {
    "path": {"type": "string", "maxLength": 4096},
    "manifest_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    "files": {"type": "integer", "minimum": 0, "maximum": 1000000},
    "who": {"type": "string", "maxLength": 200}}}
_RELATED = {"type": "object", "required": ["related"], "properties": {
    "related": {"type": "array", "items": _RELATED_ALERT}, "alert_id": {"type": "integer"},
    "window_seconds": {"type": "number"}, "ignored_labels": _STRINGS}}
_NOTE = {"type": "object", "required": ["note"], "properties": {
    "who": {"type": "string"}, "note": {"type": "string", "maxLength": 4000}}}
_NOTED = {"type": "object", "required": ["incident_id", "at", "who", "note"], "properties": {
    "incident_id": {"type": "integer"}, "at": _TIME, "who": {"type": "string"},
    "note": {"type": "string"}, "status": {"type": "string"}}}
_STATUS = {"type": "object", "required": ["status"], "properties": {
    "status": {"type": "string", "enum": _INCIDENT_STATUSES}, "who": {"type": "string"},
    "note": {"type": "string"}}}
_LIMIT = {"type": "integer", "minimum": 1, "maximum": 1000}
_WHOAMI = {"type": "object", "required": ["user", "role", "via"], "properties": {
    "user": _NULL_STR, "role": {"type": "string", "enum": ["read-only", "responder"]},
    "via": {"type": "string", "enum": ["api", "api-token"]}}}

_DESCRIPTIONS = {
    200: "OK", 201: "Created",
    400: "Malformed input, or a value PostgreSQL can't store (NUL, lone surrogate, NaN, "
         "nesting, a timestamp out of range): names the field, never echoes the value",
    401: "Missing or wrong credentials (or credentials in the query string)",
    403: "A personal token may not do this: its user is read-only, or the body names someone "
         "else as the actor (who, created_by: leave it out or give the token's user)",
    404: "No such alert or incident (or an id no bigint can hold)",
    409: "Not in a state that allows this (an incident's names the allowed statuses)",
    413: "Body larger than webhook.max_body_bytes",
    415: "Content-Type must be application/json (so a cross-site form can't act)",
    503: "Database unavailable: retry (Retry-After)",
}


def _response(code: int, schema: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": _DESCRIPTIONS[code],
                           "content": {"application/json": {"schema": schema or _ref("Error")}}}
    if code == 503:
        out["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    if code == 401:
        out["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return out


def _op(summary: str, ok: dict[str, Any], *, params: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None, codes: tuple[int, ...] = (),
        ok_code: int = 200, bad: dict[str, Any] | None = None) -> dict[str, Any]:
    statuses = {ok_code, 400, 401, 503, *codes}
    if body is not None:
        # any body over the size limit is refused, not only webhooks; a personal token's
        # read-only user (or a body naming another actor) is refused with 403
        statuses |= {403, 413, 415}
    if params and any(p["in"] == "path" for p in params):
        statuses.add(404)
    op: dict[str, Any] = {"summary": summary, "responses": {
        str(c): _response(c, ok if c == ok_code else bad if c == 400 else None)
        for c in sorted(statuses)}}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _q(name: str, desc: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": desc,
            "schema": schema or {"type": "string"}}


_ID = [{"name": "id", "in": "path", "required": True,
        "schema": {"type": "integer", "format": "int64"}}]
_WHO = {"type": "object", "properties": {"who": {"type": "string"}, "note": {"type": "string"}}}
_WEBHOOK = {
    "type": "object", "required": ["version", "alerts"],
    "description": "Alertmanager webhook payload, version 4 (extra fields are ignored).",
    "properties": {
        "version": {"type": "string", "enum": ["4"]}, "groupKey": {"type": "string"},
        "status": {"type": "string"}, "receiver": {"type": "string"},
        "alerts": {"type": "array", "items": {
            "type": "object", "required": ["status", "labels", "startsAt"],
            "properties": {
                "status": {"type": "string", "enum": ["firing", "resolved"]},
                "labels": _STR_MAP, "annotations": _STR_MAP,
                "startsAt": _TIME, "endsAt": _TIME,
                "generatorURL": {"type": "string"}, "fingerprint": {"type": "string"}}}}}}
_INCIDENT = {"type": "object", "required": ["type", "severity", "description"], "properties": {
    "type": {"type": "string"}, "severity": _LEVEL,
    "description": {"type": "string"}, "created_by": {"type": "string"},
    "alert_ids": {"type": "array", "items": {"type": "integer", "format": "int64"}}}}


def document() -> dict[str, Any]:
    from router.containment.openapi import paths as containment_paths

    return {
        "openapi": "3.0.3",
        "info": {"title": "vigil router", "version": "1",
                 "description": "Alertmanager webhooks through the P1-P4 escalation matrix."},
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                           "basic": {"type": "http", "scheme": "basic"}}},
        "security": [{"bearer": []}, {"basic": []}],
        "paths": {
            "/api/v1/alertmanager": {"post": _op(
                "Ingest an Alertmanager webhook (durable before 2xx)", _ref("Stored"),
                body=_WEBHOOK, bad=_ref("Refused"))},
            "/api/v1/alerts": {"get": _op("List alerts", _list("alerts", "Alert"), params=[
                _q("status", "open, acked, resolved or unresolved"),
                _q("severity", "P1..P4"), _q("label", "name=value (repeatable)"),
                _q("limit", "1 to 1000 (default 100); anything else is refused", _LIMIT)])},
            "/api/v1/alerts/{id}": {"get": _op("One alert", _ref("Alert"), params=_ID)},
            "/api/v1/alerts/{id}/context": {"get": _op(
                "An alert with its escalation plan and deliveries, its metric history from "
                "Prometheus, earlier alerts of the same name and related alerts", _CONTEXT,
                params=[*_ID, _q("hours", "metric history window, default 3, at most 168",
                                 {"type": "number", "minimum": 0, "exclusiveMinimum": True,
                                  "maximum": 168}),
                        _q("window_seconds", "related alerts: default related_window",
                           {"type": "number", "minimum": 0, "maximum": 366 * 86400})])},
            "/api/v1/alerts/{id}/ack": {"post": _op(
                "Acknowledge: escalation stops", _ref("Alert"), params=_ID, body=_WHO,
                codes=(409,))},
            "/api/v1/alerts/{id}/resolve": {"post": _op(
                "Resolve: steps not yet due are cancelled (docs/router.md#resolve-rule)",
                _ref("Alert"), params=_ID, body=_WHO, codes=(409,))},
            "/api/v1/alerts/{id}/timeline": {"get": _op(
                "Every event of an alert, append-only", _ALERT_TIMELINE, params=_ID)},
            "/api/v1/alerts/{id}/related": {"get": _op(
                "Alerts with the same alertname or a shared label in the window, ranked by the "
                "labels that matched (labels every alert shares never count)", _RELATED,
                params=[*_ID, _q("window_seconds", "default: related_window; 0 to a year",
                                 {"type": "number"})])},
            "/api/v1/whoami": {"get": _op(
                "Who the credentials are: a personal token's user and role (via api-token), "
                "or the shared token (user null, via api)", _WHOAMI)},
            "/api/v1/outbox": {"get": _op("Deliveries by state (default: dead letters)",
                                          _list("deliveries", "Delivery"),
                                          params=[_q("state", "pending, sent or dead")])},
            "/api/v1/incidents": {
                "post": _op("Create an incident", _ref("Incident"), body=_INCIDENT,
                            ok_code=201),
                "get": _op("List incidents, newest first", _list("incidents", "Incident"),
                           params=[_q("status", "open, responding, contained, resolved, "
                                                "closed or active (not resolved or closed)"),
                                   _q("limit", "1 to 1000 (default 100)", _LIMIT)])},
            "/api/v1/incidents/{id}/notes": {"post": _op(
                "Log a response note (who and when) on the incident's timeline", _NOTED,
                params=_ID, body=_NOTE, ok_code=201)},
            "/api/v1/incidents/{id}/status": {"post": _op(
                "Move the incident: open, responding, contained, resolved, closed; 409 names "
                "the allowed moves", _ref("Incident"), params=_ID, body=_STATUS,
                codes=(409,))},
            "/api/v1/incidents/{id}": {"get": _op("One incident", _ref("Incident"),
                                                  params=_ID)},
            "/api/v1/incidents/{id}/respond": {"post": _op(
                "Initiate the response: notify the level's first responders",
                _ref("Incident"), params=_ID, body=_WHO, codes=(409,))},
            "/api/v1/incidents/{id}/timeline": {"get": _op(
                "Every event of an incident and of its linked alerts, in time order",
                _INCIDENT_TIMELINE, params=_ID)},
            "/api/v1/incidents/{id}/evidence": {
                "get": _op("The evidence bundles collected for an incident", _EVIDENCE_LIST,
                           params=_ID),
                "post": _op("Record a collected evidence bundle (and a timeline event)",
                            _ref("Evidence"), params=_ID, body=_EVIDENCE, ok_code=201)},
            **containment_paths(),
        },
    }
