-- Incidents as the API shows them (router/incident_api.py, router/incidents.py): newest first,
-- with their linked alerts and how many of those are not resolved yet.
-- Parameters: id (one incident, or NULL), statuses (text[]: the statuses wanted, or NULL for
-- all), limit.
SELECT id, type, severity, description, status, created_at, created_by, responded_at,
       responded_by, status_changed_at, status_changed_by,
       ARRAY(SELECT ia.alert_id FROM vigil_router.incident_alerts ia
             WHERE ia.incident_id = i.id ORDER BY ia.alert_id) AS alert_ids,
       (SELECT count(*) FROM vigil_router.incident_alerts ia
        JOIN vigil_router.alerts a ON a.id = ia.alert_id
        WHERE ia.incident_id = i.id AND a.status <> 'resolved')::int AS alerts_unresolved
FROM vigil_router.incidents i
WHERE (%(id)s::bigint IS NULL OR i.id = %(id)s::bigint)
  AND (%(statuses)s::text[] IS NULL OR i.status = ANY(%(statuses)s::text[]))
ORDER BY i.id DESC
LIMIT %(limit)s
