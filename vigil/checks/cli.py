"""``vigil check health|security|verify``: the runbook's commands, for real."""

from __future__ import annotations

import argparse
import json
from typing import Any

from vigil.checks import runbook
from vigil.core import pg


def register(subparsers: Any) -> None:
    check = subparsers.add_parser("check", help="the runbook's health, security and verify checks")
    sub = check.add_subparsers(dest="check_command", metavar="CHECK", required=True)

    p = sub.add_parser(
        "health", help="Daily Health Check (exit 1 when a threshold is crossed)",
        description="The runbook's Daily Health Check, read straight from vigil_monitor: RLS "
                    "overhead (measured now, worst table), PHI query time and audit write time "
                    "(p95 over the window). One line each: ✓ within the threshold, ✗ crossed, "
                    "⚠ no data (nothing was measured: not a pass). Exit 0 all ✓, 1 any ✗, "
                    "2 no ✗ but some ⚠. Run it with the monitoring login (--dsn), not a "
                    "superuser.")
    _dsn_arg(p)
    p.add_argument("--rls-ms", type=float, default=50.0,
                   help="RLS overhead threshold in ms (default %(default)s)")
    p.add_argument("--phi-ms", type=float, default=100.0,
                   help="PHI query p95 threshold in ms (default %(default)s)")
    p.add_argument("--audit-ms", type=float, default=10.0,
                   help="audit write p95 threshold in ms (default %(default)s)")
    p.add_argument("--window-minutes", type=float, default=60.0,
                   help="how far back PHI and audit timings are read (default %(default)s)")
    p.add_argument("--samples", type=int, default=3,
                   help="RLS measurement samples per table (default %(default)s)")
    p.add_argument("--budget-ms", type=int, default=2000,
                   help="time budget for the RLS measurement (default %(default)s)")
    p.set_defaults(func=_health)

    p = sub.add_parser("security", help="the SecurityMetrics",
                       description="The runbook's SecurityMetrics (access patterns, "
                                   "encryption, audit) as they stand now.")
    _dsn_arg(p)
    p.add_argument("--json", action="store_true", help="print JSON in the runbook's shape")
    p.set_defaults(func=_security)

    p = sub.add_parser("verify", help="audit chain, audit coverage and tenant isolation",
                       description="✓ verified, ✗ failed, ⚠ nothing to examine (no sealed audit "
                                   "row, no PHI registered). Exit 0 all ✓, 1 any ✗, 2 some ⚠. "
                                   "Tenant isolation is probed on every RLS table as the roles "
                                   "its policies apply to; a table it cannot probe fails it.")
    _dsn_arg(p)
    p.add_argument("--app-role", default="vigil_demo_app",
                   help="ignored (kept for old scripts): isolation is probed as the roles the "
                        "policies apply to, see vigil db probe set --role")
    p.set_defaults(func=_verify)


def _dsn_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dsn", default=None,
                   help="DSN of the monitoring login (e.g. vigil_exporter) on the monitored "
                        "database; no superuser needed (default: $VIGIL_ADMIN_DSN with "
                        f"database {pg.DEFAULT_DEMO_DB}, i.e. the demo)")


def _dsn(args: argparse.Namespace) -> str:
    return str(args.dsn) if args.dsn else pg.demo_dsn()


def _print(results: list[runbook.CheckResult], unit: str = "") -> int:
    for r in results:
        mark = "⚠" if r.no_data else "✓" if r.ok else "✗"
        if r.threshold is not None and unit:
            value = "no data" if r.value is None else f"{r.value:.2f}{unit}"
            print(f"{mark} {r.name}: {value} (threshold < {r.threshold:g}{unit}; {r.detail})")
        else:
            print(f"{mark} {r.name}: {r.detail}")
    if any(not r.ok and not r.no_data for r in results):
        return 1
    return 2 if any(r.no_data for r in results) else 0


def _health(args: argparse.Namespace) -> int:
    return _print(runbook.health(
        _dsn(args), rls_ms=args.rls_ms, phi_ms=args.phi_ms, audit_ms=args.audit_ms,
        window_minutes=args.window_minutes, samples=args.samples, budget_ms=args.budget_ms), "ms")


def _security(args: argparse.Namespace) -> int:
    metrics = runbook.security(_dsn(args))
    if args.json:
        print(json.dumps(metrics, default=str, indent=2))
        return 0
    for group, values in metrics.items():
        for key, value in values.items():
            print(f"{group + '.' + key:38} {value}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    return _print(runbook.verify(_dsn(args), app_role=args.app_role))
