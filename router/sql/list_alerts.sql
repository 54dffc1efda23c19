-- GET /api/v1/alerts (router/api.py): the newest alerts matching every filter given; a
-- filter left NULL matches all. Parameters: status ('open', 'acked', 'resolved',
-- 'unresolved' or NULL), severity (or NULL), labels (JSON object the labels contain, or
-- NULL), limit.
SELECT id, fingerprint, starts_at, alertname, severity, severity_raw, labels, annotations,
       generator_url, status, received_at, last_seen_at, response_deadline, duplicates,
       acked_at, acked_by, ack_note, resolved_at, resolved_by, ends_at, sla_breached
FROM vigil_router.alerts
WHERE CASE %(status)s::text WHEN 'unresolved' THEN status <> 'resolved'
                            ELSE %(status)s::text IS NULL OR status = %(status)s::text END
  AND (%(severity)s::text IS NULL OR severity = %(severity)s::text)
  AND (%(labels)s::jsonb IS NULL OR labels @> %(labels)s::jsonb)
ORDER BY id DESC LIMIT %(limit)s
