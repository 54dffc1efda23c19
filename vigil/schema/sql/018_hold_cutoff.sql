-- Retention under legal hold without re-reading the held rows on every call.
--
-- 015's maintain_trim walked each table's time index from its oldest row and called
-- row_held() on every candidate (a function with a sub-select: never inlined). Held rows
-- older than the cutoff stay, so every call, in every pass, walked all of them again before it
-- reached a row it could delete: a hold of everyone over a busy week is ~10^7 rows per call,
-- past the maintainer's 60 s statement timeout, and retention stopped trimming anything.
--
-- Now, with the same result (held rows are never deleted, every other row past retention is):
-- * A hold of everyone (no actor, no tenant) takes its window out of the time the trim reads.
--   trim_ranges() is (-infinity, cutoff) minus the windows of the unreleased holds of
--   everyone: a handful of [lo, hi) ranges, one more than there are such holds at most. The
--   trim reads them oldest first, each as a range scan of the time index, so it never reads a
--   row such a hold covers, whatever the size of the window.
-- * A hold of named actors or tenants is tested inline, an anti-join against those holds
--   (unreleased, overlapping the range) read once per statement: no function call per row.
--   The time index does not know who a row belongs to, so the scan still steps over the rows
--   of the named actors/tenants in such a window that are older than the cutoff (each call:
--   those older than the last row it deletes). A narrow hold keeps few rows; a hold whose
--   actors or tenants are most of the traffic is better recorded as a hold of everyone.
-- * A rollup bucket (one minute) is held when the minute overlaps the hold's window
--   (bucket <= until and bucket + 59.999999 s >= since) and the hold is of everyone or names
--   its actor (its tenant is not known: a tenant-only hold keeps the raw rows, which carry
--   it). 015 tested only the bucket's first and last microsecond, so a hold shorter than a
--   minute inside one bucket did not keep it; the overlap is what 015's comment meant.
-- row_held() stays: `vigil incident` reads it, and tests use it as the reference.
-- Idempotent: re-running changes nothing.

-- The time ranges [lo, hi) the trim may read: before p_cutoff and outside every unreleased
-- hold of everyone, each hold's window [since, until] (until NULL: no end) widened by
-- p_before at its start (59.999999 s for rollup buckets: a bucket that starts up to a minute
-- before the hold overlaps it). Oldest first.
CREATE OR REPLACE FUNCTION vigil_monitor.trim_ranges(p_cutoff timestamptz, p_before interval)
RETURNS TABLE (lo timestamptz, hi timestamptz) LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN lower_inf(r) THEN timestamptz '-infinity'
                WHEN lower_inc(r) THEN lower(r)
                ELSE lower(r) + interval '1 microsecond' END,
           CASE WHEN upper_inc(r) THEN upper(r) + interval '1 microsecond' ELSE upper(r) END
    FROM unnest(tstzmultirange(tstzrange(NULL, p_cutoff, '()'))
                - coalesce((SELECT range_agg(tstzrange(h.since - p_before, h.until, '[]'))
                            FROM vigil_monitor.legal_holds h
                            WHERE h.released_at IS NULL AND cardinality(h.actors) = 0
                              AND cardinality(h.tenants) = 0),
                           '{}'::tstzmultirange)) r
    ORDER BY 1
$$;
REVOKE ALL ON FUNCTION vigil_monitor.trim_ranges(timestamptz, interval) FROM PUBLIC;

-- 015's trim with the exclusions above. Each range is one DELETE of at most the rows still
-- wanted; the holds of named actors/tenants that overlap the range are read first
-- (MATERIALIZED: a few rows, scanned per candidate instead of the whole legal_holds table).
-- The rows found are deleted by their ctid (locked, so it cannot move): a Tid Scan, where
-- 015's `id IN (...)` let the planner hash-join a sequential scan of the whole table, held
-- rows included, when it expected few candidates.
CREATE OR REPLACE FUNCTION vigil_monitor.maintain_trim(p_table text, p_batch int)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    keep interval := vigil_monitor.setting('retention_' || p_table)::interval;
    cutoff timestamptz;
    h bigint := vigil_monitor.settled_horizon();
    st vigil_monitor.rollup_state;
    rg record;
    n int := 0;
    got int;
BEGIN
    IF p_table NOT IN ('access_log', 'phi_access_patterns', 'encryption_ops',
                       'audit_write_metrics', 'access_rollup') THEN
        RAISE EXCEPTION 'not a monitoring table with retention' USING ERRCODE = '22023';
    END IF;
    IF keep IS NULL THEN
        RETURN 0;
    END IF;
    cutoff := clock_timestamp() - keep;
    SELECT * INTO st FROM vigil_monitor.rollup_state WHERE source = p_table;
    IF p_table = 'encryption_ops' THEN        -- no actor: never held
        DELETE FROM vigil_monitor.encryption_ops WHERE id IN (
            SELECT e.id FROM vigil_monitor.encryption_ops e
            WHERE e.ts < cutoff AND (e.txid, e.id) <= (st.after_txid, st.after_id)
            ORDER BY e.ts LIMIT p_batch FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
    ELSIF p_table = 'audit_write_metrics' THEN
        DELETE FROM vigil_monitor.audit_write_metrics WHERE id IN (
            SELECT w.id FROM vigil_monitor.audit_write_metrics w
            WHERE w."timestamp" < cutoff AND w.txid < h
            ORDER BY w."timestamp" LIMIT p_batch FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
    ELSE
        FOR rg IN SELECT * FROM vigil_monitor.trim_ranges(cutoff, CASE p_table
                      WHEN 'access_rollup' THEN interval '59.999999 s' ELSE interval '0' END)
        LOOP
            IF p_table = 'access_log' THEN
                WITH narrow AS MATERIALIZED (
                    SELECT x.since, coalesce(x.until, 'infinity') AS until, x.actors, x.tenants
                    FROM vigil_monitor.legal_holds x
                    WHERE x.released_at IS NULL
                      AND (cardinality(x.actors) > 0 OR cardinality(x.tenants) > 0)
                      AND x.since < rg.hi AND (x.until IS NULL OR x.until >= rg.lo))
                DELETE FROM vigil_monitor.access_log WHERE ctid = ANY (ARRAY(
                    SELECT a.ctid FROM vigil_monitor.access_log a
                    WHERE a.ts >= rg.lo AND a.ts < rg.hi
                      AND (a.txid, a.id) <= (st.after_txid, st.after_id)
                      AND NOT EXISTS (SELECT 1 FROM narrow x
                                      WHERE a.ts >= x.since AND a.ts <= x.until
                                        AND (a.actor_id = ANY (x.actors)
                                             OR a.tenant_id = ANY (x.tenants)))
                    ORDER BY a.ts LIMIT p_batch - n FOR UPDATE OF a SKIP LOCKED));
            ELSIF p_table = 'phi_access_patterns' THEN
                WITH narrow AS MATERIALIZED (
                    SELECT x.since, coalesce(x.until, 'infinity') AS until, x.actors, x.tenants
                    FROM vigil_monitor.legal_holds x
                    WHERE x.released_at IS NULL
                      AND (cardinality(x.actors) > 0 OR cardinality(x.tenants) > 0)
                      AND x.since < rg.hi AND (x.until IS NULL OR x.until >= rg.lo))
                DELETE FROM vigil_monitor.phi_access_patterns WHERE ctid = ANY (ARRAY(
                    SELECT p.ctid FROM vigil_monitor.phi_access_patterns p
                    WHERE p.accessed_at >= rg.lo AND p.accessed_at < rg.hi AND p.txid < h
                      AND NOT EXISTS (SELECT 1 FROM narrow x
                                      WHERE p.accessed_at >= x.since AND p.accessed_at <= x.until
                                        AND (p.actor_id = ANY (x.actors)
                                             OR p.tenant_id = ANY (x.tenants)))
                    ORDER BY p.accessed_at LIMIT p_batch - n FOR UPDATE OF p SKIP LOCKED));
            ELSE
                WITH narrow AS MATERIALIZED (
                    SELECT x.since, coalesce(x.until, 'infinity') AS until, x.actors
                    FROM vigil_monitor.legal_holds x
                    WHERE x.released_at IS NULL AND cardinality(x.actors) > 0
                      AND x.since < rg.hi + interval '59.999999 s'
                      AND (x.until IS NULL OR x.until >= rg.lo))
                DELETE FROM vigil_monitor.access_rollup WHERE ctid = ANY (ARRAY(
                    SELECT r.ctid FROM vigil_monitor.access_rollup r
                    WHERE r.bucket >= rg.lo AND r.bucket < rg.hi
                      AND NOT EXISTS (SELECT 1 FROM narrow x
                                      WHERE r.actor_id = ANY (x.actors) AND r.bucket <= x.until
                                        AND r.bucket + interval '59.999999 s' >= x.since)
                    ORDER BY r.bucket LIMIT p_batch - n FOR UPDATE OF r SKIP LOCKED));
            END IF;
            GET DIAGNOSTICS got = ROW_COUNT;
            n := n + got;
            EXIT WHEN n >= p_batch;
        END LOOP;
    END IF;
    IF n > 0 THEN
        UPDATE vigil_monitor.maintenance_state SET rows_trimmed_total = rows_trimmed_total + n
        WHERE id = 1;
    END IF;
    RETURN n;
END $$;
REVOKE ALL ON FUNCTION vigil_monitor.maintain_trim(text, int) FROM PUBLIC;
