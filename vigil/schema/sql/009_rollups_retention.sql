-- Incremental access counters, per-actor rollups and bounded storage (issue #16).
--
-- The application keeps writing one row per event (record_access: one INSERT, no shared row
-- updated). A single maintenance worker (`vigil db maintain`, role vigil_maintainer) folds
-- SETTLED rows into rollup_state (running totals) and access_rollup (per actor and minute),
-- using the settled watermark of 006: it consumes rows with (txid, id) above its mark and txid
-- below the snapshot xmin horizon, in (txid, id) order, so every committed row is counted
-- exactly once whatever order transactions commit in. The readers (exporter, SECURITY INVOKER)
-- add the not-yet-rolled tail, so the figures are exact even when the worker lags or is down;
-- the tail is small while the worker runs. The worker also trims every monitoring table to its
-- retention setting in short batched DELETEs by the time index (docs/monitoring-schema.md says
-- why not partitions). Idempotent: re-running changes nothing.

-- access_log gets the writer's transaction id, as 006 gave the other metrics tables.
ALTER TABLE vigil_monitor.access_log ADD COLUMN IF NOT EXISTS txid bigint NOT NULL DEFAULT 0;
ALTER TABLE vigil_monitor.access_log
    ALTER COLUMN txid SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX IF NOT EXISTS access_log_txid ON vigil_monitor.access_log (txid, id);
-- Retention deletes and db status's oldest row go by time.
CREATE INDEX IF NOT EXISTS encryption_ops_ts ON vigil_monitor.encryption_ops (ts);

INSERT INTO vigil_monitor.settings (key, value, description) VALUES
  ('retention_access_log', '30 days', 'keep access_log rows this long (interval; NULL = for ever)'),
  ('retention_phi_access_patterns', '30 days', 'keep phi_access_patterns rows this long'),
  ('retention_encryption_ops', '30 days', 'keep encryption_ops rows this long'),
  ('retention_audit_write_metrics', '30 days', 'keep audit_write_metrics rows this long'),
  ('retention_access_rollup', '7 days',
   'keep per-actor access rollups this long (keep >= unusual_baseline_hours)')
ON CONFLICT (key) DO NOTHING;

-- Running totals per source table and the watermark up to which they are counted. Only the
-- maintenance worker updates these rows (one writer: no contention with the application).
CREATE TABLE IF NOT EXISTS vigil_monitor.rollup_state (
    source        text PRIMARY KEY CHECK (source IN ('access_log', 'encryption_ops')),
    after_txid    bigint NOT NULL DEFAULT -1,
    after_id      bigint NOT NULL DEFAULT 0,
    rows_total    bigint NOT NULL DEFAULT 0,
    failed_total  bigint NOT NULL DEFAULT 0,
    rolled_at     timestamptz
);
INSERT INTO vigil_monitor.rollup_state (source) VALUES ('access_log'), ('encryption_ops')
ON CONFLICT DO NOTHING;

-- Requests per actor per minute (bucket = date_bin('60 s', ts, epoch)), with the earliest
-- ts of the bucket (the baseline divides by the span since an actor's first request).
CREATE TABLE IF NOT EXISTS vigil_monitor.access_rollup (
    actor_id  text NOT NULL,
    bucket    timestamptz NOT NULL,
    requests  bigint NOT NULL,
    failed    bigint NOT NULL,
    min_ts    timestamptz NOT NULL,
    PRIMARY KEY (bucket, actor_id)
);

CREATE TABLE IF NOT EXISTS vigil_monitor.maintenance_state (
    id                 int PRIMARY KEY CHECK (id = 1),
    created_at         timestamptz NOT NULL DEFAULT now(),
    last_run_at        timestamptz,
    last_error         text,
    rows_trimmed_total bigint NOT NULL DEFAULT 0
);
INSERT INTO vigil_monitor.maintenance_state (id) VALUES (1) ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION vigil_monitor.access_bucket(p_ts timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin('60 seconds', p_ts, timestamptz '2000-01-01 00:00Z') $$;

-- Folds up to p_batch settled rows of p_source into the totals (and, for access_log, the
-- per-actor rollup); returns how many. The FOR UPDATE makes concurrent workers take turns.
CREATE OR REPLACE FUNCTION vigil_monitor.maintain_rollup(p_source text, p_batch int)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    h bigint := vigil_monitor.settled_horizon();  -- before this transaction takes an xid
    st vigil_monitor.rollup_state;
    n int; f int; last_txid bigint; last_id bigint;
BEGIN
    SELECT * INTO st FROM vigil_monitor.rollup_state WHERE source = p_source FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown rollup source' USING ERRCODE = '22023';
    END IF;
    IF p_source = 'access_log' THEN
        WITH batch AS MATERIALIZED (
            SELECT a.txid, a.id, a.actor_id, a.ts, a.success FROM vigil_monitor.access_log a
            WHERE (a.txid, a.id) > (st.after_txid, st.after_id) AND a.txid < h
            ORDER BY a.txid, a.id LIMIT p_batch
        ), up AS (
            INSERT INTO vigil_monitor.access_rollup AS r (actor_id, bucket, requests, failed, min_ts)
            SELECT b.actor_id, vigil_monitor.access_bucket(b.ts), count(*),
                   count(*) FILTER (WHERE NOT b.success), min(b.ts)
            FROM batch b GROUP BY 1, 2
            ON CONFLICT (bucket, actor_id) DO UPDATE
            SET requests = r.requests + excluded.requests, failed = r.failed + excluded.failed,
                min_ts = least(r.min_ts, excluded.min_ts)
        )
        SELECT count(*), count(*) FILTER (WHERE NOT b.success), max(b.txid),
               max(b.id) FILTER (WHERE b.txid = (SELECT max(x.txid) FROM batch x))
        INTO n, f, last_txid, last_id FROM batch b;
    ELSE
        WITH batch AS MATERIALIZED (
            SELECT e.txid, e.id, e.success FROM vigil_monitor.encryption_ops e
            WHERE (e.txid, e.id) > (st.after_txid, st.after_id) AND e.txid < h
            ORDER BY e.txid, e.id LIMIT p_batch
        )
        SELECT count(*), count(*) FILTER (WHERE NOT b.success), max(b.txid),
               max(b.id) FILTER (WHERE b.txid = (SELECT max(x.txid) FROM batch x))
        INTO n, f, last_txid, last_id FROM batch b;
    END IF;
    IF n > 0 THEN
        UPDATE vigil_monitor.rollup_state
        SET after_txid = last_txid, after_id = last_id, rows_total = rows_total + n,
            failed_total = failed_total + f, rolled_at = clock_timestamp()
        WHERE source = p_source;
    ELSE
        UPDATE vigil_monitor.rollup_state SET rolled_at = clock_timestamp() WHERE source = p_source;
    END IF;
    RETURN n;
END $$;

-- Deletes up to p_batch rows older than the table's retention setting, oldest first via the
-- time index; returns how many. Rows of a rollup source are deleted only once counted, and
-- only settled rows at all: rows past retention are long settled, so an exporter watermark
-- (which reads settled rows in order) has read them unless it was down for the whole period.
CREATE OR REPLACE FUNCTION vigil_monitor.maintain_trim(p_table text, p_batch int)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    keep interval := vigil_monitor.setting('retention_' || p_table)::interval;
    cutoff timestamptz;
    h bigint := vigil_monitor.settled_horizon();
    st vigil_monitor.rollup_state;
    n int;
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
    IF p_table = 'access_log' THEN
        DELETE FROM vigil_monitor.access_log WHERE id IN (
            SELECT a.id FROM vigil_monitor.access_log a
            WHERE a.ts < cutoff AND (a.txid, a.id) <= (st.after_txid, st.after_id)
            ORDER BY a.ts LIMIT p_batch FOR UPDATE SKIP LOCKED);
    ELSIF p_table = 'encryption_ops' THEN
        DELETE FROM vigil_monitor.encryption_ops WHERE id IN (
            SELECT e.id FROM vigil_monitor.encryption_ops e
            WHERE e.ts < cutoff AND (e.txid, e.id) <= (st.after_txid, st.after_id)
            ORDER BY e.ts LIMIT p_batch FOR UPDATE SKIP LOCKED);
    ELSIF p_table = 'phi_access_patterns' THEN
        DELETE FROM vigil_monitor.phi_access_patterns WHERE id IN (
            SELECT p.id FROM vigil_monitor.phi_access_patterns p
            WHERE p.accessed_at < cutoff AND p.txid < h
            ORDER BY p.accessed_at LIMIT p_batch FOR UPDATE SKIP LOCKED);
    ELSIF p_table = 'audit_write_metrics' THEN
        DELETE FROM vigil_monitor.audit_write_metrics WHERE id IN (
            SELECT w.id FROM vigil_monitor.audit_write_metrics w
            WHERE w."timestamp" < cutoff AND w.txid < h
            ORDER BY w."timestamp" LIMIT p_batch FOR UPDATE SKIP LOCKED);
    ELSE
        DELETE FROM vigil_monitor.access_rollup WHERE (bucket, actor_id) IN (
            SELECT r.bucket, r.actor_id FROM vigil_monitor.access_rollup r
            WHERE r.bucket < cutoff ORDER BY r.bucket LIMIT p_batch FOR UPDATE SKIP LOCKED);
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        UPDATE vigil_monitor.maintenance_state SET rows_trimmed_total = rows_trimmed_total + n
        WHERE id = 1;
    END IF;
    RETURN n;
END $$;

-- The worker's heartbeat: p_error is an error class / SQLSTATE (never a message), NULL = ok.
CREATE OR REPLACE FUNCTION vigil_monitor.maintain_record_run(p_error text)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE vigil_monitor.maintenance_state
    SET last_run_at = clock_timestamp(), last_error = left(p_error, 64) WHERE id = 1
$$;

-- last_run_age_seconds is NULL until the first run (the exporter shows +Inf: never ran).
-- rollup_lag_seconds: age of the oldest access row not yet rolled up (first in (txid, id)
-- order, via the index), 0 when none.
CREATE OR REPLACE FUNCTION vigil_monitor.maintenance_status()
RETURNS TABLE (last_run_age_seconds float8, rollup_lag_seconds float8,
               rows_trimmed_total bigint, last_error text)
LANGUAGE sql STABLE AS $$
    SELECT extract(epoch FROM clock_timestamp() - m.last_run_at)::float8,
           coalesce((SELECT greatest(extract(epoch FROM clock_timestamp() - a.ts), 0)::float8
                     FROM vigil_monitor.access_log a
                     WHERE (a.txid, a.id) > (s.after_txid, s.after_id)
                     ORDER BY a.txid, a.id LIMIT 1), 0.0),
           m.rows_trimmed_total, m.last_error
    FROM vigil_monitor.maintenance_state m, vigil_monitor.rollup_state s
    WHERE m.id = 1 AND s.source = 'access_log'
$$;

-- Totals = rolled totals + the rows above the watermark (the tail; read by the (txid, id)
-- index, small while the worker runs). One snapshot, so a row is in exactly one of the two.
-- plpgsql + EXECUTE so each call is planned with the actual watermark: a generic plan
-- would estimate a third of the table above it and scan it all.
CREATE OR REPLACE FUNCTION vigil_monitor.security_access_metrics()
RETURNS TABLE (total_requests bigint, failed_attempts bigint, unusual_patterns int)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s vigil_monitor.rollup_state;
BEGIN
    SELECT * INTO s FROM vigil_monitor.rollup_state WHERE source = 'access_log';
    RETURN QUERY EXECUTE
        'SELECT $3 + count(*), $4 + count(*) FILTER (WHERE NOT a.success),
                (SELECT count(*)::int FROM vigil_monitor.unusual_access_patterns())
         FROM vigil_monitor.access_log a WHERE (a.txid, a.id) > ($1, $2)'
        USING s.after_txid, s.after_id, s.rows_total, s.failed_total;
END $$;

CREATE OR REPLACE FUNCTION vigil_monitor.encryption_failed_total() RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s vigil_monitor.rollup_state;
    n bigint;
BEGIN
    SELECT * INTO s FROM vigil_monitor.rollup_state WHERE source = 'encryption_ops';
    EXECUTE 'SELECT count(*) FROM vigil_monitor.encryption_ops e
             WHERE (e.txid, e.id) > ($1, $2) AND NOT e.success'
        INTO n USING s.after_txid, s.after_id;
    RETURN s.failed_total + n;
END $$;

CREATE OR REPLACE FUNCTION vigil_monitor.security_encryption_status()
RETURNS TABLE (failed_operations bigint, reencryption_status text, reencryption_progress float8)
LANGUAGE sql STABLE AS $$
    WITH j AS (SELECT * FROM vigil_monitor.reencryption_jobs ORDER BY id DESC LIMIT 1)
    SELECT vigil_monitor.encryption_failed_total(),
           coalesce((SELECT CASE
                WHEN j.finished_at IS NOT NULL THEN 'complete'
                WHEN clock_timestamp() - j.updated_at
                     > vigil_monitor.setting('reencryption_stall_seconds')::float8 * interval '1 s'
                     THEN 'stalled'
                ELSE 'in_progress' END FROM j), 'idle'),
           coalesce((SELECT CASE WHEN j.finished_at IS NOT NULL THEN 1.0
                                 ELSE j.rows_done::float8 / greatest(j.rows_total, 1) END FROM j), 0.0)
$$;

-- The unusual-pattern rule at time p_now, with the semantics of 004 (see its comment):
--   (a) failed attempts in the window (p_now - win, p_now] >= unusual_failed_threshold, or
--   (b) requests in the window >= unusual_min_requests and > unusual_rate_factor x baseline,
--       baseline = requests in (p_now - hours, p_now - win] / greatest(1, (p_now - win -
--       the actor's first ts in that range) / win); no rows in the range: no baseline.
-- The window is read raw via the ts index (bounded by the last `win` seconds). The baseline
-- range is split into whole minute buckets read from access_rollup (only rows already rolled
-- up, i.e. (txid, id) <= the watermark), raw rows in the two partial edge buckets, and raw
-- rows of the interior not yet rolled up (the tail, via the (txid, id) index): each row is
-- counted once, and the cost is independent of history.
CREATE OR REPLACE FUNCTION vigil_monitor.unusual_access_patterns_at(p_now timestamptz)
RETURNS TABLE (actor_id text, window_requests bigint, window_failed bigint,
               baseline_per_window float8, rule text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    win float8 := vigil_monitor.setting('unusual_window_seconds')::float8;
    hours float8 := vigil_monitor.setting('unusual_baseline_hours')::float8;
    hi timestamptz := p_now - win * interval '1 s';
    lo timestamptz := p_now - hours * interval '1 h';
    i_lo timestamptz := vigil_monitor.access_bucket(lo) + interval '60 s';
    i_hi timestamptz := greatest(vigil_monitor.access_bucket(hi), i_lo);
    s vigil_monitor.rollup_state;
BEGIN
    SELECT * INTO s FROM vigil_monitor.rollup_state WHERE source = 'access_log';
    RETURN QUERY EXECUTE $q$
    WITH w AS MATERIALIZED (
        SELECT a.actor_id, count(*) AS n, count(*) FILTER (WHERE NOT a.success) AS failed
        FROM vigil_monitor.access_log a
        WHERE a.ts > $2 AND a.ts <= $1 GROUP BY a.actor_id
    ), parts AS (
        -- whole buckets, rolled-up rows only
        SELECT r.actor_id, r.requests AS n, r.min_ts
        FROM vigil_monitor.access_rollup r
        WHERE r.bucket >= $4 AND r.bucket < $5 AND r.actor_id IN (SELECT w.actor_id FROM w)
        UNION ALL  -- the partial buckets at both ends, every row
        SELECT a.actor_id, 1, a.ts FROM vigil_monitor.access_log a
        WHERE ((a.ts > $3 AND a.ts < $4) OR (a.ts >= $5 AND a.ts <= $2))
          AND a.actor_id IN (SELECT w.actor_id FROM w)
        UNION ALL  -- whole buckets, rows not rolled up yet
        SELECT a.actor_id, 1, a.ts FROM vigil_monitor.access_log a
        WHERE (a.txid, a.id) > ($6, $7) AND a.ts >= $4 AND a.ts < $5
          AND a.actor_id IN (SELECT w.actor_id FROM w)
    ), b AS (
        SELECT p.actor_id,
               sum(p.n) / greatest(1, extract(epoch FROM $2 - min(p.min_ts)) / $8) AS per_window
        FROM parts p GROUP BY p.actor_id
    )
    SELECT w.actor_id, w.n, w.failed, b.per_window::float8,
           CASE WHEN w.failed >= $9 THEN 'failed_attempts' ELSE 'rate_above_baseline' END
    FROM w LEFT JOIN b ON b.actor_id = w.actor_id
    WHERE w.failed >= $9
       OR (w.n >= $11 AND b.per_window IS NOT NULL AND w.n > $10 * b.per_window)
    ORDER BY w.failed DESC, w.n DESC
    $q$ USING p_now, hi, lo, i_lo, i_hi, s.after_txid, s.after_id, win,
              vigil_monitor.setting('unusual_failed_threshold')::int,
              vigil_monitor.setting('unusual_rate_factor')::float8,
              vigil_monitor.setting('unusual_min_requests')::int;
END $$;

CREATE OR REPLACE FUNCTION vigil_monitor.unusual_access_patterns()
RETURNS TABLE (actor_id text, window_requests bigint, window_failed bigint,
               baseline_per_window float8, rule text)
LANGUAGE sql STABLE AS $$ SELECT * FROM vigil_monitor.unusual_access_patterns_at(clock_timestamp()) $$;

REVOKE ALL ON FUNCTION vigil_monitor.access_bucket(timestamptz),
    vigil_monitor.maintain_rollup(text, int), vigil_monitor.maintain_trim(text, int),
    vigil_monitor.maintain_record_run(text), vigil_monitor.maintenance_status(),
    vigil_monitor.unusual_access_patterns_at(timestamptz),
    vigil_monitor.encryption_failed_total() FROM PUBLIC;
REVOKE ALL ON vigil_monitor.rollup_state, vigil_monitor.access_rollup,
    vigil_monitor.maintenance_state FROM PUBLIC;

-- Every role that may already run the read functions (granted by `vigil db grants`) can read
-- the new state the rewritten functions use (they are SECURITY INVOKER).
DO $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT DISTINCT a.grantee::regrole::text AS role
        FROM pg_proc p, aclexplode(p.proacl) a
        WHERE p.oid = 'vigil_monitor.security_access_metrics()'::regprocedure
          AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
    LOOP
        EXECUTE format('GRANT SELECT ON vigil_monitor.rollup_state, vigil_monitor.access_rollup, '
                       'vigil_monitor.maintenance_state TO %s', r.role);
        EXECUTE format('GRANT EXECUTE ON FUNCTION vigil_monitor.access_bucket(timestamptz), '
                       'vigil_monitor.maintenance_status(), vigil_monitor.encryption_failed_total(), '
                       'vigil_monitor.unusual_access_patterns_at(timestamptz) TO %s', r.role);
    END LOOP;
END $$;
