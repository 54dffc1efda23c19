"""The OpenAPI 3.0 document served at ``/api/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
_JSON = {"application/json": {"schema": {"type": "object"}}}


def _op(summary: str, *, params: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None, codes: tuple[int, ...] = (200,)) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {
        str(c): {"description": {200: "OK", 201: "Created", 400: "Malformed input (names the "
                                 "field)", 401: "Missing or wrong credentials", 404: "Not found",
                                 409: "Not in a state that allows this", 413: "Body too large",
                                 503: "Database unavailable: retry"}[c],
                 "content": _JSON} for c in (*codes, 401, 503)}}
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _q(name: str, desc: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": desc,
            "schema": schema or {"type": "string"}}


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
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                "startsAt": {"type": "string", "format": "date-time"},
                "endsAt": {"type": "string", "format": "date-time"},
                "generatorURL": {"type": "string"}, "fingerprint": {"type": "string"}}}}}}
_INCIDENT = {"type": "object", "required": ["type", "severity", "description"], "properties": {
    "type": {"type": "string"}, "severity": {"type": "string", "enum": ["P1", "P2", "P3", "P4"]},
    "description": {"type": "string"}, "created_by": {"type": "string"},
    "alert_ids": {"type": "array", "items": {"type": "integer"}}}}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "vigil router", "version": "1",
                 "description": "Alertmanager webhooks through the P1-P4 escalation matrix."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                           "basic": {"type": "http", "scheme": "basic"}}},
        "security": [{"bearer": []}, {"basic": []}],
        "paths": {
            "/api/v1/alertmanager": {"post": _op(
                "Ingest an Alertmanager webhook (durable before 2xx)", body=_WEBHOOK,
                codes=(200, 400, 413))},
            "/api/v1/alerts": {"get": _op("List alerts", params=[
                _q("status", "open, acked, resolved or unresolved"),
                _q("severity", "P1..P4"), _q("label", "name=value (repeatable)"),
                _q("limit", "at most 1000", {"type": "integer"})], codes=(200, 400))},
            "/api/v1/alerts/{id}": {"get": _op("One alert", params=_ID, codes=(200, 404))},
            "/api/v1/alerts/{id}/context": {"get": _op(
                "An alert with its escalation plan and deliveries", params=_ID,
                codes=(200, 404))},
            "/api/v1/alerts/{id}/ack": {"post": _op("Acknowledge: escalation stops", params=_ID,
                                                    body=_WHO, codes=(200, 404, 409))},
            "/api/v1/alerts/{id}/resolve": {"post": _op("Resolve: escalation ends", params=_ID,
                                                        body=_WHO, codes=(200, 404, 409))},
            "/api/v1/alerts/{id}/timeline": {"get": _op(
                "Every event of an alert, append-only", params=_ID, codes=(200, 404))},
            "/api/v1/alerts/{id}/related": {"get": _op(
                "Alerts with the same alertname or a shared label in the window",
                params=[*_ID, _q("window_seconds", "default: related_window",
                                 {"type": "number"})], codes=(200, 404))},
            "/api/v1/outbox": {"get": _op("Deliveries by state (default: dead letters)",
                                          params=[_q("state", "pending, sent or dead")])},
            "/api/v1/incidents": {"post": _op("Create an incident", body=_INCIDENT,
                                              codes=(201, 400))},
            "/api/v1/incidents/{id}": {"get": _op("One incident", params=_ID, codes=(200, 404))},
            "/api/v1/incidents/{id}/respond": {"post": _op(
                "Initiate the response: notify the level's first responders", params=_ID,
                body=_WHO, codes=(200, 404, 409))},
            "/api/v1/incidents/{id}/timeline": {"get": _op(
                "Every event of an incident", params=_ID, codes=(200, 404))},
        },
    }
