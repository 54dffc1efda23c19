-- vigil router schema v1: alerts, their escalation plan, the outbox and the timeline.
-- Every time is written by the router from its clock; the DB's now() is never used,
-- so tests on a controlled clock see exactly what production does.
CREATE SCHEMA IF NOT EXISTS vigil_router;

CREATE TABLE vigil_router.raw_payloads (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL,
    body        text NOT NULL
);
CREATE INDEX raw_payloads_received_at ON vigil_router.raw_payloads (received_at);

CREATE TABLE vigil_router.alerts (
    id                bigserial PRIMARY KEY,
    fingerprint       text NOT NULL,
    starts_at         timestamptz NOT NULL,
    alertname         text NOT NULL DEFAULT '',
    severity          text NOT NULL CHECK (severity IN ('P1', 'P2', 'P3', 'P4')),
    severity_raw      text,
    labels            jsonb NOT NULL,
    annotations       jsonb NOT NULL,
    generator_url     text NOT NULL DEFAULT '',
    status            text NOT NULL CHECK (status IN ('open', 'acked', 'resolved')),
    received_at       timestamptz NOT NULL,
    last_seen_at      timestamptz NOT NULL,
    response_deadline timestamptz NOT NULL,
    duplicates        integer NOT NULL DEFAULT 0,
    acked_at          timestamptz,
    acked_by          text,
    ack_note          text,
    resolved_at       timestamptz,
    resolved_by       text,
    ends_at           timestamptz,
    sla_breached      boolean NOT NULL DEFAULT false,
    UNIQUE (fingerprint, starts_at)
);
CREATE INDEX alerts_open ON vigil_router.alerts (severity) WHERE status <> 'resolved';
CREATE INDEX alerts_received ON vigil_router.alerts (received_at);
CREATE INDEX alerts_alertname ON vigil_router.alerts (alertname, received_at);
CREATE INDEX alerts_labels ON vigil_router.alerts USING gin (labels jsonb_path_ops);

-- The plan written when an alert is first seen. kind: step (stopped by ack/resolve),
-- notice (always sent), sla (the ack deadline check).
CREATE TABLE vigil_router.steps (
    id       bigserial PRIMARY KEY,
    alert_id bigint NOT NULL REFERENCES vigil_router.alerts (id),
    kind     text NOT NULL CHECK (kind IN ('step', 'notice', 'sla')),
    step_no  integer NOT NULL,
    due_at   timestamptz NOT NULL,
    targets  text[] NOT NULL,
    state    text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'fired', 'cancelled')),
    fired_at timestamptz
);
CREATE INDEX steps_due ON vigil_router.steps (due_at) WHERE state = 'pending';
CREATE INDEX steps_alert ON vigil_router.steps (alert_id);

CREATE TABLE vigil_router.incidents (
    id           bigserial PRIMARY KEY,
    type         text NOT NULL,
    severity     text NOT NULL CHECK (severity IN ('P1', 'P2', 'P3', 'P4')),
    description  text NOT NULL,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'responding', 'closed')),
    created_at   timestamptz NOT NULL,
    created_by   text NOT NULL,
    responded_at timestamptz,
    responded_by text
);

CREATE TABLE vigil_router.incident_alerts (
    incident_id bigint NOT NULL REFERENCES vigil_router.incidents (id),
    alert_id    bigint NOT NULL REFERENCES vigil_router.alerts (id),
    PRIMARY KEY (incident_id, alert_id)
);

-- One row per (alert or incident, step, target): the idempotency key is the unique key,
-- so a step can never enqueue the same notification twice.
CREATE TABLE vigil_router.outbox (
    id              bigserial PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    alert_id        bigint REFERENCES vigil_router.alerts (id),
    incident_id     bigint REFERENCES vigil_router.incidents (id),
    kind            text NOT NULL,
    target          text NOT NULL,
    channel         text NOT NULL,
    payload         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz
);
CREATE INDEX outbox_due ON vigil_router.outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_alert ON vigil_router.outbox (alert_id);
CREATE INDEX outbox_dead ON vigil_router.outbox (id) WHERE state = 'dead';

-- Append-only, uncapped timeline for alerts and incidents.
CREATE TABLE vigil_router.events (
    id          bigserial PRIMARY KEY,
    alert_id    bigint REFERENCES vigil_router.alerts (id),
    incident_id bigint REFERENCES vigil_router.incidents (id),
    at          timestamptz NOT NULL,
    kind        text NOT NULL,
    actor       text,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_alert ON vigil_router.events (alert_id, id);
CREATE INDEX events_incident ON vigil_router.events (incident_id, id);

CREATE FUNCTION vigil_router.events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'vigil_router.events is append-only';
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON vigil_router.events
    FOR EACH ROW EXECUTE FUNCTION vigil_router.events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON vigil_router.events
    FOR EACH STATEMENT EXECUTE FUNCTION vigil_router.events_append_only();
