-- The outbox sender's claim (router/outbox.py): lease the earliest due deliveries of the
-- targets with room left, in one statement. Parameters: now, full (text[]: targets at their
-- bound in this process), scan (candidates read), room (JSON: target -> slots left),
-- per_target (the default room), lease (until when), limit.
WITH cand AS (
    SELECT id, target,
           row_number() OVER (PARTITION BY target ORDER BY next_attempt_at, id) AS rn
    FROM (SELECT id, target, next_attempt_at FROM vigil_router.outbox q
          WHERE state = 'pending' AND next_attempt_at <= %(now)s
            AND (lease_until IS NULL OR lease_until <= %(now)s)
            AND target <> ALL(%(full)s::text[])
            -- a resolve notice waits for the pages to its target written before it
            AND (kind <> 'resolved' OR NOT EXISTS (
                SELECT 1 FROM vigil_router.outbox p
                WHERE p.alert_id = q.alert_id AND p.target = q.target
                  AND p.state = 'pending' AND p.id < q.id))
          ORDER BY next_attempt_at, id
          LIMIT %(scan)s) s
)
UPDATE vigil_router.outbox o SET lease_until = %(lease)s, attempts = o.attempts + 1
WHERE o.id IN (
    SELECT x.id FROM vigil_router.outbox x JOIN cand c ON c.id = x.id
    WHERE c.rn <= coalesce((%(room)s::jsonb ->> c.target)::int, %(per_target)s)
      AND x.state = 'pending' AND (x.lease_until IS NULL OR x.lease_until <= %(now)s)
    ORDER BY x.next_attempt_at, x.id
    LIMIT %(limit)s
    FOR UPDATE OF x SKIP LOCKED)
RETURNING o.id, o.idempotency_key, o.alert_id, o.incident_id, o.target, o.channel,
          o.payload, o.attempts, o.created_at
