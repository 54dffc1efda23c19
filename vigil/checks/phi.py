"""``vigil phi metrics``: PHI query and encryption latency percentiles over a window.

The runbook's PHI Performance step 1 (``npm run phi:metrics``): p50/p95/p99 per PHI table
and operation (from ``phi_access_patterns``) and per key and operation (from
``encryption_ops``), each judged on its p95 against the runbook's 100 ms. Both reads are
bounded by the window through the time indexes (``phi_access_patterns_at``,
``encryption_ops_ts``), so their cost follows the window's rows, not the table's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from vigil.checks.result import RUNBOOK
from vigil.core import pg

PHI_SQL = """
SELECT coalesce(schema_name || '.' || relname, table_name), operation, count(*),
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration_ms),
       max(duration_ms)
FROM vigil_monitor.phi_access_patterns
WHERE accessed_at > now() - %(minutes)s * interval '1 minute'
GROUP BY 1, 2 ORDER BY 1, 2
"""
# Failed operations have no meaningful duration (an error, not a slow call): counted by
# `vigil check security` and VigilEncryptionFailures instead.
ENCRYPTION_SQL = """
SELECT key_id, operation, count(*),
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration_ms),
       max(duration_ms)
FROM vigil_monitor.encryption_ops
WHERE ts > now() - %(minutes)s * interval '1 minute' AND success
GROUP BY 1, 2 ORDER BY 1, 2
"""
GUIDES = {"phi_query": f"{RUNBOOK}#phi-performance",
          "encryption": f"{RUNBOOK}#encryption-performance"}


@dataclass(frozen=True)
class Latency:
    kind: str          # "phi_query" (per PHI table) or "encryption" (per key)
    subject: str       # the qualified table, or the key id
    operation: str
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    threshold_ms: float

    @property
    def ok(self) -> bool:
        return self.p95_ms < self.threshold_ms

    @property
    def guide(self) -> str:
        return GUIDES[self.kind]

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "status": "pass" if self.ok else "fail",
                "guide": None if self.ok else self.guide}


def metrics(dsn: str, *, window_minutes: float, threshold_ms: float) -> list[Latency]:
    out: list[Latency] = []
    with pg.connect(dsn, application_name="vigil-phi-metrics") as conn:
        for kind, query in (("phi_query", PHI_SQL), ("encryption", ENCRYPTION_SQL)):
            for subject, operation, count, pct, worst in conn.execute(
                    query.encode(), {"minutes": window_minutes}).fetchall():
                p50, p95, p99 = (float(str(v)) for v in pct)  # type: ignore[attr-defined]
                out.append(Latency(kind, str(subject), str(operation), int(str(count)), p50, p95,
                                   p99, float(str(worst)), threshold_ms))
    return out
