-- vigil router schema v6: containment actions of an incident (issue #12).
--
-- One row per (incident, database, kind, target) action while it is active: what the CLI
-- planned (the exact statements and their effect), who asked, who approved (P1 needs a second
-- responder, escalation.yml levels.P1.containment_approvals), when it ran and was verified,
-- when it was released. The timeline (events) records each of these too. A released action
-- keeps its row; containing the same target again makes a new one.
CREATE TABLE IF NOT EXISTS vigil_router.containments (
    id                   bigserial PRIMARY KEY,
    incident_id          bigint NOT NULL REFERENCES vigil_router.incidents (id),
    database             text NOT NULL,
    kind                 text NOT NULL CHECK (kind IN ('role', 'actor', 'tenant')),
    target               text NOT NULL,
    plan                 jsonb NOT NULL DEFAULT '[]',
    requested_at         timestamptz NOT NULL,
    requested_by         text NOT NULL,
    approvals_needed     integer NOT NULL DEFAULT 0,
    approved_by          text[] NOT NULL DEFAULT '{}',
    contained_at         timestamptz,
    contained_by         text,
    verification         jsonb,
    released_at          timestamptz,
    released_by          text,
    release_verification jsonb
);
CREATE UNIQUE INDEX IF NOT EXISTS containments_active
    ON vigil_router.containments (incident_id, database, kind, target) WHERE released_at IS NULL;
