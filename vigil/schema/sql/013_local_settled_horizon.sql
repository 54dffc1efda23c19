-- One settled horizon for every watermark (exporter histograms, maintenance rollups and
-- retention, the audit sealer), and it is this database's own.
--
-- 006's settled_horizon() was the snapshot xmin, which every open transaction in the whole
-- cluster holds back: a long transaction in another database (a report, a bench load, a
-- stuck session) froze the histograms, the rollups and retention of this one, although it can
-- never write a row here. Only transactions of this database (and prepared transactions
-- belonging to it) can still commit rows we have not seen, so only they hold it back. 008
-- worked this out for the sealer; settled_horizon() now carries that body, and
-- audit_settled_horizon() stays as the sealer's name for it (the sealer role is granted it).
--
-- SECURITY DEFINER: pg_stat_activity hides other roles' backend_xid from a role without
-- pg_read_all_stats. STABLE (not VOLATILE): the readers call it inside WHERE clauses, where a
-- volatile function would be evaluated once per row.
CREATE OR REPLACE FUNCTION vigil_monitor.settled_horizon() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH s AS (SELECT pg_current_snapshot() AS snap),
    mine AS (
        SELECT a.backend_xid::text::bigint AS x FROM pg_stat_activity a
        WHERE a.datname = current_database() AND a.backend_xid IS NOT NULL
        UNION ALL
        SELECT p.transaction::text::bigint FROM pg_prepared_xacts p
        WHERE p.database = current_database()
    )
    SELECT least(pg_snapshot_xmax(s.snap)::text::bigint,
                 (SELECT min(x::text::bigint) FROM pg_snapshot_xip(s.snap) x
                  WHERE x::text::bigint % 4294967296 IN (SELECT mine.x FROM mine)))
    FROM s
$$;

-- STABLE too: 008 declared it VOLATILE, and in the sealer's WHERE clause that made PostgreSQL
-- evaluate it (a pg_stat_activity scan) once per buffered row, so under load the sealer chained
-- ~66 rows/s while the buffer grew.
CREATE OR REPLACE FUNCTION vigil_monitor.audit_settled_horizon() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT vigil_monitor.settled_horizon()
$$;
REVOKE ALL ON FUNCTION vigil_monitor.settled_horizon(), vigil_monitor.audit_settled_horizon()
    FROM PUBLIC;

-- The sealer reads the chain's head before every batch, including where the keyed part of the
-- chain starts (the newest legacy, unkeyed row). Without this partial index that lookup walked
-- every keyed row: O(history) per batch. With it, O(log n); it holds only the legacy rows
-- (none on a fresh install).
CREATE INDEX IF NOT EXISTS audit_log_legacy_id ON vigil_monitor.audit_log (id)
    WHERE hash_alg = 'sha256';
