-- The context's history (router/context.py): earlier alerts of the same alertname, newest
-- first, and how many there were in all. Parameters: id, name, before (its received_at),
-- limit.
SELECT id, severity, status, received_at, acked_at, acked_by, resolved_at, resolved_by,
       sla_breached, labels, count(*) OVER () AS total
FROM vigil_router.alerts
WHERE alertname = %(name)s AND id <> %(id)s AND received_at <= %(before)s
ORDER BY received_at DESC, id DESC
LIMIT %(limit)s
