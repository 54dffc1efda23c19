-- The console's history search (router/console/pages.py): alerts matching every filter
-- given; a filter left NULL matches all. Parameters: name (substring of the alertname,
-- case-insensitive), severity, labels (JSON object the labels contain), since, until
-- (received_at range), who (acked, resolved or acted on the timeline), limit.
SELECT a.id, a.alertname, a.severity, a.status, a.labels, a.received_at, a.acked_by,
       a.acked_at, a.resolved_by, a.resolved_at
FROM vigil_router.alerts a
WHERE (%(name)s::text IS NULL OR strpos(lower(a.alertname), lower(%(name)s::text)) > 0)
  AND (%(severity)s::text IS NULL OR a.severity = %(severity)s::text)
  AND (%(labels)s::jsonb IS NULL OR a.labels @> %(labels)s::jsonb)
  AND (%(since)s::timestamptz IS NULL OR a.received_at >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL OR a.received_at < %(until)s::timestamptz)
  AND (%(who)s::text IS NULL OR a.acked_by = %(who)s::text OR a.resolved_by = %(who)s::text
       OR EXISTS (SELECT 1 FROM vigil_router.events e
                  WHERE e.alert_id = a.id AND e.actor = %(who)s::text))
ORDER BY a.id DESC
LIMIT %(limit)s
