"""The day's alerts and incidents from the router's database: response times per level.

Only severities, counts and durations are read: never labels, annotations, notes or names
(they may quote values). Alerts are those the router received during the day; an alert not
acknowledged or resolved by the end of the day counts as late once past its response time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from psycopg.rows import dict_row

from vigil.core import pg
from vigil.report.errors import ReportError
from vigil.report.gather_prom import ACK_SLA
from vigil.report.window import Day

_ALERTS = """
WITH a AS (
  SELECT severity, received_at,
         extract(epoch FROM acked_at - received_at)::float8 AS ack_s,
         extract(epoch FROM resolved_at - received_at)::float8 AS resolve_s,
         extract(epoch FROM %(hi)s - received_at)::float8 AS open_s,
         (%(sla)s::jsonb ->> severity)::float8          AS sla,
         sla_breached
    FROM vigil_router.alerts
   WHERE received_at >= %(lo)s AND received_at < %(hi)s
)
SELECT severity, count(*) AS received,
       count(ack_s) AS acked, count(resolve_s) AS resolved,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ack_s)      AS time_to_ack_p50_seconds,
       max(ack_s)                                              AS time_to_ack_max_seconds,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY resolve_s)  AS time_to_resolve_p50_seconds,
       max(resolve_s)                                          AS time_to_resolve_max_seconds,
       count(*) FILTER (WHERE coalesce(ack_s, open_s) > sla)     AS ack_late,
       count(*) FILTER (WHERE coalesce(resolve_s, open_s) > sla) AS resolve_late,
       count(*) FILTER (WHERE sla_breached)                    AS sla_breaches
  FROM a GROUP BY severity ORDER BY severity
"""
_ESCALATIONS = """
SELECT a.severity, count(*) AS escalations
  FROM vigil_router.steps s JOIN vigil_router.alerts a ON a.id = s.alert_id
 WHERE s.kind = 'step' AND s.state = 'fired' AND s.step_no > 1
   AND s.fired_at >= %(lo)s AND s.fired_at < %(hi)s
 GROUP BY 1
"""
_INCIDENTS = """
SELECT severity, count(*) AS opened, count(responded_at) AS responded,
       max(extract(epoch FROM responded_at - created_at))::float8 AS time_to_respond_max_seconds
  FROM vigil_router.incidents
 WHERE created_at >= %(lo)s AND created_at < %(hi)s
 GROUP BY 1 ORDER BY 1
"""


def gather(dsn: str | None, day: Day) -> dict[str, Any]:
    if not dsn:
        return {"missing": ["alerts: no router database given (--router-dsn): response "
                            "times, escalations and incidents not reported"]}
    import json

    params = {"lo": dt.datetime.fromtimestamp(day.start, dt.UTC),
              "hi": dt.datetime.fromtimestamp(day.end, dt.UTC), "sla": json.dumps(ACK_SLA)}
    try:
        with pg.connect(dsn, application_name="vigil-report") as conn:
            cur = conn.cursor(row_factory=dict_row)
            levels = {r["severity"]: dict(r) for r in cur.execute(_ALERTS, params).fetchall()}
            for r in cur.execute(_ESCALATIONS, params).fetchall():
                levels.setdefault(r["severity"], {"severity": r["severity"]})[
                    "escalations"] = r["escalations"]
            incidents = [dict(r) for r in cur.execute(_INCIDENTS, params).fetchall()]
    except psycopg.Error as exc:
        raise ReportError(f"cannot read the day's alerts from the router database: "
                          f"{type(exc).__name__} (check --router-dsn)") from None
    for sev, row in levels.items():
        row.pop("severity", None)
        row["response_time_seconds"] = ACK_SLA.get(sev)
    return {"by_severity": dict(sorted(levels.items())), "incidents": incidents, "missing": []}
