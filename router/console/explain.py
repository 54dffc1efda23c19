"""Why a person was paged, in words: a timeline event read against the escalation matrix.

The plan rows only say "step 2, targets [cto]"; the reason is in escalation.yml (the step's
description, the level's response time). Only the event fields named here reach a page:
an event's detail can hold more (a fingerprint), and none of it is rendered blindly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from router.console.render import h, span
from router.matrix import Matrix
from router.oncall import on_call


def who(matrix: Matrix, targets: Iterable[str], at: datetime | None = None) -> str:
    """``cto (Chief Technology Officer), legal (Legal)``, escaped. With ``at``, a schedule
    target also says whom it reaches then (config/oncall.yml): ``on-call (...): alice``."""
    out = []
    for t in targets:
        target = matrix.esc.targets.get(t)
        desc = f" ({target.description})" if target and target.description else ""
        if at is not None and target is not None and target.schedule \
                and target.schedule in matrix.oncall.schedules:
            o = on_call(matrix.oncall.schedules[target.schedule], at)
            desc += f": {o.person} on call" if o.person else f": nobody on call, {o.pages}"
        out.append(f"{t}{desc}")
    return h(", ".join(out))


def _oncall(d: Mapping[str, Any]) -> str:
    """Whom each schedule target reached when the step fired, and why (fire.sql's detail)."""
    parts = []
    for target, o in (d.get("oncall") or {}).items():
        if not isinstance(o, dict):
            continue
        if o.get("person"):
            parts.append(f"{target} was {o['person']} ({o.get('via')} of schedule "
                         f"{o.get('schedule')})")
        else:
            parts.append(f"{target}: nobody on call in {o.get('schedule')}, fallback "
                         f"{o.get('fallback')}")
    return ("; " + "; ".join(parts)) if parts else ""


def step_reason(matrix: Matrix, severity: str, step_no: int) -> str:
    """What escalation.yml says about step ``step_no`` (1-based; repeats continue the count)."""
    level = matrix.esc.levels.get(severity)
    if level is None:
        return f"step {step_no}"
    steps = level.steps
    if 1 <= step_no <= len(steps):
        s = steps[step_no - 1]
        after = "as soon as the alert arrived" if s.delay == 0 else \
            f"{span(s.delay)} after it arrived, still unacknowledged"
        return f"{severity} step {step_no}: {s.description or 'escalation'} ({after})"
    repeat = step_no - len(steps)
    return (f"{severity} step {step_no}: repeat {repeat} of step {len(steps)} "
            f"(every {span(level.repeat.interval)} until acknowledged)")


def notice_reason(matrix: Matrix, severity: str, notice_no: int) -> str:
    level = matrix.esc.levels.get(severity)
    if level is None or not 1 <= notice_no <= len(level.notices):
        return f"notice {notice_no}"
    n = level.notices[notice_no - 1]
    return f"{severity} notice {notice_no}: {n.description or 'notice'} (sent whether or not " \
           "anyone acknowledges)"


def event_text(matrix: Matrix, severity: str, kind: str, d: Mapping[str, Any]) -> str:
    """One escaped line for the timeline's "what and why" column."""
    if kind == "escalated":
        return (f"paged {who(matrix, d.get('targets') or [])}: "
                f"{h(step_reason(matrix, severity, int(d.get('step') or 0)) + _oncall(d))}")
    if kind == "notice":
        return (f"notified {who(matrix, d.get('targets') or [])}: "
                f"{h(notice_reason(matrix, severity, int(d.get('step') or 0)))}")
    if kind == "notified":
        return h(f"delivered to {d.get('target')} via {d.get('channel')} "
                 f"(attempt {d.get('attempt')})")
    if kind in ("delivery_failed", "delivery_dead"):
        return h(f"delivery to {d.get('target')} failed: {d.get('error')}"
                 + (" - given up" if kind == "delivery_dead" else ""))
    if kind == "acked":
        via = {"ack-link": " from the notification's link",
               "api-token": " through the API (personal token)"}.get(str(d.get("via")), "")
        return h(f"acknowledged{via}; note: {d.get('note') or '-'}; "
                 f"{d.get('cancelled_steps', 0)} pending step(s) cancelled")
    if kind == "resolved":
        return h(f"resolved; note: {d.get('note') or '-'}")
    if kind == "received":
        fallback = " (severity label missing or unknown: default level)" \
            if "severity_fallback" in d else ""
        return h(f"received from Alertmanager as {d.get('severity')}{fallback}")
    if kind == "sla_breached":
        return h(f"not acknowledged within the {severity} response time "
                 f"({span(float(d.get('response_time_seconds') or 0))})")
    if kind == "ack_link_refused":
        return h(f"ack link refused ({d.get('reason')}): step {d.get('step')}, "
                 f"sent to {d.get('target')}")
    if kind in ("linked_to_incident",):
        return h(f"linked to incident {d.get('incident_id')}")
    if kind == "response_initiated":
        return f"response initiated; notified {who(matrix, d.get('notified') or [])}"
    if kind == "containment_requested":
        mine = ", requester authenticated by a personal token" \
            if d.get("via") == "api-token" else ""
        return h(f"requested containment of {_action(d)}: {d.get('statements')} statement(s), "
                 f"{d.get('approvals_needed')} approval(s) needed{mine}")
    if kind == "containment_approved":
        # The console and a personal token know who approved; with the shared token the name
        # is what the caller gave (vigil incident approve --who), not verified.
        via = VIA.get(str(d.get("via")), VIA["api"])
        return h(f"approved containment of {_action(d)}, requested by "
                 f"{d.get('requested_by')}, {via}")
    if kind == "created":
        return h(f"created as {d.get('severity')} ({d.get('type')})")
    return h(kind.replace("_", " "))


VIA = {"console": "via console (logged-in user)",
       "api-token": "via API (personal token: authenticated)",
       "api": "via API (name as given with the shared token, not verified)"}


def _action(d: Mapping[str, Any]) -> str:
    return f"{d.get('kind')} {d.get('target')} on {d.get('database')}"
