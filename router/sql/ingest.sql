-- One webhook request (or one round of it, router/ingest.py): the raw body, the alerts
-- upserted by identity (fingerprint, startsAt), their timeline rows and plans, in one
-- statement. Parameters: now, body (the request body, kept for replay when store_raw; labels,
-- annotations and generatorURL are read from it here), alerts (JSON: what Python decided per
-- alert: identity, level, times), levels (JSON: each level's response time), plans (JSON:
-- each level's plan rows). Rows are upserted in (fingerprint, startsAt) order so concurrent
-- requests with the same alerts lock them in the same order (no deadlocks).
WITH raw AS (
    INSERT INTO vigil_router.raw_payloads (received_at, body)
    SELECT %(now)s, %(body)s WHERE %(store_raw)s
),
doc AS MATERIALIZED (   -- the body parsed once, not once per alert
    SELECT %(body)s::jsonb -> 'alerts' AS alerts
),
input AS (
    SELECT i.ord, i.fp, i.starts, i.sev, i.raw, i.fallback, i.firing, i.ends,
           coalesce(d -> 'labels' ->> 'alertname', '') AS name, d -> 'labels' AS labels,
           coalesce(nullif(d -> 'annotations', 'null'), '{}') AS ann,
           coalesce(d ->> 'generatorURL', '') AS gen
    FROM doc CROSS JOIN jsonb_to_recordset(%(alerts)s::jsonb) AS i(
        ord int, idx int, fp text, starts timestamptz, sev text, raw text, fallback boolean,
        firing boolean, ends timestamptz)
    CROSS JOIN LATERAL (SELECT doc.alerts -> i.idx AS d) AS b
),
late AS (  -- a resolve for an alert already resolved as stale: a duplicate of it
    SELECT i.ord, s.id
    FROM input i CROSS JOIN LATERAL (
        SELECT s.id FROM vigil_router.alerts s
        WHERE NOT i.firing AND s.stale AND s.fingerprint = i.fp AND s.starts_at = i.starts
          AND NOT EXISTS (SELECT 1 FROM vigil_router.alerts x WHERE NOT x.stale
                          AND x.fingerprint = i.fp AND x.starts_at = i.starts)
        ORDER BY s.id DESC LIMIT 1) s
),
up AS (
    INSERT INTO vigil_router.alerts AS a
        (fingerprint, starts_at, alertname, severity, severity_raw, labels, annotations,
         generator_url, status, received_at, last_seen_at, response_deadline, ends_at,
         resolved_at, resolved_by)
    SELECT fp, starts, name, sev, raw, labels, ann, gen,
           CASE WHEN firing THEN 'open' ELSE 'resolved' END, %(now)s, %(now)s,
           %(now)s + make_interval(secs => lv.response_time), ends,
           CASE WHEN firing THEN NULL ELSE %(now)s END,
           CASE WHEN firing THEN NULL ELSE 'alertmanager' END
    FROM input JOIN jsonb_to_recordset(%(levels)s::jsonb) AS lv(level text, response_time float8)
      ON lv.level = input.sev
    WHERE NOT EXISTS (SELECT 1 FROM late WHERE late.ord = input.ord)
    ORDER BY ord
    ON CONFLICT (fingerprint, starts_at) WHERE NOT stale DO UPDATE
        SET last_seen_at = excluded.last_seen_at, duplicates = a.duplicates + 1
    RETURNING a.id, (a.xmax = 0) AS inserted, a.status, a.fingerprint, a.starts_at
),
res AS (
    SELECT i.ord, up.id, i.firing, i.sev, i.fp, i.raw, i.fallback,
           CASE WHEN up.inserted THEN 'new'
                WHEN NOT i.firing AND up.status <> 'resolved' THEN 'resolve'
                ELSE 'duplicate' END AS outcome,
           prev.id AS prev   -- a new instance of an identity resolved as stale before
    FROM up JOIN input i ON i.fp = up.fingerprint AND i.starts = up.starts_at
    LEFT JOIN LATERAL (
        SELECT s.id FROM vigil_router.alerts s
        WHERE up.inserted AND s.stale AND s.fingerprint = i.fp AND s.starts_at = i.starts
        ORDER BY s.id DESC LIMIT 1) prev ON true
    UNION ALL
    SELECT i.ord, late.id, i.firing, i.sev, i.fp, i.raw, i.fallback, 'duplicate', NULL
    FROM late JOIN input i ON i.ord = late.ord
),
events AS (
    INSERT INTO vigil_router.events (alert_id, at, kind, actor, detail)
    SELECT CASE WHEN e.n = 4 THEN r.prev ELSE r.id END, %(now)s, e.kind, e.actor, e.detail
    FROM res r CROSS JOIN LATERAL (VALUES
        (1, 'received', NULL::text,
         jsonb_build_object('severity', r.sev, 'fingerprint', r.fp,
                            'status', CASE WHEN r.firing THEN 'firing' ELSE 'resolved' END)
         || CASE WHEN r.fallback THEN jsonb_build_object('severity_fallback', r.raw)
                 ELSE '{}'::jsonb END
         || CASE WHEN r.prev IS NOT NULL THEN jsonb_build_object('after_stale_alert', r.prev)
                 ELSE '{}'::jsonb END),
        (2, 'resolved', 'alertmanager', '{"first_seen_resolved": true}'::jsonb),
        (3, 'duplicate_suppressed', NULL,
         jsonb_build_object('status', CASE WHEN r.firing THEN 'firing' ELSE 'resolved' END)),
        (4, 'resent_after_stale', NULL, jsonb_build_object('new_alert', r.id))
    ) AS e(n, kind, actor, detail)
    WHERE (r.outcome = 'new' AND (e.n = 1 OR (e.n = 2 AND NOT r.firing)
                                  OR (e.n = 4 AND r.prev IS NOT NULL)))
       OR (r.outcome = 'duplicate' AND e.n = 3)
    ORDER BY r.ord, e.n
),
steps AS (
    INSERT INTO vigil_router.steps (alert_id, kind, step_no, due_at, targets)
    SELECT r.id, p.kind, p.step_no, %(now)s + make_interval(secs => p.delay), p.targets
    FROM res r JOIN jsonb_to_recordset(%(plans)s::jsonb) AS p(
        level text, n int, kind text, step_no int, delay float8, targets text[])
      ON p.level = r.sev
    WHERE r.outcome = 'new' AND (
        (r.firing AND p.kind <> 'resolve')
        -- first seen resolved: never open here, so no step fell due while it was open,
        -- but the notices go out whatever happens, and then the resolve notice
        OR (NOT r.firing AND p.kind IN ('notice', 'resolve')))
    ORDER BY r.ord, p.n
)
SELECT ord, id, outcome FROM res ORDER BY ord
