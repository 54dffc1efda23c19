-- The outbox sender's results (router/outbox.py): each delivery's new state and its timeline
-- row, many per statement. Parameters: rows (JSON: [{n, id, state, sent_at, next, error,
-- alert_id, incident_id, at, kind, detail}]).
WITH r AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
        n int, id bigint, state text, sent_at timestamptz, next timestamptz, error text,
        alert_id bigint, incident_id bigint, at timestamptz, kind text, detail jsonb)
), done AS (
    UPDATE vigil_router.outbox o
    SET state = r.state, sent_at = coalesce(r.sent_at, o.sent_at),
        next_attempt_at = coalesce(r.next, o.next_attempt_at),
        lease_until = NULL, last_error = r.error
    FROM r WHERE o.id = r.id
)
INSERT INTO vigil_router.events (alert_id, incident_id, at, kind, actor, detail)
SELECT alert_id, incident_id, at, kind, NULL, detail FROM r ORDER BY n
