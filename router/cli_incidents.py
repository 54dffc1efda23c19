"""``vigil incident create|respond|list|show|note|status|timeline``: the runbook's incident
response, over the router API (router/incidents.py, router/incident_api.py).

An incident moves open -> responding -> contained -> resolved -> closed; ``status`` moves it
(who: ``--by``, default a personal token's user, else $USER), ``note`` logs the initial
response and any later finding, ``timeline`` shows its events with its linked alerts' events.
``register`` returns the ``incident`` sub-command group, so other modules can add their
actions to it.
"""

from __future__ import annotations

import argparse
import urllib.parse
from typing import Any

from router.cli_alerts import detail_text, limit_arg
from router.client_cli import BY, EXIT_CODES, ID, ROUTER, actor, call, emit, table, when
from vigil.core.cliargs import arg, noun, verb

STATUSES = ("open", "responding", "contained", "resolved", "closed")
LIFECYCLE = ("lifecycle: open -> responding -> contained -> resolved -> closed (containment may "
             "be skipped; contained or resolved may go back to responding; closed is final). "
             "When all its alerts resolve, a responding or contained incident moves to "
             "resolved by itself (docs/router.md#incident-lifecycle).")


def register(subparsers: Any) -> Any:
    isub = noun(subparsers, "incident", "create and run security incidents",
                description=LIFECYCLE, epilog=EXIT_CODES)
    verb(isub, "create", incident_create,
         arg("--type", required=True),
         arg("--severity", required=True, choices=["P1", "P2", "P3", "P4"]),
         arg("--description", required=True),
         arg("--alert", type=int, action="append", default=[], help="link an alert id"),
         BY, *ROUTER, help="create an incident record", epilog=EXIT_CODES)
    verb(isub, "respond", incident_respond, ID, BY, *ROUTER,
         help="initiate the response (notifies responders)", epilog=EXIT_CODES)
    verb(isub, "list", incident_list,
         arg("--status", choices=[*STATUSES, "active"],
             help="only this status (active: open, responding or contained)"),
         arg("--limit", type=limit_arg, default=50, help="1 to 1000 (default 50)"), *ROUTER,
         help="list incidents, newest first", epilog=EXIT_CODES)
    verb(isub, "show", incident_show, ID, *ROUTER, help="one incident", epilog=EXIT_CODES)
    verb(isub, "note", incident_note, ID,
         arg("text", help="the note (never paste PHI or passwords here)"), BY, *ROUTER,
         help="log the initial response or a later finding", epilog=EXIT_CODES)
    verb(isub, "status", incident_status, ID, arg("status", choices=STATUSES),
         arg("--note", help="why (recorded with the change)"), BY, *ROUTER,
         help="move the incident through its lifecycle", description=LIFECYCLE,
         epilog="exit codes: 0 moved, 1 the router refused (a move the lifecycle doesn't "
                "allow names the allowed ones), 2 usage error")
    verb(isub, "timeline", incident_timeline, ID, *ROUTER,
         help="the incident's events and its alerts' events", epilog=EXIT_CODES)
    return isub


def incident_create(args: argparse.Namespace) -> int:
    doc = call(args, "POST", "/api/v1/incidents", {
        "type": args.type, "severity": args.severity, "description": args.description,
        "alert_ids": args.alert, "created_by": actor(args)})
    return emit(args, doc, [f"incident {doc['id']} created ({doc['severity']}, "
                            f"{doc['status']})"])


def incident_respond(args: argparse.Namespace) -> int:
    doc = call(args, "POST", f"/api/v1/incidents/{args.id}/respond", {"who": actor(args)})
    return emit(args, doc, [f"incident {doc['id']}: response initiated by "
                            f"{doc['responded_by']}"])


def incident_list(args: argparse.Namespace) -> int:
    query = [("limit", str(args.limit))] + ([("status", args.status)] if args.status else [])
    doc = call(args, "GET", "/api/v1/incidents?" + urllib.parse.urlencode(query))
    rows = [[i["id"], i["severity"], i["status"], i["type"], when(i["created_at"]),
             f"{when(i['status_changed_at'])} by {i['status_changed_by']}",
             _alerts(i)] for i in doc["incidents"]]
    return emit(args, doc, table(["ID", "SEV", "STATUS", "TYPE", "CREATED", "LAST CHANGE",
                                  "ALERTS"], rows) if rows else ["no incidents"])


def _alerts(i: dict[str, Any]) -> str:
    if not i["alert_ids"]:
        return "none linked"
    ids = ", ".join(str(a) for a in i["alert_ids"])
    left = i["alerts_unresolved"]
    return f"{ids} ({'all resolved' if not left else f'{left} unresolved'})"


def incident_show(args: argparse.Namespace) -> int:
    i = call(args, "GET", f"/api/v1/incidents/{args.id}")
    rows = [["type", i["type"]], ["description", i["description"]],
            ["created", f"{when(i['created_at'])} by {i['created_by']}"],
            ["responded", f"{when(i['responded_at'])} by {i['responded_by']}"
             if i["responded_at"] else ""],
            ["last change", f"{i['status']} at {when(i['status_changed_at'])} by "
                            f"{i['status_changed_by']}"],
            ["alerts", _alerts(i)]]
    lines = [f"incident {i['id']}  {i['severity']}  {i['status']}",
             *("  " + line for line in table(["", ""], [r for r in rows if r[1]])[1:])]
    return emit(args, i, lines)


def incident_note(args: argparse.Namespace) -> int:
    doc = call(args, "POST", f"/api/v1/incidents/{args.id}/notes",
               {"who": actor(args), "note": args.text})
    return emit(args, doc, [f"incident {args.id}: note logged at {when(doc['at'])} by "
                            f"{doc['who']}"])


def incident_status(args: argparse.Namespace) -> int:
    doc = call(args, "POST", f"/api/v1/incidents/{args.id}/status",
               {"status": args.status, "who": actor(args), "note": args.note})
    return emit(args, doc, [f"incident {doc['id']}: {doc['status']} at "
                            f"{when(doc['status_changed_at'])} by {doc['status_changed_by']}"])


def incident_timeline(args: argparse.Namespace) -> int:
    doc = call(args, "GET", f"/api/v1/incidents/{args.id}/timeline")
    rows = [[when(e["at"]), f"alert {e['alert_id']}" if e["incident_id"] is None
             else "incident", e["kind"], e["actor"] or "", detail_text(e["detail"])]
            for e in doc["events"]]
    return emit(args, doc, [f"incident {args.id} ({doc['status']}); alerts "
                            f"{', '.join(map(str, doc['alert_ids'])) or 'none'}",
                            *table(["AT", "OF", "EVENT", "BY", "DETAIL"], rows)])
