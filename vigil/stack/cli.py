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
from vigil.stack import procs
from vigil.stack.plan import Layout, Ports, default_layout, repo_root
from vigil.stack.runner import ORDER, Options, Stack, StackError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = subparsers.add_parser(
        "up", help="start the whole stack (PostgreSQL, demo, exporter, router, Prometheus, "
                   "Alertmanager, sink)",
        description=(
            "Start every part that is not already running, print its URL, and stay in the "
            "foreground showing each page the sink receives; Ctrl-C stops what it started. "
            "With --detach it returns once everything is healthy; `vigil down` stops it. "
            "Safe to re-run: running parts are detected and kept."))
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
                    help="demo timings, to see a page within a minute or two: every rule's "
                         f"for: capped at {FAST_FOR} and range windows at {FAST_WINDOW} (the "
                         "overlay the tests use), scrapes and evaluations every "
                         f"{FAST_INTERVAL}, Alertmanager waits {FAST_GROUP_WAIT} before the "
                         "first notification. For trying vigil out, never for production; "
                         "parts already running keep their timings (`vigil down` first)")
    up.add_argument("--health-timeout", type=float, default=120.0, metavar="SECONDS",
                    help="how long to wait for every part to be healthy (default %(default)s)")
    up.set_defaults(func=run_up)

    down = subparsers.add_parser("down", help="stop everything `vigil up` started")
    _state_arg(down)
    down.set_defaults(func=run_down)

    status = subparsers.add_parser(
        "status", help="what is running, health, open alerts, next escalation due")
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
    ports = Ports()
    try:  # status/down talk to the ports `vigil up` used
        saved = json.loads(layout.stack_file.read_text())["ports"]
        ports = Ports(**{k: int(v) for k, v in saved.items() if k in Ports.__annotations__})
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if port_args:
        changes: dict[str, int] = {}
        for item in port_args:
            name, _, value = item.partition("=")
            if name not in Ports.__annotations__ or not value.isdigit():
                raise StackError(f"--port {item}: use PART=PORT with PART one of "
                                 f"{', '.join(Ports.__annotations__)}")
            changes[name] = int(value)
        ports = dataclasses.replace(ports, **changes)
    return Stack(layout, Options(ports=ports, **options))


# --fast: long enough that one slow sample doesn't page, short enough to watch.
FAST_FOR = "20s"
FAST_WINDOW = "1m"
FAST_INTERVAL = "5s"
FAST_GROUP_WAIT = "5s"


def _fast_options(layout: Layout) -> dict[str, Any]:
    """Rules, Prometheus and Alertmanager settings for ``vigil up --fast``.

    The rules are derived from prometheus/rules/ by the same overlay the end-to-end tests
    use, so the demo timings can't drift from the real rules.
    """
    from vigil.stack import ruleoverlay

    rules_dir = layout.generated / "rules-fast"
    written = ruleoverlay.compressed_rules(repo_root() / "prometheus" / "rules", rules_dir,
                                           for_=FAST_FOR, window=FAST_WINDOW)

    def prometheus(data: dict[str, Any]) -> None:
        glob = data.setdefault("global", {})
        glob.update(scrape_interval=FAST_INTERVAL, evaluation_interval=FAST_INTERVAL,
                    scrape_timeout="4s")
        for sc in data.get("scrape_configs") or []:
            for key in ("scrape_interval", "scrape_timeout"):
                sc.pop(key, None)

    def alertmanager(data: dict[str, Any]) -> None:
        def walk(route: dict[str, Any]) -> None:
            route["group_wait"] = FAST_GROUP_WAIT
            route["group_interval"] = "30s"
            for child in route.get("routes") or []:
                walk(child)

        walk(data.setdefault("route", {}))

    return {"rule_files": tuple(str(p) for p in written),
            "prometheus_overrides": prometheus, "alertmanager_overrides": alertmanager}


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
    fast = _fast_options(default_layout(args.state_dir)) if args.fast else {}
    stack = _stack(args, args.port, with_workload=not args.no_workload,
                   health_timeout=args.health_timeout, only=only, **fast)
    foreground = not args.detach
    old = {s: signal.signal(s, _raise_stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    started: list[str] = []
    try:
        try:
            started, failed = stack.up(tie_to_parent=foreground)
        except (_Stop, KeyboardInterrupt):
            print("\ninterrupted: stopping what was started", flush=True)
            stack.down(stack.started)
            return 130
        _print_urls(stack)
        if failed:
            print(f"\n{len(failed)} part(s) failed to become healthy: {', '.join(failed)}. "
                  f"Logs: {stack.layout.logs}", flush=True)
        if not foreground:
            print("\nrunning in the background: `vigil status` reports, `vigil down` stops it.",
                  flush=True)
            return 1 if failed else 0
        if not started:
            print("\neverything was already running (an earlier `vigil up --detach`?); "
                  "`vigil down` stops it.", flush=True)
            return 1 if failed else 0
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
    summary: dict[str, Any] | None = None
    summary_error = ""
    router = next((p for p in parts if p.name == "router"), None)
    if router is not None and router.state == "running":
        try:
            summary = stack.router_summary()
        except (VigilError, ValueError) as exc:
            summary_error = str(exc)
    ok = all(p.state in ("running", "skipped") and p.healthy is not False for p in parts)
    if args.json:
        print(json.dumps({
            "state_dir": str(stack.layout.state),
            "parts": [p.__dict__ for p in parts],
            "alerts": summary, "alerts_error": summary_error or None, "ok": ok,
        }, indent=2, default=str))
        return 0 if ok else 1
    print(f"vigil stack (state: {stack.layout.state})")
    for p in parts:
        health = {True: "healthy", False: "UNHEALTHY", None: "-"}[p.healthy]
        pid = str(p.pid) if p.pid else "-"
        detail = p.detail or p.url or ""
        print(f"  {p.name:<13} {p.state:<8} {health:<10} pid {pid:<8} {detail}")
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
    return 0 if ok else 1

