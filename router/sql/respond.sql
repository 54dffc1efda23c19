-- An incident's response (router/incidents.py): one notification per target, in order,
-- through the outbox, once per target (the key is per incident and target). The payload
-- carries the incident as it is now (status 'responding').
-- Parameters: now, id (the incident), targets (text[]), channels (JSON: target -> channel).
INSERT INTO vigil_router.outbox (idempotency_key, incident_id, kind, target, channel, payload,
                                 next_attempt_at, created_at)
SELECT n.key, i.id, 'incident', t.target, n.channel,
       vigil_router.notification(n.key, 'incident', t.target, n.channel, 'incident',
                                 vigil_router.incident_summary(i)),
       %(now)s, %(now)s
FROM vigil_router.incidents i
CROSS JOIN LATERAL unnest(%(targets)s::text[]) WITH ORDINALITY AS t(target, ord)
CROSS JOIN LATERAL (
    SELECT vigil_router.notification_key('i' || i.id, 'respond', t.target) AS key,
           %(channels)s::jsonb ->> t.target AS channel) n
WHERE i.id = %(id)s
ORDER BY t.ord
ON CONFLICT (idempotency_key) DO NOTHING
