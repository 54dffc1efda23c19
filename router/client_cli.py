"""The runbook's alert and incident commands, as a thin HTTP client of the router API.

``vigil alert list|show|context|related|timeline|ack|resolve`` and
``vigil incident create|respond|show|timeline`` (runbook: ``npm run alert:context``,
``incident:create``, ...). ``--url`` (default http://127.0.0.1:18091) and ``--token``
or ``VIGIL_ROUTER_TOKEN``.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.parse
from typing import Any

from vigil.core import httpclient
from vigil.core.errors import VigilError

DEFAULT_URL = "http://127.0.0.1:18091"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=os.environ.get("VIGIL_ROUTER_URL", DEFAULT_URL),
                   help=f"router base URL (default {DEFAULT_URL}, env VIGIL_ROUTER_URL)")
    p.add_argument("--token", default=None,
                   help="bearer token (default: env VIGIL_ROUTER_TOKEN, else the token "
                        "`vigil up` wrote to its state folder; prefer the env var over --token)")
    p.add_argument("--json", action="store_true", help="print raw JSON")


def register(subparsers: Any) -> None:
    alert = subparsers.add_parser("alert", help="inspect, ack and resolve routed alerts")
    asub = alert.add_subparsers(dest="alert_cmd", metavar="ACTION", required=True)
    p = asub.add_parser("list", help="list alerts")
    p.add_argument("--status", choices=["open", "acked", "resolved", "unresolved"])
    p.add_argument("--severity", choices=["P1", "P2", "P3", "P4"])
    p.add_argument("--label", action="append", default=[], help="name=value (repeatable)")
    p.add_argument("--limit", type=int, default=50)
    _common(p)
    p.set_defaults(func=alert_list)
    for name, help_ in (("show", "one alert"), ("context", "alert, its plan and deliveries"),
                        ("related", "alerts with the same name or a shared label"),
                        ("timeline", "every event of the alert")):
        p = asub.add_parser(name, help=help_)
        p.add_argument("id", type=int)
        _common(p)
        p.set_defaults(func=alert_get, what=name)
    for name in ("ack", "resolve"):
        p = asub.add_parser(name, help=f"{name} an alert")
        p.add_argument("id", type=int)
        p.add_argument("--who", default=os.environ.get("USER", "cli"))
        p.add_argument("--note")
        _common(p)
        p.set_defaults(func=alert_change, what=name)

    inc = subparsers.add_parser("incident", help="create and run security incidents")
    isub = inc.add_subparsers(dest="incident_cmd", metavar="ACTION", required=True)
    p = isub.add_parser("create", help="create an incident record")
    p.add_argument("--type", required=True)
    p.add_argument("--severity", required=True, choices=["P1", "P2", "P3", "P4"])
    p.add_argument("--description", required=True)
    p.add_argument("--alert", type=int, action="append", default=[], help="link an alert id")
    p.add_argument("--who", default=os.environ.get("USER", "cli"))
    _common(p)
    p.set_defaults(func=incident_create)
    p = isub.add_parser("respond", help="initiate the response (notifies responders)")
    p.add_argument("id", type=int)
    p.add_argument("--who", default=os.environ.get("USER", "cli"))
    _common(p)
    p.set_defaults(func=incident_respond)
    for name in ("show", "timeline"):
        p = isub.add_parser(name, help=f"incident {name}")
        p.add_argument("id", type=int)
        _common(p)
        p.set_defaults(func=incident_get, what=name)
    from vigil.contain.cli import register as register_containment

    register_containment(isub, _common)   # contain, release, approve, containments (#12)
    from vigil.investigate.cli import register_incident  # logs, traffic, integrity, evidence
    register_incident(isub, _common)


def _stack_token() -> str | None:
    """The token `vigil up` generated, so the CLI works against the local stack as is."""
    from vigil.stack.plan import default_layout

    try:
        return default_layout().token_file.read_text().strip() or None
    except OSError:
        return None


class RouterClient:
    """The router API over vigil.core.httpclient, bearer token attached; used by these commands,
    ``vigil status`` and the test stacks. Errors are VigilErrors that quote the router."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.headers = {"Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> Any:
        if not self.url.startswith(("http://", "https://")):
            raise VigilError("--url must be an http:// or https:// URL")
        try:
            _, raw = httpclient.request(self.url + path, method=method, body=body,
                                        headers=self.headers, timeout=self.timeout)
        except httpclient.HttpError as exc:
            if exc.status is None:
                raise VigilError(f"cannot reach the router at {self.url}: {exc.reason}"
                                 ) from None
            try:
                message = json.loads(exc.body).get("error", exc.reason)
            except ValueError:
                message = exc.reason
            raise VigilError(f"router answered {exc.status}: {message}") from None
        return json.loads(raw)

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self.call("POST", path, body)


def call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    token = args.token or os.environ.get("VIGIL_ROUTER_TOKEN") or _stack_token()
    return RouterClient(args.url, token).call(method, path, body)


def _print(args: argparse.Namespace, doc: Any, lines: list[str] | None = None) -> int:
    if args.json or lines is None:
        print(json.dumps(doc, indent=2))
    else:
        print("\n".join(lines))
    return 0


def _alert_line(a: dict[str, Any]) -> str:
    return (f"{a['id']:>6} {a['severity']} {a['status']:<8} {a['alertname']:<32} "
            f"received {a['received_at']}")


def alert_list(args: argparse.Namespace) -> int:
    query = [f"limit={args.limit}"]
    query += [f"status={args.status}"] if args.status else []
    query += [f"severity={args.severity}"] if args.severity else []
    query += [f"label={urllib.parse.quote(label)}" for label in args.label]
    doc = call(args, "GET", "/api/v1/alerts?" + "&".join(query))
    return _print(args, doc, [_alert_line(a) for a in doc["alerts"]] or ["no alerts"])


def alert_get(args: argparse.Namespace) -> int:
    suffix = "" if args.what == "show" else f"/{args.what}"
    doc = call(args, "GET", f"/api/v1/alerts/{args.id}{suffix}")
    if args.what == "timeline":
        return _print(args, doc, [f"{e['at']}  {e['kind']:<22} {e['actor'] or '':<12} "
                                  f"{json.dumps(e['detail'])}" for e in doc["events"]])
    if args.what == "related":
        return _print(args, doc, [_alert_line(a) for a in doc["related"]] or ["none related"])
    return _print(args, doc)


def alert_change(args: argparse.Namespace) -> int:
    doc = call(args, "POST", f"/api/v1/alerts/{args.id}/{args.what}",
               {"who": args.who, "note": args.note})
    return _print(args, doc, [_alert_line(doc)])


def incident_create(args: argparse.Namespace) -> int:
    doc = call(args, "POST", "/api/v1/incidents", {
        "type": args.type, "severity": args.severity, "description": args.description,
        "alert_ids": args.alert, "created_by": args.who})
    return _print(args, doc, [f"incident {doc['id']} created ({doc['severity']}, "
                              f"{doc['status']})"])


def incident_respond(args: argparse.Namespace) -> int:
    doc = call(args, "POST", f"/api/v1/incidents/{args.id}/respond", {"who": args.who})
    return _print(args, doc, [f"incident {doc['id']}: response initiated by "
                              f"{doc['responded_by']}"])


def incident_get(args: argparse.Namespace) -> int:
    suffix = "" if args.what == "show" else "/timeline"
    doc = call(args, "GET", f"/api/v1/incidents/{args.id}{suffix}")
    if args.what == "timeline":
        return _print(args, doc, [f"{e['at']}  {e['kind']:<22} {e['actor'] or ''}"
                                  for e in doc["events"]])
    return _print(args, doc)


