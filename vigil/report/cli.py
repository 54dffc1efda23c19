"""``vigil report daily|attest|list|verify|schedule`` (runbook: security:report:daily)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from vigil.report import build
from vigil.report.errors import ReportError
from vigil.report.window import parse_date


def _date(text: str) -> dt.date:
    try:
        return parse_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _store_arg(p: argparse.ArgumentParser, *names: str) -> None:
    p.add_argument(*(names or ("--store",)), dest="store", metavar="DIR",
                   help="the report store (env VIGIL_REPORT_DIR; default "
                        "<state folder>/reports, i.e. .vigil/reports)")


def register(sub: Any) -> None:
    p = sub.add_parser("report", help="the daily security report: build, sign off, verify",
                       description="Daily security report from Prometheus and the database; "
                                   "hash-chained report.json, report.html, report.md.")
    cmds = p.add_subparsers(dest="report_command", metavar="SUBCOMMAND", required=True)

    d = cmds.add_parser("daily", help="build one day's report (default: yesterday, UTC)")
    d.add_argument("--date", type=_date, help="the UTC day, YYYY-MM-DD (default yesterday)")
    _store_arg(d, "--out", "--store")
    d.add_argument("--prometheus-url", default=build.default_prometheus_url(),
                   help="Prometheus base URL (env VIGIL_PROMETHEUS_URL; default %(default)s)")
    d.add_argument("--dsn", help="monitored database (env VIGIL_REPORT_DSN; default: the demo "
                                 "database of `vigil up`)")
    d.add_argument("--router-dsn", default=build.default_router_dsn(),
                   help="the router's database, for response times and incidents (env "
                        "VIGIL_ROUTER_DSN; without it they are listed as missing)")
    d.add_argument("--step", type=int, default=60, help="seconds per plotted point "
                                                        "(default %(default)s)")
    d.add_argument("--replace", action="store_true",
                   help="rebuild the newest stored day (its attestations stop counting)")
    d.set_defaults(func=_daily)

    a = cmds.add_parser("attest", help="record that a person reviewed a day's report")
    a.add_argument("date", type=_date)
    a.add_argument("--by", required=True, help="the reviewer's name")
    a.add_argument("--note", default="", help="what the review found or did")
    _store_arg(a)
    a.set_defaults(func=_attest)

    ls = cmds.add_parser("list", help="each stored day, its hash, status and reviewers")
    _store_arg(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)

    v = cmds.add_parser("verify", help="check the hash chain of stored reports; exit 1 naming "
                                       "the first broken day")
    _store_arg(v)
    v.set_defaults(func=_verify)

    s = cmds.add_parser("schedule", help="run the daily report and the hourly checks; serve "
                                         "their status on /metrics")
    _store_arg(s)
    s.add_argument("--prometheus-url", default=build.default_prometheus_url())
    s.add_argument("--dsn")
    s.add_argument("--router-dsn", default=build.default_router_dsn())
    s.add_argument("--at", default="00:15", help="UTC time to build yesterday's report")
    s.add_argument("--verify-every", type=float, default=3600.0,
                   help="seconds between `vigil metrics verify` runs (default hourly)")
    s.add_argument("--listen", default="127.0.0.1:18093", help="HOST:PORT for /metrics")
    s.set_defaults(func=_schedule)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _daily(args: argparse.Namespace) -> int:
    store = build.store_at(args.store)
    now = _now()
    date = args.date or build.yesterday(now)
    if date >= now.date():
        raise ReportError(f"{date} is not over yet (UTC); a report covers a whole past day")
    sources = build.Sources(args.prometheus_url, args.dsn or build.default_dsn(),
                            args.router_dsn)
    doc, folder = build.daily(sources, date, store, now=now, step=args.step,
                              replace=args.replace)
    print(f"{date}: {doc['status']}; {len(doc['missing'])} missing source(s); "
          f"hash {doc['hash']}")
    print(f"stored in {folder} (report.json, report.html, report.md)")
    return 0


def _attest(args: argparse.Namespace) -> int:
    store = build.store_at(args.store)
    entry = store.attest(args.date.isoformat(), args.by, args.note, _now())
    print(f"{entry['date']}: reviewed by {entry['by']} at {entry['at']} "
          f"(report {entry['report_hash'][:16]}...)")
    return 0


def _list(args: argparse.Namespace) -> int:
    store = build.store_at(args.store)
    reviews = store.reviews()
    rows: list[dict[str, Any]] = []
    for date in store.dates():
        doc = store.load(date)
        rows.append({"date": date, "hash": doc.get("hash"), "status": doc.get("status"),
                     "reviewed_by": [r["by"] for r in reviews.get(date, [])]})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print(f"no reports stored in {store.root}")
    for r in rows:
        who = ", ".join(r["reviewed_by"]) or "NOT REVIEWED"
        print(f"{r['date']}  {str(r['hash'])[:16]}  {r['status']:9}  {who}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    store = build.store_at(args.store)
    broken = store.verify()
    if not broken:
        print(f"OK: {len(store.dates())} report(s) in {store.root}, chain intact")
        return 0
    print(f"BROKEN at {broken[0].date}: {broken[0].reason}")
    for b in broken[1:]:
        print(f"  also {b.date}: {b.reason}")
    return 1


def _schedule(args: argparse.Namespace) -> int:
    from vigil.report.schedule import Scheduler, run

    host, _, port = args.listen.rpartition(":")
    sched = Scheduler(build.store_at(args.store),
                      build.Sources(args.prometheus_url, args.dsn or build.default_dsn(),
                                    args.router_dsn),
                      at=dt.time.fromisoformat(args.at), verify_every=args.verify_every)
    run(sched, host or "127.0.0.1", int(port))
    return 0
