"""``vigil phi metrics``: the runbook's ``phi:metrics`` (PHI Performance, step 1)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from vigil.checks import phi
from vigil.checks.cli import window_minutes
from vigil.core.cliargs import JSON, MONITOR_DSN, arg, dsn_or_demo, noun, positive, verb


def register(subparsers: Any) -> None:
    sub = noun(subparsers, "phi", "PHI query and encryption performance")
    verb(sub, "metrics", _metrics, MONITOR_DSN, JSON, window_minutes("timings"),
         arg("--threshold-ms", type=positive, default=100.0,
             help="p95 threshold in ms, the runbook's PHI query and encryption operation limit "
                  "(default %(default)s)"),
         help="PHI query and encryption time p50/p95/p99 over a window")


def _metrics(args: argparse.Namespace) -> int:
    """The runbook's phi:metrics: PHI query time per table and operation
    (vigil_monitor.phi_access_patterns) and encryption time per key and operation
    (vigil_monitor.encryption_ops, successful operations), p50, p95, p99 and max in ms over
    the window, each p95 judged against the threshold. Exit codes: 0 every p95 under the
    threshold; 1 a p95 at or over it (the row names the docs/runbook.md section to follow);
    2 no PHI query or no encryption operation in the window (not a pass), or a usage error.
    """
    dsn = dsn_or_demo(args)
    rows = phi.metrics(dsn, window_minutes=args.window_minutes, threshold_ms=args.threshold_ms)
    # A kind with no row in the window was not measured: not a pass (⚠, exit 2) unless a
    # crossed threshold already makes it a failure.
    missing = {"phi_query", "encryption"} - {r.kind for r in rows}
    code = 1 if any(not r.ok for r in rows) else 2 if missing else 0
    if args.json:
        print(json.dumps({"status": ("pass", "fail", "no_data")[code], "exit_code": code,
                          "window_minutes": args.window_minutes,
                          "threshold_ms": args.threshold_ms,
                          "rows": [r.as_json() for r in rows]}, indent=2))
        return code
    print(f"over the last {args.window_minutes:g} min; threshold: p95 < "
          f"{args.threshold_ms:g} ms")
    if not rows:
        print("⚠ no data: no PHI query or encryption operation in the window (not a pass)")
        return code
    titles = (("phi_query", "PHI query time (table)"), ("encryption", "encryption time (key)"))
    width = max(len(r.subject) for r in rows) + 1
    width = max(width, *(len(title) for _, title in titles))
    for kind, title in titles:
        mine = [r for r in rows if r.kind == kind]
        if not mine:
            print(f"\n{title}: ⚠ none in the window")
            continue
        print(f"\n  {title:{width}}  {'operation':9} {'count':>7} {'p50 ms':>9} {'p95 ms':>9} "
              f"{'p99 ms':>9} {'max ms':>9}")
        for r in mine:
            print(f"{'✓' if r.ok else '✗'} {r.subject:{width}}  {r.operation:9} {r.count:>7} "
                  f"{r.p50_ms:>9.2f} {r.p95_ms:>9.2f} {r.p99_ms:>9.2f} {r.max_ms:>9.2f}")
            if not r.ok:
                print(f"  {'':{width}}  → p95 over {args.threshold_ms:g} ms: see {r.guide}")
    return code
