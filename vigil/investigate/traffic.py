"""Request and failure rates of an incident's actors and tenants against each actor's baseline.

The window's figures are one GROUP BY over the window's access rows (a range scan of the
``access_log_ts`` index: O(rows in the window), never the history). The baseline is the mean
of the same-length windows over the prior ``baseline_days``, read from the per-actor minute
rollups (``access_rollup``, by its (actor_id, bucket) index of 015): O(actors x minutes), not
O(rows), which is what keeps this cheap at 10^7 access rows (docs/benchmarks.md). Rows the
maintainer has not rolled up yet are not in the baseline (`vigil db maintain` keeps that
tail seconds long). A tenant has no baseline: the rollups are per actor.

"Cross-tenant" is an actor seen on more than one tenant in the window: the requests and
denials on tenants other than its main one (where most of its requests went) are listed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import psycopg

from vigil.investigate.records import params
from vigil.investigate.scope import Scope

Conn = psycopg.Connection[Any]
DEFAULT_BASELINE_DAYS = 7

_WINDOW = """
SELECT a.actor_id, coalesce(a.tenant_id, '') AS tenant, count(*) AS requests,
       count(*) FILTER (WHERE NOT a.success) AS denied, min(a.ts) AS first_seen,
       max(a.ts) AS last_seen
FROM vigil_monitor.access_log a
WHERE a.ts >= %(since)s AND a.ts <= %(until)s
  AND (%(everyone)s OR a.actor_id = ANY (%(actors)s) OR a.tenant_id = ANY (%(tenants)s))
GROUP BY 1, 2
"""
_BASELINE = """
SELECT r.actor_id, sum(r.requests) AS requests, sum(r.failed) AS denied,
       min(r.min_ts) AS first_seen
FROM vigil_monitor.access_rollup r
WHERE r.actor_id = ANY (%(actors)s) AND r.bucket >= %(lo)s AND r.bucket < %(hi)s
GROUP BY 1
"""


def _rate(n: float, seconds: float) -> float:
    return round(n / seconds * 60, 4) if seconds > 0 else 0.0   # per minute


def analyze(conn: Conn, scope: Scope, *, baseline_days: int = DEFAULT_BASELINE_DAYS
            ) -> dict[str, Any]:
    seconds = max((scope.until - scope.since).total_seconds(), 1.0)
    rows = conn.execute(_WINDOW, params(scope)).fetchall()
    actors: dict[str, dict[str, Any]] = {}
    tenants: dict[str, dict[str, int]] = defaultdict(lambda: {"requests": 0, "denied": 0})
    per_actor_tenant: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for actor, tenant, n, denied, first, last in rows:
        a = actors.setdefault(str(actor), {"actor": str(actor), "requests": 0, "denied": 0,
                                           "first_seen": first, "last_seen": last})
        a["requests"] += int(n)
        a["denied"] += int(denied)
        a["first_seen"] = min(a["first_seen"], first)
        a["last_seen"] = max(a["last_seen"], last)
        tenants[str(tenant)]["requests"] += int(n)
        tenants[str(tenant)]["denied"] += int(denied)
        per_actor_tenant[str(actor)][str(tenant)] = (int(n), int(denied))
    hi = scope.since
    lo = hi - timedelta(days=baseline_days)
    windows = baseline_days * 86400 / seconds
    base = {str(r[0]): (int(r[1]), int(r[2]), r[3]) for r in conn.execute(
        _BASELINE, {"actors": sorted(actors), "lo": lo, "hi": hi})}
    out_actors = []
    for name in sorted(actors):
        a = actors[name]
        b = base.get(name)
        per_window = b[0] / windows if b else None
        out_actors.append({
            **a, "first_seen": _iso(a["first_seen"]), "last_seen": _iso(a["last_seen"]),
            "requests_per_minute": _rate(a["requests"], seconds),
            "denied_per_minute": _rate(a["denied"], seconds),
            "failure_ratio": round(a["denied"] / a["requests"], 4) if a["requests"] else 0.0,
            "baseline_requests_per_window": None if b is None else round(b[0] / windows, 4),
            "baseline_denied_per_window": None if b is None else round(b[1] / windows, 4),
            "baseline_first_seen": None if b is None else _iso(b[2]),
            "ratio_to_baseline": (round(a["requests"] / per_window, 2)
                                  if per_window else None),
            "tenants": sorted(per_actor_tenant[name])})
    cross = []
    for name, by_tenant in sorted(per_actor_tenant.items()):
        if len(by_tenant) < 2:
            continue
        main = max(by_tenant, key=lambda t: (by_tenant[t][0], t))
        others = {t: v for t, v in by_tenant.items() if t != main}
        cross.append({"actor": name, "main_tenant": main, "other_tenants": sorted(others),
                      "requests": sum(v[0] for v in others.values()),
                      "denied": sum(v[1] for v in others.values())})
    return {"scope": scope.as_dict(), "window_seconds": seconds,
            "baseline": {"days": baseline_days, "from": lo.isoformat(), "to": hi.isoformat(),
                         "source": "access_rollup"},
            "actors": out_actors,
            "tenants": [{"tenant": t, **v,
                         "requests_per_minute": _rate(v["requests"], seconds),
                         "denied_per_minute": _rate(v["denied"], seconds)}
                        for t, v in sorted(tenants.items())],
            "cross_tenant": cross}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
