-- The engine's stale sweep, first half (router/engine.py): claim a batch of open or acked
-- alerts Alertmanager has not re-sent (received or duplicate: ``last_seen_at``) for their
-- level's ``stale_after`` (Alertmanager never sends the resolve of a silenced or inhibited
-- alert, and forgets its alerts when restarted without state). Rows are locked with SKIP
-- LOCKED, so two replicas never resolve the same alert and a webhook re-sending it right now
-- wins (the next sweep sees its new last_seen_at). Returns the ``alerts`` parameter of
-- resolve.sql, which resolves them in the same transaction, with the reason on the timeline.
-- Parameters: now, limit, levels (JSON: level -> {stale_after, human}).
WITH lv AS (
    SELECT key AS level, (value ->> 'stale_after')::float8 AS stale_after,
           value ->> 'human' AS human
    FROM jsonb_each(%(levels)s::jsonb)
), cand AS (
    SELECT a.id, lv.stale_after, lv.human, a.last_seen_at
    FROM vigil_router.alerts a JOIN lv ON lv.level = a.severity
    WHERE a.status <> 'resolved'
      AND a.last_seen_at < %(now)s - make_interval(secs => lv.stale_after)
    ORDER BY a.id
    LIMIT %(limit)s
    FOR UPDATE OF a SKIP LOCKED
)
SELECT count(*)::int, coalesce(jsonb_agg(jsonb_build_object(
    'id', id, 'stale', true, 'detail', jsonb_build_object(
        'reason', 'stale: not re-sent by Alertmanager for ' || human,
        'stale_after_seconds', stale_after,
        'last_seen_at', last_seen_at)) ORDER BY id), '[]')::text
FROM cand
