"""The demo's normal workload never trips vigil's own security rules, at any rate the CLI
allows, while the failed-access fault stays far above them.

Three layers: the schedule (pure) simulated for an hour at real timings; an hour of it
replayed into the real ``vigil_monitor.access_log`` and judged by the real SQL rule at the
shipped settings; and a live run of the real workload checked against the schedule's promise.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterator

import pytest
from pghelpers import one, query

from vigil import demo
from vigil.core import pg
from vigil.demo import traffic
from vigil.demo.faults import FAILED_BURST
from vigil.demo.load import rule_settings
from vigil.demo.traffic import DENIED_EVERY, Rule, Traffic
from vigil.stack import ruleoverlay

TENANTS = ["tenant-1", "tenant-2", "tenant-3"]
CLI_DEFAULT_RATE = 20.0        # `vigil demo load` (and `vigil up` runs 10)
RATES = (0.5, 4, 10, CLI_DEFAULT_RATE, 25, 60, 200)
PROM_WINDOW = 300.0            # the recorded rate5m the failed-access alerts read


def _threshold(alert: str) -> float:
    """The '> number' an alert fires above, read from prometheus/rules."""
    for _, _, rule in ruleoverlay.iter_rules():
        if rule.get("alert") == alert:
            m = re.search(r"rate5m\s*>\s*([0-9.]+)", rule["expr"])
            assert m, rule["expr"]
            return float(m.group(1))
    raise AssertionError(alert)


def simulate(rate: float, seconds: float, *, stalls: bool = False,
             seed: int = 1) -> Iterator[traffic.Step]:
    """The schedule as the workload runs it: each step at its due time; with ``stalls`` a
    5 s hiccup (a key rotation, a slow fault) every 97 s."""
    plan = Traffic(TENANTS, rate, Rule(), 0.0, rng=random.Random(seed))
    now, next_stall = 0.0, 97.0
    while now < seconds:
        step = plan.next(now)
        now = max(now, step.at)
        if stalls and now >= next_stall:
            now, next_stall = now + 5.0, next_stall + 97.0
        yield traffic.Step(now, step.tenant, step.actor, step.denied)


def max_in_window(times: list[float], window: float) -> int:
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


@pytest.mark.parametrize("rate", RATES)
def test_no_actor_ever_meets_the_unusual_rule_and_denials_stay_under_the_alerts(
        rate: float) -> None:
    rule = Rule()
    requests: dict[str, list[float]] = defaultdict(list)
    failures: dict[str, list[float]] = defaultdict(list)
    all_failures: list[float] = []
    for step in simulate(rate, 3600 if rate <= CLI_DEFAULT_RATE else 1200, stalls=True):
        requests[step.actor].append(step.at)
        if step.denied:
            failures[step.actor].append(step.at)
            all_failures.append(step.at)
    # (b) needs unusual_min_requests in the window: no actor gets near it.
    assert max(max_in_window(t, rule.window) for t in requests.values()) < rule.min_requests / 2 + 2
    # (a) needs unusual_failed_threshold failures in the window: one at most.
    assert max(max_in_window(t, rule.window) for t in failures.values()) == 1
    # The failed-access alerts read a 5-minute rate.
    worst = max_in_window(all_failures, PROM_WINDOW) / PROM_WINDOW
    assert worst < _threshold("VigilFailedAccessRateHigh") / 2
    assert worst < _threshold("VigilFailedAccessSpike") / 4
    assert len(all_failures) >= 10  # but the normal load keeps its denied requests


def test_the_failed_access_fault_stays_far_above_every_threshold() -> None:
    rule = Rule()
    denied = 2 * FAILED_BURST  # one actor, within seconds
    assert denied >= 10 * rule.failed_min
    assert denied / PROM_WINDOW >= 4 * _threshold("VigilFailedAccessSpike")
    # and over 3x the previous hour of background (1 per DENIED_EVERY seconds)
    assert denied / PROM_WINDOW > 4 * 3 * (1 / DENIED_EVERY)


def _replay(dsn: str, events: list[tuple[float, str, str, bool]], now: float) -> list[str]:
    """Load ``events`` (t, tenant, actor, ok) up to simulated time ``now`` into access_log as
    if ``now`` were this instant, judge them with the real rule, and roll back."""
    with pg.connect(dsn) as conn, conn.transaction(force_rollback=True):
        conn.execute("DELETE FROM vigil_monitor.access_log")
        conn.execute("CREATE TEMP TABLE replay (ago float8, tenant_id text, actor_id text, "
                     "success bool) ON COMMIT DROP")
        with conn.cursor().copy("COPY replay FROM STDIN") as copy:
            for t, tenant, actor, ok in events:
                if t <= now:
                    copy.write_row((now - t, tenant, actor, ok))
        conn.execute(
            "INSERT INTO vigil_monitor.access_log (ts, tenant_id, actor_id, resource, action, "
            "success, reason) SELECT clock_timestamp() - make_interval(secs => ago), tenant_id, "
            "actor_id, 'Deal', 'read', success, CASE WHEN NOT success THEN "
            "'cross_tenant_denied' END FROM replay")
        return [str(r[0]) for r in conn.execute(
            "SELECT actor_id FROM vigil_monitor.unusual_access_patterns()").fetchall()]


def test_an_hour_of_default_load_replayed_is_judged_normal_by_the_real_rule(
        demo_db: demo.DemoInfo) -> None:
    with pg.connect(demo_db.admin_dsn) as conn:
        assert rule_settings(conn) == Rule()  # the shipped settings, not shortened ones
    day = 86400.0
    # yesterday a 10-minute session, today an hour: a restart after a pause is the hardest
    # case for rule (b)'s per-actor baseline.
    events = [(s.at, s.tenant, s.actor, not s.denied)
              for s in simulate(CLI_DEFAULT_RATE, 600, seed=7)]
    events += [(day - 3600 + s.at, s.tenant, s.actor, not s.denied)
               for s in simulate(CLI_DEFAULT_RATE, 3600, seed=7)]
    for after in (150, 310, 330, 360, 600, 1800, 3600):
        assert _replay(demo_db.admin_dsn, events, day - 3600 + after) == [], after
    # The judge is live: the old shape (nine actors sharing the load) is flagged at once, and
    # so is the fault.
    crowd = [(t, tenant, f"user-{tenant}-{i % 3}", ok)
             for i, (t, tenant, _, ok) in enumerate(events)]
    assert _replay(demo_db.admin_dsn, crowd, day - 3600 + 330)
    burst = [(day - 10, "tenant-1", "intruder", False)] * (2 * FAILED_BURST)
    assert _replay(demo_db.admin_dsn, events + burst, day) == ["intruder"]


def test_the_real_workload_at_default_flags_spreads_requests_and_denials_over_actors(
        demo_db: demo.DemoInfo) -> None:
    mark = one(demo_db.admin_dsn, "SELECT coalesce(max(id), 0) FROM vigil_monitor.access_log")[0]
    stats = demo.run_load(demo_db, duration=8.0, rate=CLI_DEFAULT_RATE)
    assert stats.errors == 0 and stats.denied >= 1
    rule = Rule()
    # Each actor's sustained rate of ordinary requests, projected onto the rule's real 300 s
    # window (today's nine busy users: about 660 each).
    rows = query(demo_db.admin_dsn,
                 "SELECT actor_id, count(*) FILTER (WHERE success), "
                 "extract(epoch FROM max(ts) FILTER (WHERE success) "
                 "- min(ts) FILTER (WHERE success)), count(*) FILTER (WHERE NOT success) "
                 "FROM vigil_monitor.access_log WHERE id > %s GROUP BY actor_id", (mark,))
    assert len(rows) > 9  # a population, not a handful of very busy users
    for actor, n, span, failed in rows:
        assert failed <= 1, actor
        if n > 1:
            assert (n - 1) / max(float(span), 1e-3) * rule.window < rule.min_requests / 2 + 2, \
                (actor, n, span)
    total, failed, unusual = one(demo_db.exporter_dsn,
                                 "SELECT * FROM vigil_monitor.security_access_metrics()")
    assert total >= stats.ops and failed >= 1 and unusual == 0
