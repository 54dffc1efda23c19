"""``vigil check health|security|anomaly|verify``: the runbook's commands, for real.

A table for people (each ✗ names the runbook section to follow), ``--json`` for scripts.
Exit codes: 0 all pass, 1 a check failed, 2 no failure but nothing examined (⚠) or a usage
error (argparse).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from vigil.checks import anomaly, runbook
from vigil.checks.security import judge
from vigil.core.cliargs import (
    JSON,
    MONITOR_DSN,
    Arg,
    arg,
    dsn_or_demo,
    noun,
    positive,
    positive_int,
    verb,
)

EXIT_CODES = ("Exit codes: 0 every check passed; 1 a check failed (each ✗ line names the "
              "docs/runbook.md section to follow); 2 no failure but some check had no data "
              "(⚠, not a pass), or a usage error.")


# The runbook's three thresholds: (flag, default ms, what it bounds).
THRESHOLDS = (("--rls-ms", 50.0, "RLS overhead"), ("--phi-ms", 100.0, "PHI query p95"),
              ("--audit-ms", 10.0, "audit write p95"))


def window_minutes(what: str) -> Arg:
    return arg("--window-minutes", type=positive, default=60.0,
               help=f"how far back {what} are read, > 0 (default %(default)s)")


def register(subparsers: Any) -> None:
    sub = noun(subparsers, "check", "the runbook's health, security and verify checks", "CHECK")
    verb(sub, "health", _health, MONITOR_DSN, JSON,
         *(arg(flag, type=positive, default=ms, help=f"{what} threshold in ms "
               "(default %(default)s)") for flag, ms, what in THRESHOLDS),
         window_minutes("PHI and audit timings"),
         arg("--samples", type=positive_int, default=3,
             help="RLS measurement samples per table (default %(default)s)"),
         arg("--budget-ms", type=positive_int, default=2000,
             help="time budget for the RLS measurement (default %(default)s)"),
         help="Daily Health Check (exit 1 when a threshold is crossed)",
         description="The runbook's Daily Health Check, read straight from vigil_monitor: RLS "
                     "overhead (measured now, worst table), PHI query time and audit write "
                     "time (p95 over the window). One line each: ✓ within the threshold, ✗ "
                     "crossed, ⚠ no data (nothing was measured: not a pass). Run it with the "
                     "monitoring login (--dsn), not a superuser. " + EXIT_CODES)
    verb(sub, "security", _security, MONITOR_DSN, JSON,
         arg("--key-max-age-days", type=positive, default=90.0,
             help="oldest acceptable active key, in days (default %(default)s, as "
                  "vigil:policy:encryption_key_max_age_seconds)"),
         help="the SecurityMetrics (exit 1 on any issue)",
         description="The runbook's SecurityMetrics (access patterns, encryption, audit) as "
                     "they stand now, each with its unit. Issues: unusual access patterns now, "
                     "the oldest active key older than --key-max-age-days, re-encryption "
                     "stalled, PHI tables not audited, audit gaps, a broken audit chain. "
                     "Totals since install are context, not judged. Exit codes: 0 no issue, 1 "
                     "any issue (each names its docs/runbook.md section), 2 usage error.")
    verb(sub, "anomaly", _anomaly, MONITOR_DSN, JSON,
         help="every actor flagged by the unusual-access rule (security:anomaly:check)",
         description="Every actor the unusual-access rule flags now, with the rule and the "
                     "numbers behind it: the rule VigilUnusualAccessPatterns alerts on "
                     "(vigil_monitor.unusual_access_patterns(), thresholds in the unusual_* "
                     "settings). Exit codes: 0 no actor flagged, 1 some actor flagged, 2 usage "
                     "error.")
    verb(sub, "verify", _verify, MONITOR_DSN, JSON,
         arg("--app-role", default="vigil_demo_app",
             help="ignored (kept for old scripts): isolation is probed as the roles the "
                  "policies apply to, see vigil db probe set --role"),
         help="audit chain, audit coverage and tenant isolation",
         description="✓ verified, ✗ failed, ⚠ nothing to examine (no sealed audit row, no PHI "
                     "registered). Tenant isolation is probed on every RLS table as the roles "
                     "its policies apply to; a table it cannot probe fails it. " + EXIT_CODES)


_dsn = dsn_or_demo


def _exit_code(results: list[runbook.CheckResult]) -> int:
    if any(r.status == "fail" for r in results):
        return 1
    return 2 if any(r.no_data for r in results) else 0


def _print(results: list[runbook.CheckResult], as_json: bool, unit: str = "") -> int:
    code = _exit_code(results)
    if as_json:
        print(json.dumps({"status": ("pass", "fail", "no_data")[code], "exit_code": code,
                          "checks": [{"name": r.name, "status": r.status, "value": r.value,
                                      "threshold": r.threshold, "unit": unit or None,
                                      "detail": r.detail, "guide": r.guide}
                                     for r in results]}, indent=2))
        return code
    for r in results:
        mark = "⚠" if r.no_data else "✓" if r.ok else "✗"
        if r.threshold is not None and unit:
            value = "no data" if r.value is None else f"{r.value:.2f}{unit}"
            line = f"{mark} {r.name}: {value} (threshold < {r.threshold:g}{unit}; {r.detail})"
        else:
            line = f"{mark} {r.name}: {r.detail}"
        print(line if r.status != "fail" else f"{line}\n    → see {r.guide}")
    return code


def _health(args: argparse.Namespace) -> int:
    return _print(runbook.health(
        _dsn(args), rls_ms=args.rls_ms, phi_ms=args.phi_ms, audit_ms=args.audit_ms,
        window_minutes=args.window_minutes, samples=args.samples, budget_ms=args.budget_ms),
        args.json, "ms")


def _security(args: argparse.Namespace) -> int:
    metrics = runbook.security(_dsn(args))
    rows = judge(metrics, key_max_age_days=args.key_max_age_days)
    code = 1 if any(m.issue for m in rows) else 0
    if args.json:
        # The runbook's SecurityMetrics shape first (scripts written against it keep working),
        # then each metric judged with its unit.
        print(json.dumps({**metrics, "status": "fail" if code else "pass", "exit_code": code,
                          "metrics": [m.as_json() for m in rows]}, indent=2))
        return code
    width = max(len(m.key) for m in rows)
    print(f"  {'metric':{width}}  value")
    for m in rows:
        mark = "✗" if m.issue else "✓"
        print(f"{mark} {m.key:{width}}  {m.shown}")
        if m.issue:
            print(f"  {'':{width}}  → {m.issue}: see {m.guide}")
    return code


def _anomaly(args: argparse.Namespace) -> int:
    found = anomaly.check(_dsn(args))
    if args.json:
        print(json.dumps(found.as_json(), indent=2))
    else:
        for f in found.flagged:
            print(f"✗ {f.actor}: {f.rule}: {f.why(found.thresholds)}")
        if not found.flagged:
            t = found.thresholds
            print(f"✓ no actor flagged in the last {t.window_seconds:g} s (failed attempts "
                  f">= {t.failed_threshold}, or >= {t.min_requests} requests above "
                  f"{t.rate_factor:g}x the actor's baseline)")
    return 1 if found.flagged else 0


def _verify(args: argparse.Namespace) -> int:
    return _print(runbook.verify(_dsn(args), app_role=args.app_role), args.json)
