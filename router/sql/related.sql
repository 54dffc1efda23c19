-- GET /api/v1/alerts/{id}/related (router/api.py): alerts received within the window around
-- this one with the same alertname or a shared label (severity and alertname aside).
-- Parameters: id, name (its alertname), labels (its labels, JSON), lo, hi (the window).
SELECT id, fingerprint, starts_at, alertname, severity, severity_raw, labels, annotations,
       generator_url, status, received_at, last_seen_at, response_deadline, duplicates,
       acked_at, acked_by, ack_note, resolved_at, resolved_by, ends_at, sla_breached,
    (alertname = %(name)s) AS same_alertname,
    ARRAY(SELECT e.key FROM jsonb_each_text(labels) e
          WHERE e.key NOT IN ('alertname', 'severity') AND %(labels)s::jsonb ->> e.key = e.value
          ORDER BY e.key) AS shared_labels
FROM vigil_router.alerts
WHERE id <> %(id)s AND received_at BETWEEN %(lo)s AND %(hi)s
  AND (alertname = %(name)s OR EXISTS (
      SELECT 1 FROM jsonb_each_text(labels) e
      WHERE e.key NOT IN ('alertname', 'severity') AND %(labels)s::jsonb ->> e.key = e.value))
ORDER BY received_at DESC LIMIT 200
