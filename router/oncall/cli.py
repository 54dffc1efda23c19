"""``vigil oncall now|next [SCHEDULE] [--at TIME] [--json]``: who is on call, from the
files the router reads (config/oncall.yml, cross-checked with config/escalation.yml)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from vigil.core.cliargs import JSON, arg, noun, verb
from vigil.core.clock import SystemClock

DEFAULT_ONCALL = "config/oncall.yml"
DEFAULT_ESCALATION = "config/escalation.yml"

_EXIT = ("Exit 0 when every schedule shown has a person, 1 when one has nobody scheduled (its "
         "fallback target is paged), 2 for a usage error (an unknown schedule, a --at that is "
         "not a time); a configuration error is printed with its YAML path and exits 1.")


def register(subparsers: Any) -> None:
    options = (
        arg("schedule", nargs="?", default=None, help="one schedule (default: all)"),
        arg("--at", default=None, metavar="TIME",
            help="an ISO 8601 instant instead of now, e.g. 2026-03-08T07:00Z (no offset: UTC)"),
        JSON,
        arg("--oncall", default=DEFAULT_ONCALL, help=f"oncall.yml (default {DEFAULT_ONCALL})"),
        arg("--escalation", default=DEFAULT_ESCALATION,
            help=f"escalation.yml it is checked against (default {DEFAULT_ESCALATION})"))
    sub = noun(subparsers, "oncall", "who is on call now, or next, in config/oncall.yml",
               metavar="now|next")
    verb(sub, "now", run, *options, help="who is on call (exit 1: nobody, the fallback)",
         description=f"Who is on call in each schedule (or one): whom a step naming it pages. "
                     f"{_EXIT}")
    verb(sub, "next", run, *options,
         help="who takes over at the next hand-off, and when",
         description=f"Who takes over at the next hand-off in each schedule (or one), and "
                     f"when. {_EXIT}")


def _at(text: str | None) -> datetime | None:
    if text is None:
        return SystemClock().now()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def run(args: argparse.Namespace) -> int:
    from router.config import load_escalation
    from router.oncall.load import check_against, load_oncall
    from router.oncall.resolve import now_and_next

    at = _at(args.at)
    if at is None:
        print(f"vigil oncall: --at: {args.at!r} is not an ISO 8601 time "
              "(e.g. 2026-03-08T07:00Z)", file=sys.stderr)
        return 2
    oncall = load_oncall(args.oncall)
    check_against(oncall, load_escalation(args.escalation), args.escalation)
    schedules = dict(oncall.schedules)
    if args.schedule is not None:
        if args.schedule not in schedules:
            known = ", ".join(sorted(schedules)) or "none"
            print(f"vigil oncall: schedule: unknown schedule {args.schedule!r} "
                  f"(known: {known})", file=sys.stderr)
            return 2
        schedules = {args.schedule: schedules[args.schedule]}
    rows = now_and_next(schedules, at)
    action = args.oncall_command
    shown = [r.now if action == "now" else r.next for r in rows]
    if args.json:
        print(json.dumps({"at": at.isoformat(), "action": action,
                          "schedules": [{"schedule": r.now.schedule,
                                         "now": r.now.as_dict(),
                                         "next": r.next.as_dict() if r.next else None}
                                        for r in rows]}, indent=2))
    else:
        _table(rows, action, schedules)
    return 1 if any(s is not None and s.person is None for s in shown) else 0


def _local(when: datetime | None, zone: Any) -> str:
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if when else "-"


def _table(rows: list[Any], action: str, schedules: dict[str, Any]) -> None:
    head = ("schedule", "on call" if action == "now" else "next", "via", "from", "until")
    lines = [head]
    for r in rows:
        item = r.now if action == "now" else r.next
        zone = schedules[r.now.schedule].zone
        if item is None:
            lines.append((r.now.schedule, "(no hand-off ahead)", "-", "-", "-"))
            continue
        who = item.person if item.person else f"nobody: fallback {item.fallback}"
        lines.append((item.schedule, who, item.via, _local(item.since, zone),
                      _local(item.until, zone)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for line in lines:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
