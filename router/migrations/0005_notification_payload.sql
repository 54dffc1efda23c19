-- vigil router schema v5: one author of what a notification says.
--
-- Every notification the router writes into the outbox (an escalation page, a notice, a
-- resolve notice, an incident response) gets its idempotency key and its payload from these
-- functions, called by the router's statements (router/sql/*.sql) and nowhere else, so the
-- engine's batches, the resolve and the incident response can't drift apart. Timestamps are
-- rendered by PostgreSQL's JSON (ISO 8601 in the session's time zone). Nothing here reads or
-- writes a table: they are pure formatting, STABLE only because timestamptz rendering follows
-- the session's TimeZone.

-- Stable per (alert or incident, step, target): the same across retries and replicas.
-- subject: 'a<alert id>' or 'i<incident id>'; step: 'step2', 'notice1', 'resolved', 'respond'.
CREATE OR REPLACE FUNCTION vigil_router.notification_key(subject text, step text, target text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 'vigil-' || subject || '-' || step || '-' || target
$$;

-- What a notification carries about an alert: labels and annotations, no raw payload; the
-- link to the alert when the router has a public URL.
CREATE OR REPLACE FUNCTION vigil_router.alert_summary(a vigil_router.alerts, public_url text)
RETURNS jsonb LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object(
               'id', a.id, 'fingerprint', a.fingerprint, 'alertname', a.alertname,
               'severity', a.severity, 'status', a.status, 'starts_at', a.starts_at,
               'labels', a.labels, 'annotations', a.annotations,
               'generator_url', a.generator_url)
        || CASE WHEN public_url <> '' THEN jsonb_build_object(
               'url', public_url || '/api/v1/alerts/' || a.id) ELSE '{}' END
$$;

CREATE OR REPLACE FUNCTION vigil_router.incident_summary(i vigil_router.incidents)
RETURNS jsonb LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object('id', i.id, 'type', i.type, 'severity', i.severity,
                              'description', i.description, 'status', i.status)
$$;

-- The whole payload: key, kind ('escalation', 'notice', 'resolved', 'incident'), target, its
-- channel, the subject's summary under 'alert' or 'incident', plus the kind's own fields
-- (an escalation's 'step' and 'due_at').
CREATE OR REPLACE FUNCTION vigil_router.notification(
    key text, kind text, target text, channel text, subject text, summary jsonb,
    extra jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object('idempotency_key', key, 'kind', kind, 'target', target,
                              'channel', channel, subject, summary) || extra
$$;

REVOKE EXECUTE ON FUNCTION vigil_router.notification_key(text, text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION vigil_router.alert_summary(vigil_router.alerts, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION vigil_router.incident_summary(vigil_router.incidents) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION vigil_router.notification(text, text, text, text, text, jsonb, jsonb)
    FROM PUBLIC;
