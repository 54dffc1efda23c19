-- vigil router schema v2: less for every webhook request to maintain (docs/benchmarks.md#router).
--
-- The timeline, the plan and the outbox reference alerts by the id the same statement just
-- returned; their foreign-key checks (one SPI lookup per inserted row, ~12 % of PostgreSQL's
-- CPU per request under the ingest benchmark) are replaced by a guarantee that makes them
-- moot: an alert row is never deleted. incident references keep their foreign keys (cold path).
ALTER TABLE vigil_router.events DROP CONSTRAINT events_alert_id_fkey;
ALTER TABLE vigil_router.steps DROP CONSTRAINT steps_alert_id_fkey;
ALTER TABLE vigil_router.outbox DROP CONSTRAINT outbox_alert_id_fkey;

CREATE FUNCTION vigil_router.alerts_never_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'vigil_router.alerts rows are never deleted (the timeline, plan and outbox reference them)';
END $$;
CREATE TRIGGER alerts_no_delete BEFORE DELETE ON vigil_router.alerts
    FOR EACH ROW EXECUTE FUNCTION vigil_router.alerts_never_deleted();
CREATE TRIGGER alerts_no_truncate BEFORE TRUNCATE ON vigil_router.alerts
    FOR EACH STATEMENT EXECUTE FUNCTION vigil_router.alerts_never_deleted();

-- Alert timeline rows have no incident: index only the rows that do.
DROP INDEX vigil_router.events_incident;
CREATE INDEX events_incident ON vigil_router.events (incident_id, id)
    WHERE incident_id IS NOT NULL;

-- Raw payloads are appended in time order and read only by the retention sweep: a BRIN
-- range index serves `received_at < cutoff` at a fraction of a btree's upkeep.
DROP INDEX vigil_router.raw_payloads_received_at;
CREATE INDEX raw_payloads_received_at ON vigil_router.raw_payloads USING brin (received_at);
