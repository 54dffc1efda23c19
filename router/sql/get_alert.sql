-- One alert as the API shows it (router/store.py). Parameters: id.
SELECT id, fingerprint, starts_at, alertname, severity, severity_raw, labels, annotations,
       generator_url, status, received_at, last_seen_at, response_deadline, duplicates,
       acked_at, acked_by, ack_note, resolved_at, resolved_by, ends_at, sla_breached
FROM vigil_router.alerts WHERE id = %(id)s
