-- Settled watermark: every metrics row records the id of the transaction that wrote it.
--
-- Ids come from identity sequences and become visible in commit order, not id order: a
-- transaction can take id 10, another take 11 and commit first. A reader keeping "max id seen"
-- would skip 10 for ever. Every transaction whose id is below pg_snapshot_xmin of a snapshot
-- has finished, and every later writer gets a higher transaction id, so a reader that consumes
-- (txid, id) in order but only below that horizon sees each committed row exactly once.
--
-- Rows written before this file ran keep txid 0 ("settled long ago"): the column is added with
-- a constant default (no table rewrite), then the default becomes the writer's transaction id.
-- Idempotent: re-running changes nothing.
ALTER TABLE vigil_monitor.audit_write_metrics ADD COLUMN IF NOT EXISTS txid bigint NOT NULL DEFAULT 0;
ALTER TABLE vigil_monitor.audit_write_metrics
    ALTER COLUMN txid SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX IF NOT EXISTS audit_write_metrics_txid ON vigil_monitor.audit_write_metrics (txid, id);

ALTER TABLE vigil_monitor.phi_access_patterns ADD COLUMN IF NOT EXISTS txid bigint NOT NULL DEFAULT 0;
ALTER TABLE vigil_monitor.phi_access_patterns
    ALTER COLUMN txid SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX IF NOT EXISTS phi_access_patterns_txid ON vigil_monitor.phi_access_patterns (txid, id);

ALTER TABLE vigil_monitor.encryption_ops ADD COLUMN IF NOT EXISTS txid bigint NOT NULL DEFAULT 0;
ALTER TABLE vigil_monitor.encryption_ops
    ALTER COLUMN txid SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX IF NOT EXISTS encryption_ops_txid ON vigil_monitor.encryption_ops (txid, id);

-- The horizon: every transaction with a lower id has committed or aborted.
CREATE OR REPLACE FUNCTION vigil_monitor.settled_horizon() RETURNS bigint
LANGUAGE sql STABLE AS $$ SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint $$;

-- monitor_encryption_performance gains the settled read (and a txid column). Without
-- after_txid it behaves as before: rows with id > since_id in id order, so the runbook's
-- SELECT * FROM monitor_encryption_performance() WHERE duration_ms > 100 still works.
-- With after_txid: rows with (txid, id) > (after_txid, after_id), txid < before_txid
-- (default: settled_horizon()) and id > since_id, in (txid, id) order.
DROP FUNCTION IF EXISTS vigil_monitor.monitor_encryption_performance(bigint, int);
CREATE OR REPLACE FUNCTION vigil_monitor.monitor_encryption_performance(
    since_id bigint DEFAULT 0, max_rows int DEFAULT 10000, after_txid bigint DEFAULT NULL,
    after_id bigint DEFAULT 0, before_txid bigint DEFAULT NULL)
RETURNS TABLE (id bigint, ts timestamptz, operation text, key_id text, duration_ms float8,
               success boolean, txid bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF after_txid IS NULL THEN
        RETURN QUERY
        SELECT e.id, e.ts, e.operation, e.key_id, e.duration_ms, e.success, e.txid
        FROM vigil_monitor.encryption_ops e WHERE e.id > since_id ORDER BY e.id LIMIT max_rows;
    ELSE
        RETURN QUERY
        SELECT e.id, e.ts, e.operation, e.key_id, e.duration_ms, e.success, e.txid
        FROM vigil_monitor.encryption_ops e
        WHERE (e.txid, e.id) > (after_txid, coalesce(after_id, 0))
          AND e.txid < coalesce(before_txid, vigil_monitor.settled_horizon())
          AND e.id > since_id
        ORDER BY e.txid, e.id LIMIT max_rows;
    END IF;
END $$;
REVOKE ALL ON FUNCTION vigil_monitor.monitor_encryption_performance(bigint, int, bigint, bigint, bigint),
    vigil_monitor.settled_horizon() FROM PUBLIC;

-- DROP took the old function's grants with it: every role that may run the read functions
-- (any monitoring role granted by `vigil db grants`, not only vigil_exporter) gets the new one.
DO $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT DISTINCT a.grantee::regrole::text AS role
        FROM pg_proc p, aclexplode(p.proacl) a
        WHERE p.oid = 'vigil_monitor.security_encryption_status()'::regprocedure
          AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION vigil_monitor.monitor_encryption_performance('
                       'bigint, int, bigint, bigint, bigint), vigil_monitor.settled_horizon() TO %s',
                       r.role);
    END LOOP;
END $$;
