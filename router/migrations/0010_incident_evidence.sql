-- vigil router schema v10: the evidence bundles collected for an incident (issue #12).
--
-- `vigil incident evidence collect ID` writes a bundle on the responder's host and records it
-- here: where it is, the SHA-256 of its manifest (which holds the SHA-256 of every file), who
-- collected it and when. The router keeps the manifest hash away from the bundle, so whoever
-- rewrites the files AND the manifest is still caught by `vigil incident evidence verify
-- --incident ID`. Append-only like the timeline; the timeline gets an 'evidence_collected'
-- event in the same transaction.
CREATE TABLE IF NOT EXISTS vigil_router.evidence (
    id            bigserial PRIMARY KEY,
    incident_id   bigint NOT NULL REFERENCES vigil_router.incidents (id),
    path          text NOT NULL,
    manifest_hash text NOT NULL CHECK (manifest_hash ~ '^[0-9a-f]{64}$'),
    files         integer NOT NULL CHECK (files >= 0),
    collected_by  text NOT NULL,
    collected_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS evidence_incident ON vigil_router.evidence (incident_id, id);

CREATE OR REPLACE FUNCTION vigil_router.evidence_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'vigil_router.evidence is append-only';
END $$;
DROP TRIGGER IF EXISTS evidence_append_only ON vigil_router.evidence;
CREATE TRIGGER evidence_append_only BEFORE UPDATE OR DELETE ON vigil_router.evidence
    FOR EACH ROW EXECUTE FUNCTION vigil_router.evidence_append_only();
