-- vigil router schema v7: the incident lifecycle (issue #11).
--
-- An incident moves open -> responding -> contained -> resolved -> closed
-- (router/incident_api.py holds the allowed transitions). Every move is an event on the
-- incident's timeline with who and when; the row keeps the latest one so a list needs no
-- join. When the last alert linked to an incident resolves, the router records it and moves
-- a responding or contained incident to resolved (docs/router.md#incident-lifecycle).
ALTER TABLE vigil_router.incidents DROP CONSTRAINT IF EXISTS incidents_status_check;
ALTER TABLE vigil_router.incidents ADD CONSTRAINT incidents_status_check
    CHECK (status IN ('open', 'responding', 'contained', 'resolved', 'closed'));
ALTER TABLE vigil_router.incidents ADD COLUMN IF NOT EXISTS status_changed_at timestamptz;
ALTER TABLE vigil_router.incidents ADD COLUMN IF NOT EXISTS status_changed_by text;
UPDATE vigil_router.incidents
SET status_changed_at = coalesce(responded_at, created_at),
    status_changed_by = coalesce(responded_by, created_by)
WHERE status_changed_at IS NULL;
-- A resolve looks up the incidents of the alerts it resolved.
CREATE INDEX IF NOT EXISTS incident_alerts_alert ON vigil_router.incident_alerts (alert_id);
CREATE INDEX IF NOT EXISTS incidents_status ON vigil_router.incidents (status, id);
