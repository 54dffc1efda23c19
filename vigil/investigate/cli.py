"""``vigil incident logs|traffic|integrity ID`` (runbook: incident:logs:collect,
incident:traffic:analyze, incident:integrity:check), and the evidence verbs' hook.

Registered under the router client's ``incident`` noun (router/client_cli.py calls
``register_incident``): the incident and its alerts come from the router API (``--url``,
``--token``), the records from the monitored database (``--dsn``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from vigil.core import cliargs, durations, pg
from vigil.investigate import integrity, records, scope, traffic

EXIT_CODES = "Exit codes: 0 = done, 1 = the router or the database refused, 2 = usage error."


class RouterGet:
    """The router API through router/client_cli.py's call (same token resolution)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    def get(self, path: str) -> Any:
        from router import client_cli
        return client_cli.call(self.args, "GET", path)


def _timestamp(text: str) -> datetime:
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected an ISO timestamp such as "
                                         "2026-11-30T05:00:00Z") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _duration(text: str) -> float:
    try:
        return durations.parse(text)
    except durations.DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def scope_args(p: argparse.ArgumentParser, common: Callable[[argparse.ArgumentParser], None]
               ) -> None:
    p.add_argument("id", type=int, help="incident id")
    flags, options = cliargs.ADMIN_DSN
    p.add_argument(*flags, **options)
    p.add_argument("--lookback", type=_duration, default=scope.DEFAULT_LOOKBACK,
                   help="the window starts this long before the first alert (default 1h)")
    p.add_argument("--since", type=_timestamp, help="window start (ISO; replaces the lookback)")
    p.add_argument("--until", type=_timestamp, help="window end (ISO; default: close or now)")
    p.add_argument("--actor", action="append", default=[], help="an actor id (repeatable)")
    p.add_argument("--tenant", action="append", default=[], help="a tenant id (repeatable)")
    common(p)


def dsn(args: argparse.Namespace) -> str:
    return cliargs.dsn_or_demo(args)


def load(args: argparse.Namespace, *, timelines: bool = False
         ) -> tuple[scope.IncidentDocs, scope.Scope]:
    docs = scope.fetch(RouterGet(args), args.id, timelines=timelines)
    sc = scope.build(docs, datetime.now(UTC), lookback=args.lookback,
                     actors=tuple(args.actor), tenants=tuple(args.tenant),
                     since=args.since, until=args.until)
    return docs, sc


def _scope_line(sc: scope.Scope) -> str:
    who = "every actor" if sc.everyone else \
        f"actors {', '.join(sc.actors) or '-'}; tenants {', '.join(sc.tenants) or '-'}"
    note = (f" ({sc.ignored_labels} actor/tenant label values ignored: not ids)"
            if sc.ignored_labels else "")
    return (f"incident {sc.incident_id}: {sc.since.isoformat()} .. {sc.until.isoformat()}, "
            f"{who}{note}")


def register_incident(isub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = isub.add_parser("logs", help="audit and access records of the incident's scope",
                        description="incident:logs:collect. Identifiers only: free text and "
                                    "PHI columns are left out. " + EXIT_CODES)
    scope_args(p, common)
    p.add_argument("--limit", type=cliargs.positive_int, default=records.DEFAULT_LIMIT,
                   help="at most this many rows of each kind (default %(default)s)")
    p.set_defaults(func=_logs)
    p = isub.add_parser("traffic", help="request and denial rates against each actor's baseline",
                        description="incident:traffic:analyze. " + EXIT_CODES)
    scope_args(p, common)
    p.add_argument("--baseline-days", type=cliargs.positive_int,
                   default=traffic.DEFAULT_BASELINE_DAYS,
                   help="baseline: same-length windows over this many prior days (default 7)")
    p.set_defaults(func=_traffic)
    p = isub.add_parser("integrity", help="audit chain, coverage, controls, roles and grants",
                        description="incident:integrity:check. Exit codes: 0 = every check "
                                    "passed, 1 = a check failed (named) or the router or the "
                                    "database refused, 2 = usage error.")
    scope_args(p, common)
    p.add_argument("--key-file", default=None, help="audit HMAC key file (as vigil audit verify)")
    p.add_argument("--checkpoint-file", default=None, help="the sealer's checkpoint file")
    p.set_defaults(func=_integrity)
    from vigil.evidence import cli as evidence_cli
    evidence_cli.register_incident(isub, common)


def _logs(args: argparse.Namespace) -> int:
    _, sc = load(args)
    with pg.connect(dsn(args), application_name="vigil-incident-logs") as conn:
        audit = records.audit_rows(conn, sc, args.limit)
        access = records.access_records(conn, sc, args.limit)
    if args.json:
        print(json.dumps({"scope": sc.as_dict(), "audit_rows": audit,
                          "access_records": access,
                          "truncated": {"audit_rows": len(audit) >= args.limit,
                                        "access_records": len(access) >= args.limit}},
                         indent=2, default=str))
        return 0
    print(_scope_line(sc))
    print(f"\naudit rows ({len(audit)}):")
    for r in audit:
        print(f"  {r['logged_at']}  {r['state']:<8} {r['actor_id']:<16} {r['tenant_id'] or '-':<12}"
              f" {r['operation']:<6} {r['table_name']} key={r['row_pk'] or '-'} "
              f"columns={','.join(r['changed_columns'])}")
    print(f"\naccess records ({len(access)}):")
    for r in access:
        print(f"  {r['ts']}  {r['actor_id']:<16} {r['tenant_id'] or '-':<12} {r['action']:<10} "
              f"{'ok' if r['success'] else 'DENIED'}")
    return 0


def _traffic(args: argparse.Namespace) -> int:
    _, sc = load(args)
    with pg.connect(dsn(args), application_name="vigil-incident-traffic") as conn:
        doc = traffic.analyze(conn, sc, baseline_days=args.baseline_days)
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
        return 0
    print(_scope_line(sc))
    print(f"\n{'actor':<20} {'req':>7} {'denied':>7} {'req/min':>8} {'baseline':>9} "
          f"{'x base':>7}  first seen .. last seen")
    for a in doc["actors"]:
        base = a["baseline_requests_per_window"]
        ratio = a["ratio_to_baseline"]
        print(f"{a['actor']:<20} {a['requests']:>7} {a['denied']:>7} "
              f"{a['requests_per_minute']:>8} {'-' if base is None else base:>9} "
              f"{'-' if ratio is None else ratio:>7}  {a['first_seen']} .. {a['last_seen']}")
    print(f"\n{'tenant':<20} {'req':>7} {'denied':>7} {'req/min':>8} {'den/min':>8}")
    for t in doc["tenants"]:
        print(f"{t['tenant'] or '-':<20} {t['requests']:>7} {t['denied']:>7} "
              f"{t['requests_per_minute']:>8} {t['denied_per_minute']:>8}")
    print("\ncross-tenant attempts:" + ("" if doc["cross_tenant"] else " none"))
    for c in doc["cross_tenant"]:
        print(f"  {c['actor']} (main tenant {c['main_tenant']}): {c['requests']} requests, "
              f"{c['denied']} denied on {', '.join(c['other_tenants'])}")
    return 0


def _integrity(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vigil.audit import checkpoints, keys

    _, sc = load(args)
    key = keys.load_or_demo(args.key_file)
    cps = checkpoints.read(Path(args.checkpoint_file) if args.checkpoint_file else None)
    with pg.connect(dsn(args), application_name="vigil-incident-integrity") as conn:
        checks = integrity.run(conn, sc, key, cps)
    doc = integrity.as_dict(checks, sc)
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    else:
        print(_scope_line(sc))
        for c in checks:
            mark = "⚠" if c.no_data and c.ok else "✓" if c.ok else "✗"   # ✓ = examined
            print(f"{mark} {c.name}: {c.detail}" + (" (no data)" if c.no_data else ""))
            for problem in c.problems:
                print(f"    {problem}")
    sys.stdout.flush()
    return 0 if doc["ok"] else 1
