"""``vigil alert list|show|context|related|timeline|ack|resolve``: the runbook's alert steps.

Tables and sections for people, the router's JSON with ``--json``. ``context`` adds what the
router can't see: the database objects the alert names, from the monitored database's
catalog (router/alert_objects.py, ``--dsn``).
"""

from __future__ import annotations

import argparse
import json
import urllib.parse
from typing import Any

from router import alert_objects
from router.client_cli import BY, EXIT_CODES, ID, ROUTER, actor, call, emit, table, when
from vigil.core import durations
from vigil.core.cliargs import arg, noun, number, verb

MAX_LIMIT = 1000
CONTEXT_EXIT = ("exit codes: 0 every section gathered, 1 a section could not be (Prometheus or "
                "the database unreachable or not configured, no rule: the section says why) or "
                "the router refused, 2 usage error")


def _label(text: str) -> str:
    name, sep, _ = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError("expected NAME=VALUE, e.g. --label table=Deal")
    return text


limit_arg = number(int, at_least=1, at_most=MAX_LIMIT)
_hours = number(float, above=0, at_most=168)


def _window(text: str) -> float:
    try:
        value = durations.parse(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 366 * 86400:
        raise argparse.ArgumentTypeError("expected a duration like 30m, 2h or 1d, "
                                         "at most 366d")
    return value


WINDOW = arg("--window", type=_window, default=None, metavar="DURATION",
             help="related alerts received within this of the alert (default: the router's "
                  "related_window, 1h)")


def register(subparsers: Any) -> None:
    asub = noun(subparsers, "alert", "inspect, ack and resolve routed alerts", epilog=EXIT_CODES)
    verb(asub, "list", alert_list,
         arg("--status", choices=["open", "acked", "resolved", "unresolved"]),
         arg("--severity", choices=["P1", "P2", "P3", "P4"]),
         arg("--label", action="append", default=[], type=_label, metavar="NAME=VALUE",
             help="only alerts with this label (repeatable: all must match)"),
         arg("--limit", type=limit_arg, default=50, help="1 to 1000 (default 50)"), *ROUTER,
         help="list alerts, newest first", epilog=EXIT_CODES)
    verb(asub, "show", alert_show, ID, *ROUTER,
         help="one alert: summary, labels, times", epilog=EXIT_CODES)
    verb(asub, "context", alert_context, ID,
         arg("--hours", type=_hours, default=3.0,
             help="metric history over the last HOURS (default 3, at most 168)"),
         arg("--dsn", default=None,
             help="monitored database for the objects the alert names (default: env "
                  "VIGIL_ADMIN_DSN on the demo database, as `vigil check`)"),
         WINDOW, *ROUTER, epilog=CONTEXT_EXIT,
         help="gather context: metric history vs threshold, earlier alerts of the same name, "
              "related alerts, the database objects it names, escalation and deliveries")
    verb(asub, "related", alert_related, ID, WINDOW, *ROUTER, epilog=EXIT_CODES,
         help="alerts with the same name or shared labels in the window, ranked by labels "
              "matched (job, instance, target never count)")
    verb(asub, "timeline", alert_timeline, ID, *ROUTER,
         help="every event of the alert", epilog=EXIT_CODES)
    for name in ("ack", "resolve"):
        verb(asub, name, alert_change, ID, BY, arg("--note"), *ROUTER,
             help=f"{name} an alert", epilog=EXIT_CODES, what=name)


def _pairs(labels: dict[str, str], skip: tuple[str, ...] = ()) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in skip)


def alert_rows(alerts: list[dict[str, Any]]) -> list[str]:
    return table(["ID", "SEV", "STATUS", "ALERT", "RECEIVED", "SUMMARY"], [
        [a["id"], a["severity"], a["status"], a["alertname"], when(a["received_at"]),
         (a.get("annotations") or {}).get("summary", "")[:80]] for a in alerts])


def alert_list(args: argparse.Namespace) -> int:
    query = [("limit", str(args.limit))]
    query += [("status", args.status)] if args.status else []
    query += [("severity", args.severity)] if args.severity else []
    query += [("label", label) for label in args.label]
    doc = call(args, "GET", "/api/v1/alerts?" + urllib.parse.urlencode(query))
    return emit(args, doc, alert_rows(doc["alerts"]) if doc["alerts"] else ["no alerts"])


def show_lines(a: dict[str, Any]) -> list[str]:
    ann = a.get("annotations") or {}
    out = [f"alert {a['id']}  {a['alertname']}  {a['severity']}  {a['status']}"]
    rows: list[list[Any]] = [["summary", ann.get("summary", "")],
                             ["description", " ".join(ann.get("description", "").split())],
                             ["runbook", ann.get("runbook_url", "")],
                             ["labels", _pairs(a.get("labels") or {}, ("alertname",))],
                             ["started", when(a.get("starts_at"))],
                             ["received", when(a["received_at"])],
                             ["respond by", when(a["response_deadline"]) +
                              ("  (SLA breached)" if a.get("sla_breached") else "")]]
    if a.get("acked_at"):
        rows.append(["acked", f"{when(a['acked_at'])} by {a['acked_by']}" +
                     (f": {a['ack_note']}" if a.get("ack_note") else "")])
    if a.get("resolved_at"):
        rows.append(["resolved", f"{when(a['resolved_at'])} by {a['resolved_by']}"])
    return out + ["  " + line for line in table(["", ""], [r for r in rows if r[1]])[1:]]


def alert_show(args: argparse.Namespace) -> int:
    doc = call(args, "GET", f"/api/v1/alerts/{args.id}")
    return emit(args, doc, show_lines(doc))


def _num(value: Any) -> str:
    return "" if value is None else f"{value:.6g}"


def runs(values: list[dict[str, Any]], keep: int = 12) -> list[list[Any]]:
    """Consecutive points on the same side of the threshold, as one row each (the latest
    ``keep``): when it crossed, how far, for how long. ``--json`` has every point."""
    groups: list[list[dict[str, Any]]] = []
    for p in values:
        if groups and groups[-1][-1]["crossed"] == p["crossed"]:
            groups[-1].append(p)
        else:
            groups.append([p])
    rows = []
    for g in groups[-keep:]:
        nums = [p["value"] for p in g]
        limits = {p["threshold"] for p in g if p["threshold"] is not None}
        state = {True: "crossed", False: "within", None: "no threshold"}[g[0]["crossed"]]
        rows.append([when(g[0]["at"]), when(g[-1]["at"]), len(g), _num(min(nums)),
                     _num(max(nums)), ", ".join(_num(t) for t in sorted(limits)), state])
    return rows


def metric_lines(m: dict[str, Any]) -> list[str]:
    if m["status"] != "ok":
        return [f"  {m['status'].replace('_', ' ')}: {m.get('error', '')}"]
    rule = m["rule"]
    limit = _num(m["threshold"]) if m["threshold"] is not None else m["threshold_expression"]
    out = [f"  rule {rule['name']} (group {rule['group']}, for "
           f"{durations.format(rule['duration_seconds'] or 0)}): "
           f"{m['expression']} {m['operator'] or ''} {limit or ''}".rstrip(),
           f"  {m['hours']:g}h to {when(m['end'])}, a point every "
           f"{durations.format(m['step_seconds'])}"]
    if not m["series"]:
        out.append("  no series of the expression matches the alert's labels in the window")
    for s in m["series"]:
        out.append(f"  series {_pairs(s['labels']) or '(no labels)'}: last {_num(s['last'])}, "
                   f"max {_num(s['max'])}, min {_num(s['min'])}; {s['crossed']} of "
                   f"{len(s['values'])} points crossed the threshold")
        out += ["    " + line for line in table(
            ["FROM", "TO", "POINTS", "MIN", "MAX", "THRESHOLD", ""], runs(s["values"]))]
    return out


def object_lines(db: dict[str, Any]) -> list[str]:
    if db["status"] == "none":
        return ["  the alert names no schema, table, policy, role or index"]
    if db["status"] != "ok":
        return [f"  unavailable: {db['error']}"]
    out = []
    for o in db["objects"]:
        if not o["exists"]:
            out.append(f"  {o['kind']} {o['name']}: does NOT exist in {db['database']}")
            continue
        if o["kind"] == "table":
            out.append(f"  table {o['name']}: RLS {'enabled' if o['rls_enabled'] else 'DISABLED'}"
                       f", {'forced' if o['rls_forced'] else 'not forced'}, "
                       f"{len(o['policies'])} polic{'y' if len(o['policies']) == 1 else 'ies'}")
            out += [f"    policy {p['name']}: {p['command']} {p['permissive'].lower()} to "
                    f"{', '.join(p['roles'])}" for p in o["policies"]]
        elif o["kind"] == "role":
            out.append(f"  role {o['name']}: login {o['can_login']}, superuser "
                       f"{o['superuser']}, bypasses RLS {o['bypass_rls']}")
        elif o["kind"] == "policy":
            out += [f"  policy {o['name']} on {p['table']}: {p['command']} "
                    f"{p['permissive'].lower()} to {', '.join(p['roles'])}" for p in o["on"]]
        else:
            out.append(f"  {o['kind']} {o['name']}: exists"
                       + ("" if o.get("valid", True) else ", INVALID"))
    return out


def related_lines(alerts: list[dict[str, Any]], ignored: list[str]) -> list[str]:
    head = [f"  labels never matched: {', '.join(ignored)}"]
    if not alerts:
        return [*head, "  none related"]
    return head + ["  " + line for line in table(
        ["ID", "SEV", "STATUS", "ALERT", "RECEIVED", "MATCHED"],
        [[a["id"], a["severity"], a["status"], a["alertname"], when(a["received_at"]),
          _pairs(a["matched"]) + (" (same alertname)" if a["same_alertname"] else "")]
         for a in alerts])]


def _window_query(args: argparse.Namespace) -> dict[str, str]:
    return {} if args.window is None else {"window_seconds": f"{args.window:g}"}


def alert_context(args: argparse.Namespace) -> int:
    from vigil.core import pg

    query = {"hours": f"{args.hours:g}"} | _window_query(args)
    doc = call(args, "GET", f"/api/v1/alerts/{args.id}/context?"
                            f"{urllib.parse.urlencode(query)}")
    doc["database"] = alert_objects.lookup(args.dsn or pg.demo_dsn(), doc["alert"]["labels"])
    earlier = doc["earlier"]
    lines = [*show_lines(doc["alert"]), "",
             f"Metric history (Prometheus, last {args.hours:g}h)", *metric_lines(doc["metrics"]),
             "", f"Earlier alerts of the same name: {earlier['total']}"]
    lines += ["  " + line for line in table(
        ["ID", "SEV", "STATUS", "RECEIVED", "RESOLVED"],
        [[a["id"], a["severity"], a["status"], when(a["received_at"]),
          when(a["resolved_at"])] for a in earlier["alerts"]])] if earlier["alerts"] else []
    lines += ["", f"Related alerts within {durations.format(doc['related']['window_seconds'])}"
                  ", ranked by labels matched",
              *related_lines(doc["related"]["alerts"], doc["related"]["ignored_labels"]),
              "", "Database objects it names", *object_lines(doc["database"]),
              "", f"Escalation (respond within {durations.format(doc['response_time_seconds'])})"]
    lines += ["  " + line for line in table(["KIND", "STEP", "DUE", "STATE", "TARGETS"], [
        [p["kind"], p["step_no"], when(p["due_at"]), p["state"], ", ".join(p["targets"])]
        for p in doc["plan"]])]
    lines += ["", "Deliveries"] + (["  " + line for line in table(
        ["TARGET", "CHANNEL", "KIND", "STATE", "ATTEMPTS", "SENT", "LAST ERROR"],
        [[d["target"], d["channel"], d["kind"], d["state"], d["attempts"], when(d["sent_at"]),
          d["last_error"] or ""] for d in doc["deliveries"]])] if doc["deliveries"]
        else ["  none yet"])
    emit(args, doc, lines)
    gathered = doc["metrics"]["status"] == "ok" and doc["database"]["status"] in ("ok", "none")
    return 0 if gathered else 1


def alert_related(args: argparse.Namespace) -> int:
    query = urllib.parse.urlencode(_window_query(args))
    doc = call(args, "GET", f"/api/v1/alerts/{args.id}/related" + (f"?{query}" if query else ""))
    return emit(args, doc, [f"related to alert {args.id} within "
                            f"{durations.format(doc['window_seconds'])}, most labels matched "
                            "first",
                            *related_lines(doc["related"], doc["ignored_labels"])])


def _value(v: Any) -> str:
    if isinstance(v, list):
        return ",".join(str(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, separators=(",", ":"))
    text = str(v)
    return json.dumps(text, ensure_ascii=False) if " " in text else text   # one value


def detail_text(detail: dict[str, Any]) -> str:
    """An event's detail as ``key=value`` pairs, empty ones left out."""
    return " ".join(f"{k}={_value(v)}" for k, v in detail.items()
                    if v not in (None, "", [], {}))


def alert_timeline(args: argparse.Namespace) -> int:
    doc = call(args, "GET", f"/api/v1/alerts/{args.id}/timeline")
    return emit(args, doc, table(["AT", "EVENT", "BY", "DETAIL"], [
        [when(e["at"]), e["kind"], e["actor"] or "", detail_text(e["detail"])]
        for e in doc["events"]]))


def alert_change(args: argparse.Namespace) -> int:
    doc = call(args, "POST", f"/api/v1/alerts/{args.id}/{args.what}",
               {"who": actor(args), "note": args.note})
    return emit(args, doc, alert_rows([doc]))
