"""A known day for a real Prometheus: OpenMetrics text -> promtool blocks -> a TSDB.

Every series is sampled once a minute, exactly on the minute, so the expected figures of
the report can be written down by hand (see test_daily_prometheus.py).
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from vigil.promtools import PROMTOOL_BIN

T = "demo"
PHI_BUCKETS = (".005", ".01", ".025", ".05", ".1", ".25", ".5", "1", "2.5", "5", "+Inf")


def day_start(date: dt.date) -> int:
    return int(dt.datetime.combine(date, dt.time(), tzinfo=dt.UTC).timestamp())


def minutes(start: int, lo: int = 0, hi: int = 1440) -> Iterator[tuple[int, int]]:
    """(minute index, unix time) for minutes [lo, hi) of the day starting at ``start``."""
    for i in range(lo, hi):
        yield i, start + 60 * i


def _family(out: list[str], name: str, labels: str,
            value: Callable[[int], float | None], start: int, *, lo: int = 0,
            hi: int = 1440) -> None:
    for i, t in minutes(start, lo, hi):
        v = value(i)
        if v is not None:
            out.append(f"{name}{{{labels}}} {v} {t}")


def known_day(date: dt.date) -> str:
    s = day_start(date)
    out: list[str] = []

    def fam(name: str) -> None:
        out.append(f"# TYPE {name} gauge")

    fam("vigil_rls_overhead_seconds")
    # Deal: 20 ms, 80 ms (over 50 ms) from 03:00 to 04:00. Contact: 10 ms, no data 12:00-12:30.
    _family(out, "vigil_rls_overhead_seconds", f'target="{T}",schema="public",table="Deal"',
            lambda i: 0.08 if 180 <= i < 240 else 0.02, s)
    _family(out, "vigil_rls_overhead_seconds", f'target="{T}",schema="public",table="Contact"',
            lambda i: None if 720 <= i < 750 else 0.01, s)

    # PHI queries on Deal: 10 a minute in (25, 50] ms; from 10:00 to 12:00 in (100, 250] ms.
    fam("vigil_phi_query_duration_seconds_bucket")
    slow_before = [0] * 1441  # slow observations up to minute i
    for i in range(1440):
        slow_before[i + 1] = slow_before[i] + (10 if 600 <= i < 720 else 0)
    for le in PHI_BUCKETS:
        def cum(i: int, le: str = le) -> float:
            total, slow = 10 * i, slow_before[i]
            fast = total - slow
            bound = float("inf") if le == "+Inf" else float(le)
            return (fast if bound >= 0.05 else 0) + (slow if bound >= 0.25 else 0)
        _family(out, "vigil_phi_query_duration_seconds_bucket",
                f'target="{T}",schema="public",table="Deal",le="{le}"', cum, s)
    fam("vigil_phi_query_duration_seconds_count")
    _family(out, "vigil_phi_query_duration_seconds_count",
            f'target="{T}",schema="public",table="Deal"', lambda i: 10 * i, s)

    # Collectors: rls always fine; security failing 06:00-07:00; indexes silent from 20:00;
    # maintenance only seen the evening before (so it is expected, and missing all day).
    fam("vigil_collector_success")
    _family(out, "vigil_collector_success", f'target="{T}",collector="rls"', lambda i: 1, s)
    _family(out, "vigil_collector_success", f'target="{T}",collector="security"',
            lambda i: 0 if 360 <= i < 420 else 1, s)
    _family(out, "vigil_collector_success", f'target="{T}",collector="indexes"',
            lambda i: 1, s, hi=1200)
    _family(out, "vigil_collector_success", f'target="{T}",collector="maintenance"',
            lambda i: 1, s - 3600, hi=60)

    # Access: 5 requests and 1 failure a minute; 2 unusual actors from 15:00 to 15:05.
    fam("vigil_access_requests_total")
    _family(out, "vigil_access_requests_total", f'target="{T}"', lambda i: 5 * i, s)
    fam("vigil_access_failed_attempts_total")
    _family(out, "vigil_access_failed_attempts_total", f'target="{T}"', lambda i: i, s)
    fam("vigil_access_unusual_patterns")
    _family(out, "vigil_access_unusual_patterns", f'target="{T}"',
            lambda i: 2 if 900 <= i < 905 else 0, s)

    # Audit: full coverage, no gaps or integrity issues, buffer 20 min old once at 09:00.
    for name, value in (("vigil_audit_coverage_ratio", lambda i: 1.0),
                        ("vigil_audit_gaps", lambda i: 0),
                        ("vigil_audit_integrity_issues", lambda i: 0),
                        ("vigil_audit_buffer_oldest_age_seconds",
                         lambda i: 1200 if i == 540 else 3),
                        ("vigil_audit_sealers_alive", lambda i: 1)):
        fam(name)
        _family(out, name, f'target="{T}"', value, s)

    # Encryption: key k1 is 100 days old (policy 90), no failed operations.
    fam("vigil_encryption_key_age_seconds")
    _family(out, "vigil_encryption_key_age_seconds", f'target="{T}",key="k1"',
            lambda i: 8640000 + 60 * i, s)
    fam("vigil_encryption_failed_operations_total")
    _family(out, "vigil_encryption_failed_operations_total", f'target="{T}"', lambda i: 0, s)

    # One P3 alert firing 03:05-04:00; the router received it.
    fam("ALERTS")
    _family(out, "ALERTS", 'alertname="VigilRlsOverheadHigh",alertstate="firing",severity="P3"',
            lambda i: 1, s, lo=185, hi=240)
    fam("vigil_router_alerts_received_total")
    _family(out, "vigil_router_alerts_received_total", 'severity="P3"',
            lambda i: 1 if i >= 185 else 0, s)
    out.append("# EOF")
    return "\n".join(out) + "\n"


def make_tsdb(date: dt.date, data_dir: Path) -> None:
    src = data_dir.parent / "known-day.om"
    src.write_text(known_day(date))
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([PROMTOOL_BIN, "tsdb", "create-blocks-from", "openmetrics",
                    str(src), str(data_dir)], check=True, capture_output=True, timeout=300)
