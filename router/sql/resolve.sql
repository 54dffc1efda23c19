-- Resolve alerts: the one statement every resolve goes through (router/store.py: the API,
-- Alertmanager's resolve, the engine's stale sweep). Escalation ends, but the steps that fell
-- due while the alert was open still fire (docs/router.md#resolve-rule): an alert counted as
-- open until it ended (``ended``, Alertmanager's endsAt), never later than now nor earlier
-- than the router first saw it firing (its first step always fires: another host's clock
-- must not cancel it). Notices already planned still go out (the Legal notice for P1 goes out
-- whatever happens). With notify_on_resolve, everyone notified hears of the resolve after
-- their last page: at once when no page or notice is left to fire, else from a 'resolve'
-- plan row the engine turns into the resolve notices once they have fired.
-- Plan rows are cancelled with SKIP LOCKED: a step a tick is firing this instant counts as
-- fired before the resolve, and no lock is waited for, so no deadlock with the tick's SLA
-- update. The resolve notices have the keys the engine's 'resolve' row would use, so each
-- is written at most once.
-- Parameters: now, who, note, public_url, channels (JSON: target -> channel), notify_levels
-- (text[]: the levels with notify_on_resolve), alerts (JSON: [{id, ended, stale, detail}],
-- detail: extra fields of the timeline's 'resolved' event).
WITH input AS (
    SELECT * FROM jsonb_to_recordset(%(alerts)s::jsonb)
        AS i(id bigint, ended timestamptz, stale boolean, detail jsonb)
), upd AS (
    UPDATE vigil_router.alerts a
    SET status = 'resolved', resolved_at = %(now)s, resolved_by = %(who)s,
        stale = a.stale OR coalesce(i.stale, false)
    FROM input i WHERE a.id = i.id AND a.status <> 'resolved'
    RETURNING a, i.detail,
              CASE WHEN i.ended IS NULL THEN %(now)s
                   ELSE least(%(now)s, greatest(i.ended, a.received_at)) END AS open_until
), pending AS (
    SELECT st.id FROM vigil_router.steps st JOIN upd u ON st.alert_id = (u.a).id
    WHERE st.state = 'pending'
      AND (st.kind = 'sla' OR (st.kind = 'step' AND st.due_at > u.open_until))
    FOR UPDATE OF st SKIP LOCKED
), cancelled AS (
    UPDATE vigil_router.steps s SET state = 'cancelled'
    FROM pending WHERE s.id = pending.id
    RETURNING s.id, s.alert_id
), events AS (
    INSERT INTO vigil_router.events (alert_id, at, kind, actor, detail)
    SELECT (u.a).id, %(now)s, 'resolved', %(who)s, jsonb_build_object(
        'note', %(note)s::text,
        'time_to_resolve_seconds', extract(epoch FROM %(now)s - (u.a).received_at)::float8,
        'within_response_time', %(now)s <= (u.a).response_deadline,
        'cancelled_steps', (SELECT count(*) FROM cancelled c WHERE c.alert_id = (u.a).id))
        || coalesce(u.detail, '{}')
    FROM upd u ORDER BY (u.a).id
), notifying AS (
    SELECT u.a, (SELECT max(st.due_at) FROM vigil_router.steps st
                 WHERE st.alert_id = (u.a).id AND st.state = 'pending'
                   AND st.kind IN ('step', 'notice')
                   AND st.id NOT IN (SELECT c.id FROM cancelled c)) AS last_due
    FROM upd u WHERE (u.a).severity = ANY(%(notify_levels)s::text[])
), later AS (   -- pages or notices still to fire: the resolve notices wait for them
    INSERT INTO vigil_router.steps (alert_id, kind, step_no, due_at, targets)
    SELECT (n.a).id, 'resolve', 0, greatest(%(now)s, n.last_due), '{}'
    FROM notifying n WHERE n.last_due IS NOT NULL ORDER BY (n.a).id
), notices AS (
    SELECT (n.a).id AS alert_id, t.target, %(channels)s::jsonb ->> t.target AS channel,
           vigil_router.notification_key('a' || (n.a).id, 'resolved', t.target) AS key,
           vigil_router.alert_summary(n.a, %(public_url)s) AS summary
    FROM notifying n CROSS JOIN LATERAL (
        SELECT DISTINCT o.target FROM vigil_router.outbox o
        WHERE o.alert_id = (n.a).id AND o.kind IN ('escalation', 'notice')) t
    WHERE n.last_due IS NULL
), outbox AS (
    INSERT INTO vigil_router.outbox (idempotency_key, alert_id, kind, target, channel,
                                     payload, next_attempt_at, created_at)
    SELECT key, alert_id, 'resolved', target, channel,
           vigil_router.notification(key, 'resolved', target, channel, 'alert', summary),
           %(now)s, %(now)s
    FROM notices ORDER BY alert_id, target
    ON CONFLICT (idempotency_key) DO NOTHING
)
SELECT (u.a).id, (u.a).fingerprint, (u.a).starts_at, (u.a).alertname, (u.a).severity,
       (u.a).severity_raw, (u.a).labels, (u.a).annotations, (u.a).generator_url, (u.a).status,
       (u.a).received_at, (u.a).last_seen_at, (u.a).response_deadline, (u.a).duplicates,
       (u.a).acked_at, (u.a).acked_by, (u.a).ack_note, (u.a).resolved_at, (u.a).resolved_by,
       (u.a).ends_at, (u.a).sla_breached
FROM upd u ORDER BY (u.a).id
