-- The runbook's own queries, as printed (docs/runbook.md and the operations runbook), answer
-- under the faults they are for.
--
-- 1. monitor_encryption_performance() without arguments read the OLDEST max_rows operations
--    (id > 0 in id order), so on a database with more than 10,000 operations
--    `SELECT * FROM monitor_encryption_performance() WHERE duration_ms > 100` never saw a
--    slow operation of the last hour. Without since_id and after_txid it now reads the most
--    recent max_rows operations: a backward scan of the primary key, cheap at any table size.
--    since_id > 0 (rows after an id, in id order) and after_txid (the exporter's settled read)
--    keep their meaning; the signature and grants do not change (CREATE OR REPLACE).
CREATE OR REPLACE FUNCTION vigil_monitor.monitor_encryption_performance(
    since_id bigint DEFAULT 0, max_rows int DEFAULT 10000, after_txid bigint DEFAULT NULL,
    after_id bigint DEFAULT 0, before_txid bigint DEFAULT NULL)
RETURNS TABLE (id bigint, ts timestamptz, operation text, key_id text, duration_ms float8,
               success boolean, txid bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF after_txid IS NULL AND coalesce(since_id, 0) = 0 THEN
        RETURN QUERY
        SELECT r.id, r.ts, r.operation, r.key_id, r.duration_ms, r.success, r.txid
        FROM (SELECT e.id, e.ts, e.operation, e.key_id, e.duration_ms, e.success, e.txid
              FROM vigil_monitor.encryption_ops e ORDER BY e.id DESC LIMIT max_rows) r
        ORDER BY r.id;
    ELSIF after_txid IS NULL THEN
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

-- 2. The operations runbook prints the names without their schema
--    (`SELECT * FROM monitor_rls_overhead()`, `FROM phi_access_patterns`), which failed with
--    "function monitor_rls_overhead() does not exist" for every role, a superuser's psql
--    included. The least invasive way to make them resolve for whoever opens a session on
--    this database: append vigil_monitor to the END of the database's default search_path.
--    Names the application already uses resolve exactly as before (its schemas come first;
--    a name found there wins), new objects are still created in the first schema, nothing is
--    added to the application's schemas, and vigil_monitor's objects keep their grants (the
--    application role still may not read them). It is a default: a role with its own
--    search_path (ALTER ROLE ... SET) or a session that sets one keeps its own, which is why
--    docs/runbook.md also shows `SET search_path`. Undo: ALTER DATABASE db RESET search_path.
--    A database-level search_path already set is kept and extended; re-running adds nothing.
DO $$
DECLARE
    current_path text;
    parts text[];
BEGIN
    SELECT substr(c, length('search_path=') + 1) INTO current_path
    FROM pg_db_role_setting s, unnest(s.setconfig) AS c
    WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND s.setrole = 0 AND c LIKE 'search_path=%';
    IF current_path IS NULL THEN
        current_path := '"$user", public';   -- PostgreSQL's default
    END IF;
    -- The elements, without empty ones: a database set to search_path = '' is stored as "",
    -- and `SET search_path = "", vigil_monitor` is rejected (zero-length identifier).
    parts := ARRAY(SELECT trim(p) FROM unnest(string_to_array(current_path, ',')) AS p
                   WHERE trim(p) NOT IN ('', '""'));
    IF NOT 'vigil_monitor' = ANY (parts) THEN
        -- The elements are the catalog's own rendering (identifiers already quoted).
        EXECUTE format('ALTER DATABASE %I SET search_path = ', current_database())
                || array_to_string(parts || 'vigil_monitor'::text, ', ');
    END IF;
END $$;
