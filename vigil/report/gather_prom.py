"""What Prometheus recorded over the day: thresholds, security gauges, alerts, collection.

Every figure is a PromQL query over the day's window (range queries with the day's step,
instant queries at the day's end over ``[1d]``). A query that returns nothing is listed in
``missing``: the report says the data is absent instead of showing a healthy zero.
"""

from __future__ import annotations

import math
import re
from typing import Any

from vigil.core.prom import Prom
from vigil.report.window import Day, downsample, summarize

# (name, metric, labels, threshold seconds, kind): the runbook's performance thresholds.
THRESHOLDS: tuple[tuple[str, str, tuple[str, ...], float, str], ...] = (
    ("rls_overhead", "vigil_rls_overhead_seconds", ("schema", "table"), 0.050, "gauge"),
    ("phi_query", "vigil_phi_query_duration_seconds", ("schema", "table"), 0.100, "histogram"),
    ("audit_write", "vigil_audit_write_duration_seconds", ("schema", "table"), 0.010,
     "histogram"),
    ("encryption", "vigil_encryption_duration_seconds", ("operation",), 0.100, "histogram"),
)
QUANTILES = (0.5, 0.95, 0.99)
# The escalation matrix's response times (acknowledge within), seconds.
ACK_SLA = {"P1": 900, "P2": 3600, "P3": 14400, "P4": 86400}
KEY_MAX_AGE_DEFAULT = 7776000.0
_METRIC = re.compile(r"vigil_[a-z_]+")  # the series a PromQL expression reads


def _key(labels: dict[str, str], names: tuple[str, ...]) -> str:
    return "/".join(labels.get(n, "") for n in names)


class PromGatherer:
    def __init__(self, prom: Prom, day: Day) -> None:
        self.prom, self.day = prom, day
        self.missing: list[str] = []

    def at_end(self, expr: str, what: str) -> list[tuple[dict[str, str], float]]:
        out = self.prom.query(expr, self.day.eval_at)
        if not out:
            self.missing.append(what)
        return out

    def over_day(self, expr: str, what: str) -> list[tuple[dict[str, str], Any]]:
        d = self.day
        out = self.prom.query_range(expr, d.start, d.last_step, d.step)
        if not out:
            self.missing.append(what)
        return out

    def _win(self) -> str:
        return self.day.window

    # ------------------------------------------------------------------ thresholds

    def thresholds(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, metric, labels, thr, kind in THRESHOLDS:
            by = ",".join(labels)
            rows: dict[str, dict[str, Any]] = {}
            if kind == "gauge":
                for q in QUANTILES:
                    for lbl, v in self.prom.query(
                            f"quantile_over_time({q}, {metric}[{self._win()}])",
                            self.day.eval_at):
                        rows.setdefault(_key(lbl, labels), {})[f"p{round(q * 100)}"] = v
                series = self.over_day(f"last_over_time({metric}[{self.day.step_window}])",
                                       f"{name}: {metric}")
            else:
                inc = f"sum by ({by},le) (increase({metric}_bucket[{self._win()}]))"
                for q in QUANTILES:
                    for lbl, v in self.prom.query(f"histogram_quantile({q}, {inc})",
                                                  self.day.eval_at):
                        rows.setdefault(_key(lbl, labels), {})[f"p{round(q * 100)}"] = v
                for lbl, v in self.prom.query(
                        f"sum by ({by}) (increase({metric}_count[{self._win()}]))",
                        self.day.eval_at):
                    rows.setdefault(_key(lbl, labels), {})["observations"] = round(v, 3)
                series = self.over_day(
                    f"histogram_quantile(0.95, sum by ({by},le) (rate({metric}_bucket[5m])))",
                    f"{name}: {metric}")
            for lbl, s in series:
                row = rows.setdefault(_key(lbl, labels), {})
                row.update(summarize(s, self.day, thr))
                row["plot"] = downsample(s)
            clean = {k: v for k, v in rows.items() if "points" in v or "p95" in v}
            over = any(r.get("seconds_over_threshold", 0) > 0 or (r.get("p95") or 0) > thr
                       for r in clean.values())
            out[name] = {"metric": metric, "threshold_seconds": thr,
                         "statistic": "value" if kind == "gauge" else "p95 over 5m",
                         "status": "missing" if not clean else ("breach" if over else "ok"),
                         "by": list(labels), "series": clean}
        return out

    # ------------------------------------------------------------------ security gauges

    def _one(self, expr: str, what: str) -> float | None:
        got = self.at_end(expr, what)
        return got[0][1] if got else None

    def _gauges(self, section: str, exprs: dict[str, str]) -> dict[str, Any]:
        """Each ``key: PromQL`` (``{w}`` is the report's window) at the day's end; a missing
        series is named after its metric."""
        w = self._win()
        return {key: self._one(expr.format(w=w),
                               f"{section}: {_METRIC.search(expr).group(0)}")  # type: ignore[union-attr]
                for key, expr in exprs.items()}

    def access(self) -> dict[str, Any]:
        return self._gauges("access", {
            "requests": "sum(increase(vigil_access_requests_total[{w}]))",
            "failed": "sum(increase(vigil_access_failed_attempts_total[{w}]))",
            "unusual_patterns_max": "max(max_over_time(vigil_access_unusual_patterns[{w}]))",
        })

    def audit(self) -> dict[str, Any]:
        return self._gauges("audit", {
            "coverage_ratio_min": "min(min_over_time(vigil_audit_coverage_ratio[{w}]))",
            "gaps_max": "max(max_over_time(vigil_audit_gaps[{w}]))",
            "integrity_issues_max": "max(max_over_time(vigil_audit_integrity_issues[{w}]))",
            "buffer_oldest_age_seconds_max":
                "max(max_over_time(vigil_audit_buffer_oldest_age_seconds[{w}]))",
            "sealers_alive_min": "min(min_over_time(vigil_audit_sealers_alive[{w}]))",
        })

    def encryption(self) -> dict[str, Any]:
        w = self._win()
        policy = self.prom.query("vigil:policy:encryption_key_max_age_seconds", self.day.eval_at)
        max_age = policy[0][1] if policy else KEY_MAX_AGE_DEFAULT
        keys = {lbl.get("key", ""): v for lbl, v in self.at_end(
            f"max by (key) (max_over_time(vigil_encryption_key_age_seconds[{w}]))",
            "encryption: vigil_encryption_key_age_seconds")}
        return {
            "key_max_age_seconds": max_age,
            "keys": {k: {"age_seconds_max": v, "over_policy": v > max_age}
                     for k, v in sorted(keys.items())},
            "failed_operations": self._one(
                f"sum(increase(vigil_encryption_failed_operations_total[{w}]))",
                "encryption: vigil_encryption_failed_operations_total"),
            "reencryption_progress_ratio": self._one(
                "min(last_over_time(vigil_encryption_reencryption_progress_ratio"
                f"[{w}]))", "encryption: vigil_encryption_reencryption_progress_ratio"),
        }

    # ------------------------------------------------------------------ alerts

    def alerts(self) -> dict[str, Any]:
        w, step = self._win(), self.day.step
        firing: dict[str, dict[str, Any]] = {}
        for lbl, s in self.prom.query_range(
                f'count by (alertname, severity) (last_over_time(ALERTS{{alertstate="firing"}}'
                f"[{self.day.step_window}]))", self.day.start, self.day.eval_at, step):
            firing[lbl.get("alertname", "")] = {"severity": lbl.get("severity", ""),
                                                "firing_seconds": len(s) * step}
        levels: dict[str, dict[str, Any]] = {}
        for metric, field in (("vigil_router_alerts_received_total", "received"),
                              ("vigil_router_sla_breaches_total", "sla_breaches"),
                              ("vigil_router_escalations_total", "escalations")):
            for lbl, v in self.at_end(f"sum by (severity) (increase({metric}[{w}]))",
                                      f"alerts: {metric}"):
                levels.setdefault(lbl.get("severity", ""), {})[field] = round(v, 3)
        for q in (0.5, 0.95):
            inc = f"sum by (severity, le) (increase(vigil_router_time_to_ack_seconds_bucket[{w}]))"
            for lbl, v in self.prom.query(f"histogram_quantile({q}, {inc})", self.day.eval_at):
                if not math.isnan(v):  # NaN: no ack that day
                    levels.setdefault(lbl.get("severity", ""), {})[
                        f"time_to_ack_p{round(q * 100)}_seconds"] = v
        for sev, row in levels.items():
            row["ack_sla_seconds"] = ACK_SLA.get(sev)
        return {"firing": dict(sorted(firing.items())), "by_severity": dict(sorted(levels.items())),
                "not_collected": ["containments (not recorded by the router)"]}

    # ------------------------------------------------------------------ collection

    def collection(self) -> dict[str, Any]:
        """Each collector of each target: success ratio and the steps with no sample at all.

        Collectors seen in the eight days up to the day's end are expected: one that fell
        silent is listed as missing, not dropped from the table.
        """
        step, w = self.day.step, self._win()
        known = {(lbl.get("target", ""), lbl.get("collector", ""))
                 for lbl, _ in self.prom.query(
                     "count by (target, collector) (count_over_time(vigil_collector_success[8d]))",
                     self.day.eval_at)}
        ratio = {(lbl.get("target", ""), lbl.get("collector", "")): v
                 for lbl, v in self.prom.query(
                     f"avg by (target, collector) (avg_over_time(vigil_collector_success[{w}]))",
                     self.day.eval_at)}
        present = {(lbl.get("target", ""), lbl.get("collector", "")): s
                   for lbl, s in self.prom.query_range(
                       f"count by (target, collector) (count_over_time(vigil_collector_success"
                       f"[{self.day.step_window}]))", self.day.start, self.day.eval_at, step)}
        out: dict[str, Any] = {}
        for key in sorted(known | set(present)):
            s = present.get(key, [])
            summary = summarize(s, self.day)
            out["/".join(key)] = {
                "target": key[0], "collector": key[1], "success_ratio": ratio.get(key),
                "coverage_ratio": summary["coverage_ratio"], "gaps": summary["gaps"],
                "status": ("missing" if not s else
                           "ok" if summary["coverage_ratio"] >= 0.99 and ratio.get(key) == 1.0
                           else "attention")}
        if not out:
            self.missing.append("collection: vigil_collector_success")
        return out
