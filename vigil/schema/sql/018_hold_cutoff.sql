-- Retention under legal hold without re-reading the held rows on every call.
--
-- 015's maintain_trim walked each table's time index from its oldest row and called
-- row_held() on every candidate (a function with a sub-select: never inlined). Held rows
-- older than the cutoff stay, so every call, in every pass, walked all of them again before it
-- reached a row it could delete: a hold over a busy week is ~10^7 rows per call, 40-60 s on
-- two cores (docs/benchmarks.md), at the maintainer's 60 s statement timeout, where a pass
-- fails and retention stops trimming.
--
-- Now, with the same result (held rows are never deleted, every other row past retention is):
-- * A hold of everyone (no actor, no tenant) takes its window out of the time the trim reads.
--   trim_ranges() is [-infinity, cutoff) minus the windows of the unreleased holds of
--   everyone: a handful of [lo, hi) ranges, one more than there are such holds at most. The
--   trim reads them oldest first, each as a range scan of the time index, so it never reads a
--   row such a hold covers, whatever the size of the window.
-- * A hold of named actors or tenants is tested inline, an anti-join against those holds
--   (unreleased, overlapping the range) read once per statement: no function call per row.
--   The time index does not know who a row belongs to, so a scan steps over the held rows of
--   such a window. Once a range has nothing left to delete, the part of it inside such
--   windows is recorded in trim_clean (per table) and later calls leave it out of
--   trim_ranges() too: a hold of a wide actor/tenant set costs one walk of its rows per
--   change of the holds, not one per call (until its window is trimmed, each call still steps
--   over the held rows before those it deletes). The record is only made when no row of the range is still waiting for the
--   rollup or the settled horizon (the trim would delete it later; read through the (txid,
--   id) indexes: the unrolled tail); any change to legal_holds forgets every record (a release
--   makes rows deletable again), and so does a day (a row skipped because another trimmer
--   had it locked, then rolled back, is found again).
-- * A rollup bucket (one minute) is held when the minute overlaps the hold's window
--   (bucket <= until and bucket + 59.999999 s >= since) and the hold is of everyone or names
--   its actor (its tenant is not known: a tenant-only hold keeps the raw rows, which carry
--   it). 015 tested only the bucket's first and last microsecond, so a hold shorter than a
--   minute inside one bucket did not keep it; the overlap is what 015's comment meant.
-- * Rows found are deleted by ctid (locked FOR UPDATE, so they cannot move): a Tid Scan.
--   015's `id IN (...)` let the planner hash-join a sequential scan of the whole table, held
--   rows included, when it expected few candidates.
-- row_held() stays: it is the definition of held, and the tests' reference.
-- Idempotent: re-running changes nothing.

-- Per table, the time ranges read since the last change to legal_holds and found to hold
-- nothing the trim may delete (only rows of holds of named actors/tenants); reset daily.
CREATE TABLE IF NOT EXISTS vigil_monitor.trim_clean (
    tbl     text PRIMARY KEY,
    ranges  tstzmultirange NOT NULL,
    started timestamptz NOT NULL DEFAULT clock_timestamp()
);
REVOKE ALL ON vigil_monitor.trim_clean FROM PUBLIC;

CREATE OR REPLACE FUNCTION vigil_monitor.trim_clean_forget() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM vigil_monitor.trim_clean;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION vigil_monitor.trim_clean_forget() FROM PUBLIC;
DROP TRIGGER IF EXISTS trim_clean_forget ON vigil_monitor.legal_holds;
CREATE TRIGGER trim_clean_forget AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON vigil_monitor.legal_holds FOR EACH STATEMENT
    EXECUTE FUNCTION vigil_monitor.trim_clean_forget();

-- The unreleased holds of everyone (p_everyone) or of named actors/tenants, as time ranges,
-- each window [since, until] (until NULL: no end) widened by p_before at its start
-- (59.999999 s for rollup buckets: a bucket that starts up to a minute before the hold
-- overlaps it). p_actors_only: only holds that name actors (a rollup row has no tenant).
CREATE OR REPLACE FUNCTION vigil_monitor.hold_windows(p_everyone boolean, p_before interval,
                                                      p_actors_only boolean DEFAULT false)
RETURNS tstzmultirange LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(range_agg(tstzrange(h.since - p_before, h.until, '[]')), '{}')
    FROM vigil_monitor.legal_holds h
    WHERE h.released_at IS NULL
      AND (cardinality(h.actors) = 0 AND cardinality(h.tenants) = 0) = p_everyone
      AND (NOT p_actors_only OR cardinality(h.actors) > 0)
$$;
REVOKE ALL ON FUNCTION vigil_monitor.hold_windows(boolean, interval, boolean) FROM PUBLIC;

-- The time ranges [lo, hi) the trim may read, oldest first: before p_cutoff, outside every
-- window of a hold of everyone, outside p_clean (trim_clean's ranges of the table), split at
-- the edges of the windows of holds of named actors/tenants (narrow: inside one), so that such
-- a window, once read, can be recorded clean while the trim goes on with the ranges after it.
CREATE OR REPLACE FUNCTION vigil_monitor.trim_ranges(p_table text, p_cutoff timestamptz,
                                                     p_clean tstzmultirange)
RETURNS TABLE (lo timestamptz, hi timestamptz, narrow boolean) LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $$
    WITH w AS (
        SELECT CASE p_table WHEN 'access_rollup' THEN interval '59.999999 s'
                            ELSE interval '0' END AS before
    ), f AS (
        SELECT tstzmultirange(tstzrange('-infinity', p_cutoff, '[)'))
                   - vigil_monitor.hold_windows(true, w.before) - p_clean AS free,
               vigil_monitor.hold_windows(false, w.before, p_table = 'access_rollup') AS held
        FROM w
    )
    SELECT CASE WHEN lower_inc(r) THEN lower(r) ELSE lower(r) + interval '1 microsecond' END,
           CASE WHEN upper_inc(r) THEN upper(r) + interval '1 microsecond' ELSE upper(r) END,
           k.narrow
    FROM f, LATERAL (VALUES (f.free * f.held, true), (f.free - f.held, false)) k (m, narrow),
         unnest(k.m) r
    ORDER BY 1
$$;
REVOKE ALL ON FUNCTION vigil_monitor.trim_ranges(text, timestamptz, tstzmultirange)
    FROM PUBLIC;

-- Deletes up to p_limit rows of p_table in [p_lo, p_hi), oldest first, by the time index, and
-- returns how many: only rows already counted (a rollup source: at or below its watermark
-- p_after_txid/p_after_id) or settled (txid < p_h), and, in the tables that carry an actor,
-- not held by a hold of named actors/tenants (those overlapping the range, read first,
-- MATERIALIZED: a few rows scanned per candidate; a rollup bucket by its actor and minute).
-- EXECUTE: one statement for the five tables, planned with the actual values.
CREATE OR REPLACE FUNCTION vigil_monitor.trim_range(
    p_table text, p_lo timestamptz, p_hi timestamptz, p_limit int, p_h bigint,
    p_after_txid bigint, p_after_id bigint)
RETURNS int LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    col text := CASE p_table WHEN 'phi_access_patterns' THEN 'accessed_at'
                             WHEN 'audit_write_metrics' THEN 'timestamp'
                             WHEN 'access_rollup' THEN 'bucket' ELSE 'ts' END;
    counted text := CASE WHEN p_table IN ('access_log', 'encryption_ops')
                         THEN '(t.txid, t.id) <= ($5, $6)'
                         WHEN p_table = 'access_rollup' THEN 'true' ELSE 't.txid < $4' END;
    rollup boolean := p_table = 'access_rollup';
    whose text := CASE WHEN rollup THEN 't.actor_id = ANY (x.actors)'
                       ELSE '(t.actor_id = ANY (x.actors) OR t.tenant_id = ANY (x.tenants))' END;
    n int;
BEGIN
    EXECUTE format($q$
        WITH narrow AS MATERIALIZED (
            SELECT x.since - $7 AS since, coalesce(x.until, 'infinity') AS until, x.actors,
                   x.tenants
            FROM vigil_monitor.legal_holds x
            WHERE x.released_at IS NULL
              AND (cardinality(x.actors) > 0 OR (cardinality(x.tenants) > 0 AND NOT $8))
              AND x.since - $7 < $2 AND (x.until IS NULL OR x.until >= $1))
        DELETE FROM vigil_monitor.%1$I WHERE ctid = ANY (ARRAY(
            SELECT t.ctid FROM vigil_monitor.%1$I t
            WHERE t.%2$I >= $1 AND t.%2$I < $2 AND %3$s
              %4$s
            ORDER BY t.%2$I LIMIT $3 FOR UPDATE OF t SKIP LOCKED))$q$,
        p_table, col, counted,
        CASE WHEN p_table IN ('encryption_ops', 'audit_write_metrics') THEN ''   -- no actor
             ELSE format('AND NOT EXISTS (SELECT 1 FROM narrow x WHERE t.%1$I >= x.since '
                         'AND t.%1$I <= x.until AND %2$s)', col, whose) END)
    USING p_lo, p_hi, p_limit, p_h, p_after_txid, p_after_id,
          CASE WHEN rollup THEN interval '59.999999 s' ELSE interval '0' END, rollup;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
REVOKE ALL ON FUNCTION vigil_monitor.trim_range(text, timestamptz, timestamptz, int, bigint,
                                                bigint, bigint) FROM PUBLIC;

-- The retention cutoff of p_table (NULL: kept for ever); not a table with retention: 22023.
CREATE OR REPLACE FUNCTION vigil_monitor.trim_cutoff(p_table text) RETURNS timestamptz
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_table NOT IN ('access_log', 'phi_access_patterns', 'encryption_ops',
                       'audit_write_metrics', 'access_rollup') THEN
        RAISE EXCEPTION 'not a monitoring table with retention' USING ERRCODE = '22023';
    END IF;
    RETURN clock_timestamp() - vigil_monitor.setting('retention_' || p_table)::interval;
END $$;
REVOKE ALL ON FUNCTION vigil_monitor.trim_cutoff(text) FROM PUBLIC;

-- [p_lo, p_hi), inside the windows of holds of named actors/tenants, has nothing left to
-- delete: record it, unless a row there still waits to be counted or settled (EXECUTE:
-- planned with the actual watermark, that tail is read by the (txid, id) index; a generic
-- plan could walk the time range instead). access_rollup waits for access_log's rows: its
-- buckets are made from them.
CREATE OR REPLACE FUNCTION vigil_monitor.trim_mark_clean(
    p_table text, p_lo timestamptz, p_hi timestamptz, p_h bigint, p_after_txid bigint,
    p_after_id bigint)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    waiting boolean;
BEGIN
    IF p_table = 'phi_access_patterns' THEN
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM vigil_monitor.phi_access_patterns p
                                WHERE p.txid >= $1 AND p.accessed_at >= $2 AND p.accessed_at < $3)'
            INTO waiting USING p_h, p_lo, p_hi;
    ELSE
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM vigil_monitor.access_log a
                                WHERE (a.txid, a.id) > ($1, $2) AND a.ts >= $3 AND a.ts < $4)'
            INTO waiting USING p_after_txid, p_after_id, p_lo,
                CASE WHEN p_table = 'access_rollup' THEN p_hi + interval '60 s' ELSE p_hi END;
    END IF;
    IF NOT waiting THEN
        INSERT INTO vigil_monitor.trim_clean AS c (tbl, ranges)
        VALUES (p_table, tstzmultirange(tstzrange(p_lo, p_hi, '[)')))
        ON CONFLICT (tbl) DO UPDATE SET ranges = c.ranges + excluded.ranges;
    END IF;
END $$;
REVOKE ALL ON FUNCTION vigil_monitor.trim_mark_clean(text, timestamptz, timestamptz, bigint,
                                                     bigint, bigint) FROM PUBLIC;

-- 015's trim with the exclusions above: encryption_ops and audit_write_metrics (no actor,
-- never held) in one statement, the others range by range until the batch is full.
CREATE OR REPLACE FUNCTION vigil_monitor.maintain_trim(p_table text, p_batch int)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cutoff timestamptz := vigil_monitor.trim_cutoff(p_table);
    h bigint := vigil_monitor.settled_horizon();
    st vigil_monitor.rollup_state;
    rg record;
    n int := 0;
BEGIN
    -- encryption_ops: its own watermark; the others: access_log's (access_rollup is made
    -- from its rows; phi_access_patterns and audit_write_metrics go by the horizon)
    SELECT * INTO st FROM vigil_monitor.rollup_state
    WHERE source = CASE p_table WHEN 'encryption_ops' THEN p_table ELSE 'access_log' END;
    IF cutoff IS NULL THEN
        RETURN 0;
    ELSIF p_table IN ('encryption_ops', 'audit_write_metrics') THEN
        n := vigil_monitor.trim_range(p_table, '-infinity', cutoff, p_batch, h,
                                      st.after_txid, st.after_id);
    ELSE
        DELETE FROM vigil_monitor.trim_clean
        WHERE tbl = p_table AND started < clock_timestamp() - interval '1 day';
        FOR rg IN SELECT * FROM vigil_monitor.trim_ranges(p_table, cutoff, coalesce(
                      (SELECT c.ranges FROM vigil_monitor.trim_clean c WHERE c.tbl = p_table),
                      '{}')) LOOP
            n := n + vigil_monitor.trim_range(p_table, rg.lo, rg.hi, p_batch - n, h,
                                              st.after_txid, st.after_id);
            EXIT WHEN n >= p_batch;
            IF rg.narrow THEN   -- came back short: nothing left to delete in it
                PERFORM vigil_monitor.trim_mark_clean(p_table, rg.lo, rg.hi, h, st.after_txid,
                                                      st.after_id);
            END IF;
        END LOOP;
    END IF;
    UPDATE vigil_monitor.maintenance_state SET rows_trimmed_total = rows_trimmed_total + n
    WHERE id = 1 AND n > 0;
    RETURN n;
END $$;
REVOKE ALL ON FUNCTION vigil_monitor.maintain_trim(text, int) FROM PUBLIC;
