-- Ack an open alert (router/store.py: the caller then cancels its steps and SLA check and
-- writes the timeline). Returns the alert as the API shows it, or no row if it was not open.
-- Parameters: now, who, note, id.
UPDATE vigil_router.alerts SET status = 'acked', acked_at = %(now)s, acked_by = %(who)s,
       ack_note = %(note)s
WHERE id = %(id)s AND status = 'open'
RETURNING id, fingerprint, starts_at, alertname, severity, severity_raw, labels, annotations,
          generator_url, status, received_at, last_seen_at, response_deadline, duplicates,
          acked_at, acked_by, ack_note, resolved_at, resolved_by, ends_at, sla_breached
