-- The console's open page (router/console/pages.py): every alert not resolved, with its next
-- escalation step still pending (the countdown and who it will page). An acked alert has
-- none: the ack cancelled its steps. Parameters: none.
SELECT a.id, a.alertname, a.severity, a.status, a.labels, a.annotations, a.received_at,
       a.response_deadline, a.acked_by, a.acked_at, a.sla_breached,
       n.step_no AS next_step, n.due_at AS next_due, n.targets AS next_targets
FROM vigil_router.alerts a
LEFT JOIN LATERAL (
    SELECT s.step_no, s.due_at, s.targets FROM vigil_router.steps s
    WHERE s.alert_id = a.id AND s.state = 'pending' AND s.kind = 'step'
    ORDER BY s.due_at, s.id LIMIT 1) n ON true
WHERE a.status <> 'resolved'
ORDER BY a.severity, a.received_at DESC, a.id DESC
LIMIT 500
