-- vigil router schema v3: alerts Alertmanager stopped re-sending are resolved as stale
-- (docs/escalation.md#stale-alerts).
--
-- A stale-resolved alert steps out of its identity: if Alertmanager sends the same
-- (fingerprint, startsAt) as firing again, that is a new alert instance (its own id, plan
-- and idempotency keys), linked to the stale one on both timelines. So (fingerprint,
-- startsAt) is unique among the alerts that are not stale, and stale ones are found by
-- their own (small) index.
ALTER TABLE vigil_router.alerts ADD COLUMN stale boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX alerts_identity ON vigil_router.alerts (fingerprint, starts_at)
    WHERE NOT stale;
ALTER TABLE vigil_router.alerts DROP CONSTRAINT alerts_fingerprint_starts_at_key;
CREATE INDEX alerts_stale_identity ON vigil_router.alerts (fingerprint, starts_at, id)
    WHERE stale;
