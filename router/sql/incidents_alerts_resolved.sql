-- After a resolve (router/store.py resolve_many): the incidents whose last unresolved alert
-- was just resolved. Each gets an 'all_alerts_resolved' event; a responding or contained one
-- moves to resolved, by the router (docs/router.md#incident-lifecycle). An open incident stays
-- open (nobody has responded yet: its response, and its notifications, still have to start);
-- closing stays a person's decision. The caller locked the incidents (FOR UPDATE, in id
-- order) first, so two resolves of an incident's last two alerts can't both miss it.
-- Parameters: ids (bigint[]: the locked incidents), now.
WITH done AS (
    SELECT i.id, i.status,
           (SELECT jsonb_agg(ia.alert_id ORDER BY ia.alert_id)
            FROM vigil_router.incident_alerts ia WHERE ia.incident_id = i.id) AS alert_ids
    FROM vigil_router.incidents i
    WHERE i.id = ANY(%(ids)s::bigint[]) AND i.status <> 'closed'
      AND NOT EXISTS (SELECT 1 FROM vigil_router.incident_alerts ia
                      JOIN vigil_router.alerts a ON a.id = ia.alert_id
                      WHERE ia.incident_id = i.id AND a.status <> 'resolved')
), moved AS (
    UPDATE vigil_router.incidents i
    SET status = 'resolved', status_changed_at = %(now)s, status_changed_by = 'router'
    FROM done WHERE i.id = done.id AND done.status IN ('responding', 'contained')
    RETURNING i.id
)
INSERT INTO vigil_router.events (incident_id, at, kind, actor, detail)
SELECT d.id, %(now)s, e.kind, 'router', e.detail
FROM done d CROSS JOIN LATERAL (VALUES
    (1, 'all_alerts_resolved', jsonb_build_object('alert_ids', d.alert_ids)),
    (2, 'status_changed', jsonb_build_object('from', d.status, 'to', 'resolved',
                                             'reason', 'all linked alerts resolved'))
) AS e(n, kind, detail)
WHERE e.n = 1 OR d.status IN ('responding', 'contained')
ORDER BY d.id, e.n
