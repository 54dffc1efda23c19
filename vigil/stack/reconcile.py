"""After ``vigil up``: resolve the router's alerts that stopped firing while the stack was down.

The router resolves an alert when Alertmanager sends its resolve, or, failing that, once
Alertmanager has not re-sent it for its level's ``stale_after`` (8.5 h for P3: Alertmanager
re-sends a firing alert only every repeat interval). Across ``vigil down``/``vigil up``
neither comes: Alertmanager forgets its alerts, and the restarted Prometheus never fired the
healed one, so it would stay open for hours (#11).

So once the new Prometheus has evaluated every rule group, each unresolved alert the router
last heard of before this ``up`` is compared with Prometheus's active alerts (pending or
firing: a restored ``for:`` is pending again): one that no longer matches is resolved by hand,
by "vigil up", with the reason on its timeline. One still firing keeps its id and escalation.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from vigil.core import httpclient
from vigil.core.errors import VigilError
from vigil.core.prom import Prom, PrometheusUnavailable
from vigil.stack.plan import Layout, Ports
from vigil.stack.status import router_token

WHO = "vigil up"


_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def _ts(value: str) -> float:
    """Unix time of an RFC 3339 stamp (Prometheus writes nanoseconds and a Z)."""
    return datetime.fromisoformat(_FRACTION.sub(r"\1", value.replace("Z", "+00:00"))
                                  ).timestamp()


def evaluated_since(prometheus_url: str, since: float) -> bool:
    """Every rule group has been evaluated after ``since`` (Unix time)."""
    try:
        groups = Prom(prometheus_url, timeout=3).rule_groups()
    except (PrometheusUnavailable, KeyError):
        return False
    # A group never evaluated says 0001-01-01T00:00:00Z.
    return bool(groups) and all(_ts(str(g.get("lastEvaluation") or "0001-01-01T00:00:00Z"))
                                > since for g in groups)


def _matches(prom_labels: Mapping[str, str], router_labels: Mapping[str, str]) -> bool:
    # Alertmanager's copy also carries Prometheus's external labels: compare what Prometheus has.
    return all(router_labels.get(k) == v for k, v in prom_labels.items())


def resolve_gone(router: Any, prometheus_url: str, since: float, stopped_note: str
                 ) -> list[dict[str, Any]]:
    """Resolve each unresolved alert last seen before ``since`` that Prometheus no longer has
    pending or firing. ``router`` is a router.client_cli.RouterClient. Returns those resolved."""
    held = router.get("/api/v1/alerts?status=unresolved&limit=1000").get("alerts", [])
    older = [a for a in held if _ts(str(a["last_seen_at"])) < since]
    if not older:
        return []
    active = Prom(prometheus_url, timeout=3).alerts()
    resolved = []
    for alert in older:
        labels = alert.get("labels") or {}
        if any(_matches(a.get("labels") or {}, labels) for a in active):
            continue
        try:
            router.post(f"/api/v1/alerts/{alert['id']}/resolve",
                        {"who": WHO, "note": stopped_note})
        except VigilError:
            continue  # resolved meanwhile (409): nothing to do
        resolved.append(alert)
    return resolved


def after_restart(router: Any, prometheus_url: str, since: float, timeout: float,
                  say: Callable[[str], None]) -> None:
    """Wait (up to ``timeout``) for Prometheus's first evaluation, then resolve_gone."""
    try:
        held = router.get("/api/v1/alerts?status=unresolved&limit=1000").get("alerts", [])
    except (VigilError, OSError, ValueError) as exc:
        say(f"  note  open alerts not reconciled (router: {exc})")
        return
    before = [a for a in held if _ts(str(a["last_seen_at"])) < since]
    if not before:
        return  # the common case: nothing left over from before, no wait
    say(f"  wait  reconcile    {len(before)} open alert(s) from before this start: checking "
        "them against Prometheus after its first rule evaluation")
    deadline = time.monotonic() + timeout
    while not evaluated_since(prometheus_url, since):
        if time.monotonic() > deadline:
            say(f"  note  Prometheus has not evaluated its rules within {timeout:.0f} s; "
                "alerts from before this start were left open")
            return
        time.sleep(0.5)
    try:
        gone = resolve_gone(router, prometheus_url, since,
                            "not firing after the stack restarted (vigil down, then vigil up)")
    except (VigilError, OSError, ValueError, KeyError) as exc:  # never fails `vigil up`
        say(f"  note  open alerts not reconciled ({exc})")
        return
    for alert in gone:
        say(f"  ok    resolved     alert {alert['id']} {alert.get('alertname')} "
            f"({alert.get('severity')}): no longer firing after the restart")


def after_up(layout: Layout, ports: Ports, since: float, timeout: float,
             say: Callable[[str], None]) -> None:
    """A new Prometheus: resolve the router's alerts that stopped firing while it was down,
    instead of leaving them open for their stale_after. Nothing to do without a router."""
    from router.client_cli import RouterClient

    if not httpclient.is_healthy(f"http://127.0.0.1:{ports.router}/-/ready"):
        return
    router = RouterClient(f"http://127.0.0.1:{ports.router}", router_token(layout), timeout=5)
    after_restart(router, f"http://127.0.0.1:{ports.prometheus}", since, timeout, say)
