-- One engine batch (router/engine.py), one statement, so one transaction on the autocommit
-- connection: claim the due plan rows (locked, skipping rows another replica holds), mark
-- them fired, write one outbox row per target and the timeline rows, flag SLA breaches. The
-- payloads are built here (by the vigil_router.notification functions), so a batch of
-- thousands costs the router one round trip and no Python loop. Steps of acked alerts are
-- skipped (ack cancels them already); a resolved alert's steps still pending are those that
-- fell due while it was open (the resolve cancelled the rest, docs/router.md#resolve-rule) and
-- fire; notices always go out; a 'resolve' row writes the resolve notices after the pages it
-- waited for; an SLA check counts only if still open.
-- A target naming an on-call schedule is replaced by whom it reaches now, when the step fires
-- (router/oncall/routing.py): the on-call person's delivery targets or the fallback target;
-- the notification and the timeline say who that was, from which schedule, and how.
-- Parameters: now, limit, public_url, channels (JSON: delivery target -> channel),
-- response_times (JSON: level -> seconds), oncall (JSON: schedule target -> {schedule,
-- person, via, fallback?, deliver: [delivery targets]}).
WITH due AS (
    SELECT id FROM vigil_router.steps
    WHERE state = 'pending' AND due_at <= %(now)s
    ORDER BY due_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), fired AS (
    UPDATE vigil_router.steps s SET state = 'fired', fired_at = %(now)s
    FROM due WHERE s.id = due.id
    RETURNING s.id, s.alert_id, s.kind, s.step_no, s.targets, s.due_at
), f AS (
    SELECT f.id, f.alert_id, f.kind, f.step_no, f.targets, f.due_at, a.severity,
           f.kind = 'notice' OR (f.kind = 'step' AND a.status <> 'acked') AS notify,
           f.kind = 'sla' AND a.status = 'open' AS breach,
           CASE WHEN f.kind = 'step' THEN 'step' ELSE 'notice' END || f.step_no AS step_name,
           vigil_router.alert_summary(a, %(public_url)s) AS summary
    FROM fired f JOIN vigil_router.alerts a ON a.id = f.alert_id
), n AS (
    SELECT f.*, t.target, t.ord, %(channels)s::jsonb ->> t.target AS channel,
           vigil_router.notification_key('a' || f.alert_id, f.step_name, t.target) AS key,
           CASE WHEN f.kind = 'step' THEN 'escalation' ELSE 'notice' END AS nkind,
           t.oncall
    FROM f CROSS JOIN LATERAL unnest(f.targets) WITH ORDINALITY AS s(name, ord)
    CROSS JOIN LATERAL (
        SELECT d.target, s.ord * 1000 + d.i AS ord,
               (%(oncall)s::jsonb -> s.name) - 'deliver' AS oncall
        FROM jsonb_array_elements_text(coalesce(%(oncall)s::jsonb -> s.name -> 'deliver',
                                                jsonb_build_array(s.name)))
             WITH ORDINALITY AS d(target, i)) t
    WHERE f.notify
), rn AS (   -- resolve rows: everyone notified, including by the pages fired right now
    SELECT f.alert_id, f.due_at, f.id, f.summary, t.target,
           %(channels)s::jsonb ->> t.target AS channel,
           vigil_router.notification_key('a' || f.alert_id, 'resolved', t.target) AS key
    FROM f CROSS JOIN LATERAL (
        SELECT o.target FROM vigil_router.outbox o
        WHERE o.alert_id = f.alert_id AND o.kind IN ('escalation', 'notice')
        UNION
        SELECT n.target FROM n WHERE n.alert_id = f.alert_id) t
    WHERE f.kind = 'resolve'
), outbox AS (
    INSERT INTO vigil_router.outbox (idempotency_key, alert_id, kind, target, channel,
                                     payload, next_attempt_at, created_at)
    SELECT key, alert_id, nkind, target, channel,
           vigil_router.notification(key, nkind, target, channel, 'alert', summary, extra),
           %(now)s, %(now)s
    FROM (
        SELECT 0 AS grp, due_at, id, ord, key, alert_id, nkind, target, channel, summary,
               jsonb_build_object('step', step_no, 'due_at', due_at)
               || CASE WHEN oncall IS NULL THEN '{}'::jsonb
                       ELSE jsonb_build_object('oncall', oncall) END AS extra
        FROM n
        UNION ALL
        SELECT 1, due_at, id, 0::bigint, key, alert_id, 'resolved', target, channel, summary,
               '{}'::jsonb
        FROM rn
    ) x ORDER BY due_at, id, grp, ord, target
    ON CONFLICT (idempotency_key) DO NOTHING
), events AS (
    INSERT INTO vigil_router.events (alert_id, at, kind, actor, detail)
    SELECT alert_id, %(now)s, kind, NULL, detail FROM (
        SELECT 0 AS grp, due_at, id, alert_id,
               CASE WHEN kind = 'step' THEN 'escalated' ELSE 'notice' END AS kind,
               jsonb_build_object('step', step_no, 'targets', to_jsonb(targets),
                                  'due_at', due_at)
               || coalesce((SELECT jsonb_build_object('oncall', jsonb_object_agg(
                                       t, (%(oncall)s::jsonb -> t) - 'deliver'))
                            FROM unnest(f.targets) AS t
                            WHERE %(oncall)s::jsonb ? t HAVING count(*) > 0),
                           '{}'::jsonb) AS detail
        FROM f WHERE notify
        UNION ALL
        SELECT 1, due_at, id, alert_id, 'sla_breached',
               jsonb_build_object('response_time_seconds',
                                  %(response_times)s::jsonb -> severity)
        FROM f WHERE breach
    ) e ORDER BY grp, due_at, id
), sla AS (
    UPDATE vigil_router.alerts SET sla_breached = true
    WHERE id IN (SELECT alert_id FROM f WHERE breach)
)
SELECT kind, severity, step_no, notify, breach, count(*)::int
FROM f GROUP BY kind, severity, step_no, notify, breach
