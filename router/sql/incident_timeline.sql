-- An incident's timeline (router/incident_api.py): its own events and every event of the
-- alerts linked to it (received, escalated, acked, resolved ...), in time order.
-- Parameters: id.
SELECT e.id, e.at, e.kind, e.actor, e.detail, e.alert_id, e.incident_id
FROM vigil_router.events e
WHERE e.incident_id = %(id)s
   OR e.alert_id IN (SELECT ia.alert_id FROM vigil_router.incident_alerts ia
                     WHERE ia.incident_id = %(id)s)
ORDER BY e.at, e.id
