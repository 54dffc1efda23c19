-- GET /api/v1/alerts/{id}/related and the context (router/api.py): alerts received within the
-- window around this one with the same alertname or at least one shared label, ranked by how
-- many labels match. Labels every alert shares (``ignore``: job, instance, target by default,
-- router.yml related_ignore_labels) and the alert's identity (alertname, severity) never
-- count, so a shared target alone relates nothing.
-- Parameters: id, name (its alertname), labels (its labels, JSON), ignore (text[]), lo, hi
-- (the window), limit.
WITH cand AS (
    SELECT a.*, (a.alertname = %(name)s) AS same_alertname,
        coalesce((SELECT jsonb_object_agg(e.key, e.value ORDER BY e.key)
                  FROM jsonb_each_text(a.labels) e
                  WHERE e.key NOT IN ('alertname', 'severity')
                    AND e.key <> ALL(%(ignore)s::text[])
                    AND %(labels)s::jsonb ->> e.key = e.value), '{}') AS matched
    FROM vigil_router.alerts a
    WHERE a.id <> %(id)s AND a.received_at BETWEEN %(lo)s AND %(hi)s
)
SELECT id, fingerprint, starts_at, alertname, severity, severity_raw, labels, annotations,
       generator_url, status, received_at, last_seen_at, response_deadline, duplicates,
       acked_at, acked_by, ack_note, resolved_at, resolved_by, ends_at, sla_breached,
       same_alertname, matched,
       ARRAY(SELECT jsonb_object_keys(matched) ORDER BY 1) AS shared_labels
FROM cand
WHERE same_alertname OR matched <> '{}'
ORDER BY (SELECT count(*) FROM jsonb_object_keys(matched)) DESC, same_alertname DESC,
         received_at DESC, id DESC
LIMIT %(limit)s
