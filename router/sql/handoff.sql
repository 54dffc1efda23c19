-- Hand-off notices (router/oncall/handoff.py): for each stretch of a schedule that began
-- recently, claim its (schedule, since) row in vigil_router.handoffs and, only if this
-- statement inserted it, write one outbox row per delivery target of the incoming person.
-- A concurrent replica's insert of the same key waits for ours and then does nothing: one
-- notice per hand-off. Parameters: now, notices (JSON: [{schedule, since, person, info,
-- targets: [{target, channel}]}]).
WITH input AS (
    SELECT * FROM jsonb_to_recordset(%(notices)s::jsonb)
        AS i(schedule text, since timestamptz, person text, info jsonb, targets jsonb)
), claimed AS (
    INSERT INTO vigil_router.handoffs (schedule, since, person, noticed_at)
    SELECT schedule, since, person, %(now)s FROM input
    ORDER BY schedule
    ON CONFLICT (schedule, since) DO NOTHING
    RETURNING schedule, since
), outbox AS (
    INSERT INTO vigil_router.outbox (idempotency_key, kind, target, channel, payload,
                                     next_attempt_at, created_at)
    SELECT k.key, 'handoff', t.target, t.channel,
           vigil_router.notification(k.key, 'handoff', t.target, t.channel, 'oncall', i.info),
           %(now)s, %(now)s
    FROM claimed c JOIN input i ON i.schedule = c.schedule AND i.since = c.since
    CROSS JOIN LATERAL jsonb_array_elements(i.targets) WITH ORDINALITY AS e(doc, ord)
    CROSS JOIN LATERAL (SELECT e.doc ->> 'target' AS target, e.doc ->> 'channel' AS channel,
                               e.ord) t
    CROSS JOIN LATERAL (
        SELECT vigil_router.notification_key(
                   'h' || i.schedule || '@' || extract(epoch FROM i.since)::bigint,
                   'handoff', t.target) AS key) k
    ORDER BY i.schedule, t.ord
    ON CONFLICT (idempotency_key) DO NOTHING
)
SELECT count(*)::int FROM claimed
