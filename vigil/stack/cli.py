"""``vigil up``, ``vigil down``, ``vigil status``: the whole stack on this machine."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

from vigil.core.errors import VigilError
from vigil.stack import health, procs, timings
from vigil.stack.fast import (
    FAST_COLLECTOR,
    FAST_FOR,
    FAST_GROUP_WAIT,
    FAST_INTERVAL,
    FAST_KEEP_FIRING,
    FAST_WINDOW,
)
from vigil.stack.fast import options as fast_options
from vigil.stack.parts import ORDER, Options
from vigil.stack.plan import DEFAULT_PORTS, Layout, Ports, default_layout
from vigil.stack.runner import Stack, StackError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = subparsers.add_parser(
        "up", help="start the whole stack (PostgreSQL, demo, exporter, router, Prometheus, "
                   "Alertmanager, sink)",
        description=(
            "Start every part that is not already running, print its URL, and stay in the "
            "foreground showing each page the sink receives; Ctrl-C stops what it started. "
            "With --detach it returns once everything is healthy; `vigil down` stops it. "
            "Safe to re-run: running parts are detected and kept. It says which rule timings "
            "run (--fast or real). Exit 0: every part healthy; 1: a part failed to start "
            "(named, with the log lines that say why; in the foreground what was started is "
            "stopped again); 2: usage error."))
    _state_arg(up)
    up.add_argument("--detach", action="store_true",
                    help="return once the stack is healthy, leave it running")
    up.add_argument("--no-workload", action="store_true",
                    help="do not start the demo workload (vigil demo load)")
    up.add_argument("--only", default=None, metavar="PART,...",
                    help=f"start just these parts ({', '.join(ORDER)}), no set-up steps")
    up.add_argument("--port", action="append", default=[], metavar="PART=PORT",
                    help="use another port for a part (repeatable), e.g. --port sink=28092")
    up.add_argument("--fast", action="store_true",
                    help="demo timings, to see a page within a minute: every rule's "
                         f"for: capped at {FAST_FOR} and range windows at {FAST_WINDOW} (the "
                         "overlay the tests use), alerts keep firing for "
                         f"{FAST_KEEP_FIRING} through a dip, collectors every {FAST_COLLECTOR}, "
                         f"scrapes and evaluations every {FAST_INTERVAL}, Alertmanager waits "
                         f"{FAST_GROUP_WAIT} before the first notification. For trying vigil "
                         "out, never for production; "
                         "parts already running keep their timings (`vigil down` first)")
    up.add_argument("--health-timeout", type=float, default=120.0, metavar="SECONDS",
                    help="how long to wait for every part to be healthy (default %(default)s)")
    up.set_defaults(func=run_up)

    down = subparsers.add_parser("down", help="stop everything `vigil up` started")
    _state_arg(down)
    down.set_defaults(func=run_down)

    status = subparsers.add_parser(
        "status", help="what is running, health, open alerts, next escalation due",
        description=(
            "Each part (running, healthy), the rule timings Prometheus runs (--fast or real), "
            "each exporter collector's last run (ok or failed, last success, errors by "
            "reason), each Prometheus scrape, open alerts by severity and the next "
            "escalation due. Exit 0: all healthy; 1: a part is down or unhealthy, a "
            "collector's last run failed, a target is down or a scrape fails; 2: usage."))
    _state_arg(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=run_status)


def _state_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="state and logs folder (default: .vigil/ in the checkout, "
                             "or $VIGIL_STATE_DIR)")


def _stack(args: argparse.Namespace, port_args: list[str] | None = None,
           **options: Any) -> Stack:
    layout: Layout = default_layout(args.state_dir)
    ports = Ports.of()
    try:  # status/down talk to the ports `vigil up` used
        saved = json.loads(layout.stack_file.read_text())["ports"]
        ports = Ports.of(**{k: int(v) for k, v in saved.items() if k in DEFAULT_PORTS})
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if port_args:
        changes: dict[str, int] = {}
        for item in port_args:
            name, _, value = item.partition("=")
            if name not in DEFAULT_PORTS or not value.isdigit():
                raise StackError(f"--port {item}: use PART=PORT with PART one of "
                                 f"{', '.join(DEFAULT_PORTS)}")
            changes[name] = int(value)
        ports = dataclasses.replace(ports, **changes)
    return Stack(layout, Options(ports=ports, **options))


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def run_up(args: argparse.Namespace) -> int:
    only = None
    if args.only:
        only = tuple(p.strip() for p in args.only.split(",") if p.strip())
        unknown = sorted(set(only) - set(ORDER))
        if unknown:
            raise StackError(f"--only: unknown part(s) {', '.join(unknown)}; "
                             f"parts: {', '.join(ORDER)}")
    fast = fast_options(default_layout(args.state_dir)) if args.fast else {}
    stack = _stack(args, args.port, with_workload=not args.no_workload,
                   health_timeout=args.health_timeout, only=only,
                   die_with_parent=not args.detach, **fast)
    foreground = not args.detach
    old = {s: signal.signal(s, _raise_stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    started: list[str] = []
    try:
        try:
            started, failed = stack.up()
        except (_Stop, KeyboardInterrupt):
            print("\ninterrupted: stopping what was started", flush=True)
            stack.down(stack.started)
            return 130
        if failed:
            _print_failures(stack, failed)
            if foreground:
                print("\nstopping what this `vigil up` started", flush=True)
                stack.down(started)
            else:
                print("\nthe other parts keep running; fix the cause and re-run "
                      "`vigil up --detach`, or `vigil down` to stop them.", flush=True)
            return 1
        _print_urls(stack)
        _print_timings(stack, asked_fast=args.fast)
        if not foreground:
            print("\nrunning in the background: `vigil status` reports, `vigil down` stops it.",
                  flush=True)
            return 0
        if not started:
            print("\neverything was already running (an earlier `vigil up --detach`?); "
                  "`vigil down` stops it.", flush=True)
            return 0
        print("\nPages appear below as the sink receives them. Ctrl-C stops the stack.",
              flush=True)
        with contextlib.suppress(_Stop, KeyboardInterrupt):
            _follow(stack, started)
        print("\nstopping the stack", flush=True)
        stack.down(started)
        # The sink's and router's logs stay in the state folder for a look afterwards.
        return 0
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _print_failures(stack: Stack, failed: list[str]) -> None:
    """Not "vigil is up": which part failed and the log lines that say why."""
    print(f"\nvigil up FAILED: {len(failed)} part(s) did not start: {', '.join(failed)}",
          flush=True)
    for name in failed:
        print(f"\n{name}: {stack.failures.get(name, 'see ' + str(stack.layout.log(name)))}",
              flush=True)


def _print_timings(stack: Stack, *, asked_fast: bool) -> None:
    """Say which rule timings run: a kept Prometheus keeps the timings it started with."""
    if "prometheus" not in stack.services():
        return
    running = timings.running(f"http://127.0.0.1:{stack.options.ports.prometheus}")
    if running is None:
        return
    print(f"\nrule timings: {running.describe()}", flush=True)
    if running.fast != asked_fast:
        print(f"  (Prometheus was already running with these; you asked for "
              f"{'--fast' if asked_fast else 'real timings'}: `vigil down`, then `vigil up"
              f"{' --fast' if asked_fast else ''}`)", flush=True)


def _print_urls(stack: Stack) -> None:
    print("\nvigil is up:", flush=True)
    for title, url in stack.urls():
        print(f"  {title:<20} {url}", flush=True)


def _follow(stack: Stack, started: list[str]) -> None:
    """Print each sink page line as it is logged; report parts that exit."""
    sink_log = stack.layout.log("sink")
    pos = sink_log.stat().st_size if sink_log.exists() else 0
    reported: set[str] = set()
    while True:
        if sink_log.exists():
            with sink_log.open("rb") as fh:
                fh.seek(pos)
                chunk = fh.read()
            # Only whole lines; a half-written one waits for the next round.
            end = chunk.rfind(b"\n") + 1
            pos += end
            for line in chunk[:end].decode(errors="replace").splitlines():
                if " PAGE " in line:
                    print(line, flush=True)
        for name in started:
            record = stack.records.load(name)
            if name not in reported and (record is None or not procs.is_running(record)):
                reported.add(name)
                print(f"!! {name} exited; see {stack.layout.log(name)}", flush=True)
        time.sleep(0.5)


def run_down(args: argparse.Namespace) -> int:
    stack = _stack(args)
    stopped = stack.down()
    if not stopped:
        print(f"nothing was running (state: {stack.layout.state})")
    else:
        print(f"stopped: {', '.join(stopped)}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    stack = _stack(args)
    parts = stack.status()
    state = {p.name: p for p in parts}
    ports = stack.options.ports

    def running(name: str) -> bool:
        return name in state and state[name].state == "running"

    summary: dict[str, Any] | None = None
    summary_error = ""
    if running("router"):
        try:
            summary = stack.router_summary()
        except (VigilError, ValueError) as exc:
            summary_error = str(exc)
    exporter: health.ExporterHealth | None = None
    exporter_error = ""
    if running("exporter"):
        try:
            exporter = health.exporter(f"http://127.0.0.1:{ports.exporter}/metrics")
        except (VigilError, OSError, ValueError) as exc:
            exporter_error = str(exc)
    scrapes: list[dict[str, Any]] | None = None
    scrapes_error = ""
    running_timings = None
    if running("prometheus"):
        prom_url = f"http://127.0.0.1:{ports.prometheus}"
        running_timings = timings.running(prom_url)
        scrapes, scrapes_error = health.scrapes(prom_url)
    ok = (all(p.state in ("running", "skipped") and p.healthy is not False for p in parts)
          and (exporter is None or exporter.ok) and not exporter_error and not scrapes_error
          and all(t["health"] == "up" for t in scrapes or []))
    if args.json:
        print(json.dumps({
            "state_dir": str(stack.layout.state),
            "parts": [p.__dict__ for p in parts],
            "timings": None if running_timings is None else {
                "fast": running_timings.fast,
                "evaluation_interval": running_timings.evaluation_interval},
            "exporter": None if exporter is None else dataclasses.asdict(exporter),
            "exporter_error": exporter_error or None,
            "scrapes": scrapes, "scrapes_error": scrapes_error or None,
            "alerts": summary, "alerts_error": summary_error or None, "ok": ok,
        }, indent=2, default=str))
        return 0 if ok else 1
    print(f"vigil stack (state: {stack.layout.state})")
    for p in parts:
        health_word = {True: "healthy", False: "UNHEALTHY", None: "-"}[p.healthy]
        pid = str(p.pid) if p.pid else "-"
        detail = p.detail or p.url or ""
        print(f"  {p.name:<13} {p.state:<8} {health_word:<10} pid {pid:<8} {detail}")
    if running_timings is not None:
        print(f"rule timings: {running_timings.describe()}")
    else:
        print("rule timings: unknown (Prometheus is not running or not answering)")
    _print_exporter(exporter, exporter_error)
    if scrapes_error:
        print(f"Prometheus scrapes: unknown ({scrapes_error})")
    if scrapes is not None:
        print("Prometheus scrapes:")
        for t in scrapes:
            print(f"  {t['job']:<20} {t['instance']:<22} {scrape_mark(t['health']):<7} "
                  f"{t['last_error'] or ''}".rstrip())
    _print_alerts(summary, summary_error)
    return 0 if ok else 1


def scrape_mark(health: str) -> str:
    """Prometheus's word for a target: "unknown" is a target not scraped yet (just after
    `vigil up`), which is not a failure with no error to show."""
    return {"up": "ok", "unknown": "not scraped yet"}.get(health, "FAILED")


def _print_exporter(exporter: health.ExporterHealth | None, error: str) -> None:
    if error:
        print(f"exporter collectors: unknown ({error})")
        return
    if exporter is None:
        return
    for t in exporter.targets:
        state = "up" if t.up else f"DOWN ({t.down_reason or 'other'})"
        print(f"exporter target {t.target}: {state}")
    print("exporter collectors (last run):")
    if not exporter.collectors:
        print("  none has run yet")
    for c in exporter.collectors:
        age = ("never succeeded" if c.last_success_age is None
               else f"last success {c.last_success_age:.0f} s ago")
        errors = ", ".join(f"{r}={n:g}" for r, n in sorted(c.errors.items()))
        mark = "ok" if c.ok else "FAILED"
        print(f"  {c.target:<10} {c.collector:<16} {mark:<7} {age}"
              f"{'  errors: ' + errors if errors else ''}")


def _print_alerts(summary: dict[str, Any] | None, summary_error: str) -> None:
    if summary is not None:
        counts = "  ".join(f"{sev}={n}" for sev, n in summary["open"].items())
        print(f"open alerts: {counts}")
        if summary.get("acked"):
            print(f"  (of which acknowledged: {summary['acked']})")
        nxt = summary["next_due"]
        if nxt is None:
            print("next escalation due: none")
        else:
            targets = ", ".join(nxt.get("targets") or [])
            print(f"next escalation due: {nxt['due_at']}: alert {nxt['alert_id']} "
                  f"{nxt['alertname']} ({nxt['severity']}) step {nxt['step']} -> {targets}")
    elif summary_error:
        print(f"open alerts: unknown ({summary_error})")
    else:
        print("open alerts: unknown (the router is not running)")
