"""``vigil check anomaly`` (the runbook's ``security:anomaly:check``): every flagged actor.

One definition of anomalous access: ``vigil_monitor.unusual_access_patterns()`` (004, read
through the rollups since 009), the same function whose count the exporter publishes as
``vigil_access_unusual_patterns`` and ``VigilUnusualAccessPatterns`` alerts on. Its
thresholds are the ``unusual_*`` settings (001); they are read here only to show the numbers
an actor was judged against, never to judge again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from vigil.core import pg

Conn = psycopg.Connection[tuple[object, ...]]

_SETTINGS = ("unusual_window_seconds", "unusual_failed_threshold", "unusual_rate_factor",
             "unusual_min_requests", "unusual_baseline_hours")


@dataclass(frozen=True)
class Thresholds:
    window_seconds: float
    failed_threshold: int
    rate_factor: float
    min_requests: int
    baseline_hours: float


@dataclass(frozen=True)
class Flagged:
    actor: str
    rule: str   # failed_attempts | rate_above_baseline (the function's names)
    window_requests: int
    window_failed: int
    baseline_per_window: float | None

    def why(self, t: Thresholds) -> str:
        """The numbers behind the verdict, in words (identifiers and counts only)."""
        window = f"in the last {t.window_seconds:g} s"
        if self.rule == "failed_attempts":
            return (f"{self.window_failed} failed of {self.window_requests} requests {window} "
                    f"(flagged at >= {t.failed_threshold} failed)")
        baseline = ("no baseline" if self.baseline_per_window is None
                    else f"baseline {self.baseline_per_window:.1f} per window over "
                         f"{t.baseline_hours:g} h")
        return (f"{self.window_requests} requests {window}, {baseline} (flagged above "
                f"{t.rate_factor:g}x baseline with >= {t.min_requests} requests)")


@dataclass(frozen=True)
class Anomalies:
    thresholds: Thresholds
    flagged: tuple[Flagged, ...]

    def as_json(self) -> dict[str, Any]:
        return {"thresholds": asdict(self.thresholds),
                "flagged": [{**asdict(f), "why": f.why(self.thresholds)} for f in self.flagged]}


def read(conn: Conn) -> Anomalies:
    values: dict[str, object] = {str(r[0]): r[1] for r in conn.execute(
        "SELECT key, vigil_monitor.setting(key) FROM unnest(%s::text[]) key",
        (list(_SETTINGS),))}
    t = Thresholds(float(str(values["unusual_window_seconds"])),
                   int(str(values["unusual_failed_threshold"])),
                   float(str(values["unusual_rate_factor"])),
                   int(str(values["unusual_min_requests"])),
                   float(str(values["unusual_baseline_hours"])))
    rows = conn.execute("SELECT actor_id, rule, window_requests, window_failed, "
                        "baseline_per_window FROM vigil_monitor.unusual_access_patterns()"
                        ).fetchall()
    return Anomalies(t, tuple(
        Flagged(str(r[0]), str(r[1]), int(str(r[2])), int(str(r[3])),
                None if r[4] is None else float(str(r[4]))) for r in rows))


def check(dsn: str) -> Anomalies:
    with pg.connect(dsn, application_name="vigil-check") as conn:
        return read(conn)
