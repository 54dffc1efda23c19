"""Ask Prometheus (not the exporter) whether collection really reaches it.

Three questions, each answered from Prometheus's own API:

- is every scrape target up, and scraped recently?
- does every collector of every target have a fresh, successful sample? A collector whose
  last run failed, whose last success is older than the stale policy, or whose series
  vanished (Prometheus stopped scraping it) is named;
- does every rule group evaluate, without errors?
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from vigil.core.prom import Prom

STALE_DEFAULT = 600.0       # vigil:policy:collector_stale_seconds when the rule is absent
SEEN_WINDOW = "1h"          # a collector seen in this window is expected to be there now


@dataclass(frozen=True)
class Problem:
    kind: str      # target, collector, rule_group
    name: str
    reason: str

    def line(self) -> str:
        return f"{self.kind} {self.name}: {self.reason}"


def _age(iso: str, now: float) -> float | None:
    """Seconds since a Prometheus API timestamp (RFC 3339, nanoseconds); None if never."""
    if not iso or iso.startswith("0001-"):
        return None
    head, _, frac = iso.rstrip("Z").partition(".")
    try:
        stamp = dt.datetime.fromisoformat(head).replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    digits = "".join(c for c in frac if c.isdigit())[:6]
    return now - stamp.timestamp() - (int(digits.ljust(6, "0")) / 1e6 if digits else 0.0)


def _duration(text: str) -> float:
    from vigil.core import durations

    try:
        return durations.parse_prometheus(text)
    except ValueError:
        return 60.0


def targets(prom: Prom, now: float) -> tuple[list[Problem], int]:
    out: list[Problem] = []
    active = prom.targets()
    for t in active:
        name = f"{t.get('labels', {}).get('job', '?')} {t.get('scrapeUrl', '?')}"
        if t.get("health") != "up":
            out.append(Problem("target", name, f"{t.get('health')}: "
                                               f"{t.get('lastError') or 'never scraped'}"))
            continue
        age = _age(str(t.get("lastScrape", "")), now)
        limit = 3 * _duration(str(t.get("scrapeInterval", "1m")))
        if age is None or age > limit:
            out.append(Problem("target", name, f"last scrape {age or 0:.0f}s ago "
                                               f"(more than 3 scrape intervals)"))
    return out, len(active)


def collectors(prom: Prom, now: float) -> tuple[list[Problem], int]:
    out: list[Problem] = []
    policy = prom.query("vigil:policy:collector_stale_seconds", now)
    stale = policy[0][1] if policy else STALE_DEFAULT

    def key(lbl: dict[str, str]) -> str:
        return f"{lbl.get('target', '?')}/{lbl.get('collector', '?')}"

    success = {key(lbl): v for lbl, v in prom.query("vigil_collector_success", now)}
    errors: dict[str, list[str]] = {}
    for lbl, _ in prom.query("increase(vigil_collector_errors_total[15m]) > 0", now):
        errors.setdefault(key(lbl), []).append(lbl.get("reason", "?"))
    for name, ok in sorted(success.items()):
        if ok != 1.0:
            why = ", ".join(sorted(errors.get(name, []))) or "see the exporter log"
            out.append(Problem("collector", name, f"last run failed ({why})"))
    for lbl, age in prom.query("time() - vigil_collector_last_success_timestamp_seconds", now):
        if age > stale:
            out.append(Problem("collector", key(lbl),
                               f"last success {age:.0f}s ago (stale after {stale:.0f}s)"))
    gone = prom.query(f"count by (target, collector) (count_over_time(vigil_collector_success"
                      f"[{SEEN_WINDOW}])) unless on (target, collector) vigil_collector_success",
                      now)
    for lbl, _ in gone:
        out.append(Problem("collector", key(lbl), "no fresh samples: Prometheus stopped "
                                                  "scraping it (target down or collector gone)"))
    seen = len(success) + len(gone)
    if seen == 0:
        out.append(Problem("collector", "*", f"no vigil_collector_success samples in the last "
                                             f"{SEEN_WINDOW}: is the exporter scraped?"))
    return out, seen


def rule_groups(prom: Prom, now: float) -> tuple[list[Problem], int]:
    out: list[Problem] = []
    groups = prom.rule_groups()
    for g in groups:
        name = str(g.get("name"))
        limit = 3 * float(g.get("interval") or 60)
        age = _age(str(g.get("lastEvaluation", "")), now)
        if age is None or age > limit:
            out.append(Problem("rule_group", name, "not evaluating (last evaluation "
                               + ("never" if age is None else f"{age:.0f}s ago") + ")"))
        for r in g.get("rules") or []:
            if r.get("health") not in ("ok", "unknown"):
                error = str(r.get("lastError") or r.get("health"))
                out.append(Problem("rule_group", name, f"rule {r.get('name')}: "
                                                       f"{error[:200]}"))
    if not groups:
        out.append(Problem("rule_group", "*", "Prometheus has no rule groups loaded"))
    return out, len(groups)


def verify(prom: Prom, now: float) -> tuple[list[Problem], dict[str, int]]:
    problems: list[Problem] = []
    counts: dict[str, int] = {}
    for name, check in (("targets", targets), ("collectors", collectors),
                        ("rule_groups", rule_groups)):
        found, n = check(prom, now)
        problems += found
        counts[name] = n
    return problems, counts
