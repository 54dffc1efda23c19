-- GET /api/v1/alerts (router/api.py): the newest alerts matching every filter given; a
-- filter left NULL matches all. Parameters: status ('open', 'acked', 'resolved',
-- 'unresolved' or NULL), severity (or NULL), labels (JSON object the labels contain, or
-- NULL), limit. next_step: the alert's earliest pending escalation step (due_at, step_no,
-- targets) or NULL, so `vigil status` finds the next escalation due in this one request.
SELECT id, fingerprint, starts_at, alertname, severity, severity_raw, labels, annotations,
       generator_url, status, received_at, last_seen_at, response_deadline, duplicates,
       acked_at, acked_by, ack_note, resolved_at, resolved_by, ends_at, sla_breached,
       (SELECT jsonb_build_object('due_at', s.due_at, 'step_no', s.step_no,
                                  'targets', to_jsonb(s.targets))
        FROM vigil_router.steps s
        WHERE s.alert_id = alerts.id AND s.kind = 'step' AND s.state = 'pending'
        ORDER BY s.due_at, s.step_no LIMIT 1) AS next_step
FROM vigil_router.alerts
WHERE CASE %(status)s::text WHEN 'unresolved' THEN status <> 'resolved'
                            ELSE %(status)s::text IS NULL OR status = %(status)s::text END
  AND (%(severity)s::text IS NULL OR severity = %(severity)s::text)
  AND (%(labels)s::jsonb IS NULL OR labels @> %(labels)s::jsonb)
ORDER BY id DESC LIMIT %(limit)s
