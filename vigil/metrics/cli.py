"""``vigil metrics verify|collect`` (runbook: security:metrics:verify / :collect)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from vigil.report.build import default_prometheus_url


def register(sub: Any) -> None:
    p = sub.add_parser("metrics", help="check that metric collection reaches Prometheus",
                       description="The runbook's hourly collection checks.")
    cmds = p.add_subparsers(dest="metrics_command", metavar="SUBCOMMAND", required=True)

    v = cmds.add_parser("verify", help="ask Prometheus whether every collector, target and "
                        "rule group is fresh; exit 1 naming what is stale")
    v.add_argument("--prometheus-url", default=default_prometheus_url(),
                   help="Prometheus base URL (env VIGIL_PROMETHEUS_URL; default %(default)s)")
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.set_defaults(func=_verify)

    c = cmds.add_parser("collect", help="run every collector of a target once now and print "
                        "what it stored")
    c.add_argument("--config", type=Path, default=Path("config/exporter.yml"),
                   help="exporter config (default %(default)s)")
    c.add_argument("--target", help="target name in the config (default: the first)")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.set_defaults(func=_collect)


def _verify(args: argparse.Namespace) -> int:
    from vigil.core.prom import Prom
    from vigil.metrics.verify import verify

    problems, counts = verify(Prom(args.prometheus_url), time.time())
    if args.json:
        print(json.dumps({"ok": not problems, "checked": counts,
                          "problems": [p.__dict__ for p in problems]}, indent=1))
    else:
        for p in problems:
            print(f"STALE {p.line()}")
        print(f"{'FAIL' if problems else 'OK'}: {counts['targets']} targets, "
              f"{counts['collectors']} collectors, {counts['rule_groups']} rule groups checked; "
              f"{len(problems)} problem(s)")
    return 1 if problems else 0


def _collect(args: argparse.Namespace) -> int:
    from vigil.metrics.collect import collect_now

    runs = collect_now(args.config, args.target)
    if args.json:
        print(json.dumps([r.__dict__ for r in runs], indent=1))
    else:
        for r in runs:
            state = "ok" if r.ok else f"FAILED ({r.reason})"
            stored = ", ".join(f"{m}: {n} series" for m, n in sorted(r.samples.items()))
            hist = ", ".join(f"{m}: {n} new observations"
                             for m, n in sorted(r.histograms.items()))
            print(f"{r.collector:16} {state:20} {r.seconds * 1000:7.1f} ms  "
                  + "; ".join(x for x in (stored, hist) if x))
    return 0 if all(r.ok for r in runs) else 1
