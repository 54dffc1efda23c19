"""``vigil incident contain|release|approve|containments``: containment from the runbook.

The statements run here, against the monitored database (--dsn, an administrator's login);
the router records each action on the incident's timeline and holds the gate: an incident
whose level needs approvals (escalation.yml ``containment_approvals``, P1: one) is contained
only once another responder approved it: on the console's incident page, as their logged-in
self, with ``vigil incident approve`` and their own API token (auth.users: the router knows
who), or with the shared token and ``--who`` (scripted; the name is taken on trust).

Exit codes: 0 done (or nothing to do), 1 refused (awaiting approval) or not verified,
2 bad usage (a target that does not exist, a release naming the wrong incident).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from vigil import contain
from vigil.contain.model import Plan, Target, TargetError, Verification
from vigil.core import durations, pg
from vigil.core.errors import VigilError

WHO = ("who acts (default: your personal token's user, as the router says; with the shared "
       "token $USER, taken on trust)")
_EXITS = ("exit codes: 0 done or nothing to do, 1 refused (awaiting approval) or not verified, "
          "2 bad usage")


def register(isub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the containment actions to the ``incident`` noun (router/client_cli.py)."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = isub.add_parser("contain", help="contain a role, actor or tenant (planned, approved, "
                        "verified, on the timeline)", epilog=_EXITS, formatter_class=fmt)
    p.add_argument("id", type=int)
    _targets(p, required=True)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true",
                      help="print the exact SQL and its effect; change nothing")
    mode.add_argument("--verify", action="store_true",
                      help="verify the target as it stands (policies, refusal, and for an "
                           "actor the writes refused so far); change nothing")
    p.add_argument("--timeout", default="10s",
                   help="how long a contained role's sessions may take to end (default 10s)")
    _db(p, common)
    p.set_defaults(func=contain_cmd)

    p = isub.add_parser("release", help="undo the incident's containments (or one of them), "
                        "restoring the prior state exactly", epilog=_EXITS, formatter_class=fmt)
    p.add_argument("id", type=int)
    _targets(p, required=False)
    p.add_argument("--dry-run", action="store_true", help="print the SQL; change nothing")
    _db(p, common)
    p.set_defaults(func=release_cmd)

    p = isub.add_parser("approve", help="approve a containment as a second responder: with "
                        "your own token (--token-file) the router knows who you are; with the "
                        "shared token, --who names you and nobody verifies it (the console's "
                        "Approve button names its logged-in user)", epilog=_EXITS,
                        formatter_class=fmt)
    p.add_argument("id", type=int)
    p.add_argument("action", help="role:NAME, actor:ID or tenant:ID (as contain printed it)")
    p.add_argument("--database", help="the monitored database, when the action names several")
    p.add_argument("--who", default=None, help=WHO)
    common(p)
    p.set_defaults(func=approve_cmd)

    p = isub.add_parser("containments", help="an incident's containment actions")
    p.add_argument("id", type=int)
    common(p)
    p.set_defaults(func=list_cmd)


def _targets(p: argparse.ArgumentParser, *, required: bool) -> None:
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--role", help="a database role: NOLOGIN, CONNECT revoked, sessions ended")
    g.add_argument("--actor", help="an application actor (app.current_actor_id): refused")
    g.add_argument("--tenant", help="a tenant: its rows invisible and unwritable")


def _db(p: argparse.ArgumentParser, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p.add_argument("--lock-timeout", default="2s",
                   help="how long to wait for a table lock before giving up with nothing "
                        "changed (default 2s: a long query must not queue the application "
                        "behind the policy change)")
    p.add_argument("--dsn", default=None, help="administrator DSN of the monitored database "
                   f"(default: $VIGIL_ADMIN_DSN with database {pg.DEFAULT_DEMO_DB})")
    p.add_argument("--who", default=None, help=WHO)
    common(p)


def _target(args: argparse.Namespace) -> Target | None:
    for kind in ("role", "actor", "tenant"):
        value = getattr(args, kind)
        if value is not None:
            return Target(kind, value)
    return None


def _dsn(args: argparse.Namespace) -> str:
    return str(args.dsn) if args.dsn else pg.demo_dsn()


def _router(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    from router.client_cli import call

    return call(args, method, path, body)


def actor(args: argparse.Namespace, *, ask: bool = True) -> str:
    from router.client_cli import actor as who

    return who(args, ask=ask)


def _usage(exc: VigilError) -> int:
    print(f"vigil: {exc}", file=sys.stderr)
    return 2


def _show_plan(plan: Plan) -> list[str]:
    lines = [f"{plan.action} {plan.target.label} on {plan.database}"
             + (f" (incident {plan.incident_id})" if plan.incident_id is not None else "")]
    for i, step in enumerate(plan.steps, 1):
        lines += [f"  {i}. {step.sql};", f"     -> {step.effect}"]
    lines += [f"  note: {n}" for n in plan.notes]
    return lines


def _show_check(v: Verification) -> list[str]:
    return [f"verified {v.state}: {'ok' if v.ok else 'FAILED'}"] + [
        f"  {'⚠' if c.no_data else '✓' if c.ok else '✗'} {c.name}: {c.detail}" for c in v.checks]


def _out(args: argparse.Namespace, doc: Any, lines: list[str], code: int = 0) -> int:
    print(json.dumps(doc, indent=2, default=str) if args.json else "\n".join(lines))
    return code


def _lock_timeout(args: argparse.Namespace) -> float:
    try:
        seconds = durations.parse(args.lock_timeout)
    except durations.DurationError as exc:
        raise VigilError(f"--lock-timeout: {exc}") from None
    if seconds <= 0:
        raise VigilError("--lock-timeout: must be more than 0 (0 would wait forever)")
    return seconds


def contain_cmd(args: argparse.Namespace) -> int:
    if args.verify:
        return _verify_only(args)
    try:
        target = _target(args)
        assert target is not None
        timeout = durations.parse(args.timeout)
        plan = contain.plan(_dsn(args), target, args.id, actor(args, ask=not args.dry_run))
    except TargetError as exc:
        return _usage(exc)
    except durations.DurationError as exc:
        return _usage(VigilError(f"--timeout: {exc}"))
    try:
        lock_timeout = _lock_timeout(args)
    except VigilError as exc:
        return _usage(exc)
    if args.dry_run:
        return _out(args, {"dry_run": True, "plan": plan.to_json()},
                    ["dry run: nothing changed", *_show_plan(plan)])
    row = _router(args, "POST", f"/api/v1/incidents/{args.id}/containments", {
        "database": plan.database, "kind": target.kind, "target": target.value,
        "who": actor(args), "plan": plan.to_json()["steps"]})
    if row["state"] == "contained" and plan.noop:
        return _out(args, {"plan": plan.to_json(), "containment": row},
                    [f"{target.label} is contained already (containment {row['id']})"])
    if not row["approved"]:
        need = row["approvals_needed"] - len(row["approved_by"])
        return _out(args, {"refused": "awaiting approval", "containment": row}, [
            f"refused: incident {args.id} needs {need} more approval(s) by a responder other "
            f"than {row['requested_by']} before {target.label} is contained:",
            "  in the console, logged in as themselves: "
            f"{args.url.rstrip('/')}/console/incidents/{args.id}",
            f"  or with their own API token: vigil incident approve {args.id} {target.label} "
            "--token-file THEIRS",
            f"  or, scripted with the shared token (the name is not verified): vigil incident "
            f"approve {args.id} {target.label} --who OTHER",
            "then run this command again."], code=1)
    left = contain.execute(_dsn(args), plan, timeout, lock_timeout)
    check = contain.verify(_dsn(args), target)
    row = _router(args, "POST", f"/api/v1/incidents/{args.id}/containments/{row['id']}/"
                  "contained", {"who": actor(args),
                                "verification": {**check.to_json(), "sessions_left": left}})
    return _out(args, {"plan": plan.to_json(), "verification": check.to_json(),
                       "containment": row},
                [*_show_plan(plan), *_show_check(check)], code=0 if check.ok else 1)


def _verify_only(args: argparse.Namespace) -> int:
    """The database's word on the target, now: no plan, no router (a responder checking
    during the incident, e.g. whether a contained actor keeps trying to write)."""
    target = _target(args)
    assert target is not None
    check = contain.verify(_dsn(args), target)
    return _out(args, {"verification": check.to_json()}, _show_check(check),
                code=0 if check.ok else 1)


def _active(dsn: str, incident_id: int) -> list[Target]:
    with pg.connect(dsn, application_name="vigil-contain") as conn:
        rows = conn.execute("SELECT kind, target FROM vigil_monitor.containments WHERE "
                            "incident_id = %s AND released_at IS NULL ORDER BY id",
                            (incident_id,)).fetchall()
    return [Target(str(k), str(t)) for k, t in rows]  # type: ignore[arg-type]


def release_cmd(args: argparse.Namespace) -> int:
    dsn = _dsn(args)
    one = _target(args)
    try:
        lock_timeout = _lock_timeout(args)
    except VigilError as exc:
        return _usage(exc)
    try:
        targets = [one] if one else _active(dsn, args.id)
        who = actor(args, ask=not args.dry_run)
        plans = [contain.plan_release(dsn, t, who) for t in targets]
    except TargetError as exc:
        return _usage(exc)
    for plan in plans:
        if plan.incident_id not in (None, args.id):
            return _usage(TargetError(plan.target.kind, f"{plan.target.label} is contained by "
                                      f"incident {plan.incident_id}, not {args.id}"))
    if not plans:
        return _out(args, {"released": []}, [f"incident {args.id} has nothing contained"])
    docs: list[Any] = []
    lines = ["dry run: nothing changed"] if args.dry_run else []
    ok = True
    for plan in plans:
        lines += _show_plan(plan)
        if args.dry_run:
            docs.append({"plan": plan.to_json()})
            continue
        contain.execute(dsn, plan, lock_timeout=lock_timeout)
        check = contain.verify(dsn, plan.target)
        ok = ok and check.ok
        lines += _show_check(check)
        docs.append({"plan": plan.to_json(), "verification": check.to_json(),
                     "containment": _record_release(args, plan, check)})
    return _out(args, {"dry_run": args.dry_run, "released": docs}, lines, 0 if ok else 1)


def _record_release(args: argparse.Namespace, plan: Plan, check: Verification) -> Any:
    base = f"/api/v1/incidents/{args.id}/containments"
    rows = _router(args, "GET", base)["containments"]
    mine = [r for r in rows if r["state"] != "released" and r["database"] == plan.database
            and (r["kind"], r["target"]) == (plan.target.kind, plan.target.value)]
    if not mine:
        return None    # nothing on the timeline to close (released twice, or never asked)
    return _router(args, "POST", f"{base}/{mine[0]['id']}/released",
                   {"who": actor(args), "verification": check.to_json()})


def approve_cmd(args: argparse.Namespace) -> int:
    try:
        target = Target.parse(args.action)
    except TargetError as exc:
        return _usage(exc)
    base = f"/api/v1/incidents/{args.id}/containments"
    rows = [r for r in _router(args, "GET", base)["containments"]
            if r["state"] != "released" and (r["kind"], r["target"]) == (target.kind,
                                                                          target.value)
            and args.database in (None, r["database"])]
    if len(rows) != 1:
        what = "no pending" if not rows else "several (name one with --database)"
        return _usage(VigilError(f"action: {what} containment {target.label} on incident "
                                 f"{args.id}; see vigil incident containments {args.id}"))
    row = _router(args, "POST", f"{base}/{rows[0]['id']}/approve", {"who": actor(args)})
    return _out(args, row, [f"{target.label} on {row['database']}: approved by "
                            f"{', '.join(row['approved_by'])} ({row['state']})"])


def list_cmd(args: argparse.Namespace) -> int:
    doc = _router(args, "GET", f"/api/v1/incidents/{args.id}/containments")
    return _out(args, doc, [
        f"{r['id']:>5} {r['kind']}:{r['target']:<24} {r['database']:<16} {r['state']:<18} "
        f"by {r['requested_by']}" for r in doc["containments"]] or ["no containment"])
