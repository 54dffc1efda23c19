-- Read-side contract: the functions and views the exporter and the runbook query.
DO $$ BEGIN
    IF to_regtype('vigil_monitor.rls_overhead_row') IS NULL THEN
        -- A named row type lets the input parameter and the output column share the name "samples".
        CREATE TYPE vigil_monitor.rls_overhead_row AS (
            schema_name text, table_name text, policies int, avg_overhead_ms float8,
            samples int, measured_at timestamptz);
    END IF;
END $$;

-- Measured RLS overhead: the same representative query per RLS table, run as the RLS-subject
-- probe role (tenant = setting probe_tenant) and as the BYPASSRLS probe role, alternately,
-- `samples` times or until `budget_ms` is spent (every table gets at least one sample).
-- SECURITY INVOKER on purpose: switching role with set_config needs the caller's membership
-- in the probe roles, and works inside a READ ONLY transaction.
CREATE OR REPLACE FUNCTION vigil_monitor.monitor_rls_overhead(samples int DEFAULT 5, budget_ms int DEFAULT 2000)
RETURNS SETOF vigil_monitor.rls_overhead_row
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    probe_rls text := vigil_monitor.setting('probe_rls_role');
    probe_bypass text := vigil_monitor.setting('probe_bypass_role');
    tenant text := coalesce(vigil_monitor.setting('probe_tenant'), '');
    tmpl text := coalesce(vigil_monitor.setting('rls_default_query'), 'SELECT count(*) FROM %s');
    old_role text := current_setting('role');
    old_tenant text := coalesce(current_setting('app.current_tenant_id', true), '');
    started timestamptz := clock_timestamp();
    t record; q text; n int; t0 timestamptz; d_rls float8; d_by float8; total float8;
    r vigil_monitor.rls_overhead_row;
BEGIN
    FOR t IN
        SELECT ns.nspname::text AS s, c.relname::text AS tb,
               (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)::int AS pol
        FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
        WHERE c.relrowsecurity AND c.relkind IN ('r', 'p')
          AND ns.nspname NOT IN ('vigil_monitor', 'pg_catalog', 'information_schema')
        ORDER BY 1, 2
    LOOP
        q := coalesce((SELECT pq.query FROM vigil_monitor.rls_probe_queries pq
                       WHERE pq.schema_name = t.s AND pq.table_name = t.tb),
                      format(tmpl, format('%I.%I', t.s, t.tb)));
        total := 0; n := 0;
        BEGIN
            PERFORM set_config('app.current_tenant_id', tenant, true);
            WHILE n < greatest(samples, 1)
                  AND (n = 0 OR clock_timestamp() - started < budget_ms * interval '1 ms') LOOP
                PERFORM set_config('role', probe_rls, true);
                t0 := clock_timestamp();
                EXECUTE q;  -- runs to completion, rows discarded
                d_rls := extract(epoch FROM clock_timestamp() - t0) * 1000;
                PERFORM set_config('role', probe_bypass, true);
                t0 := clock_timestamp();
                EXECUTE q;  -- runs to completion, rows discarded
                d_by := extract(epoch FROM clock_timestamp() - t0) * 1000;
                PERFORM set_config('role', old_role, true);
                total := total + (d_rls - d_by);
                n := n + 1;
            END LOOP;
        EXCEPTION WHEN OTHERS THEN
            -- e.g. the caller is not a member of the probe roles: report the table unmeasured.
            n := 0;
        END;
        PERFORM set_config('role', old_role, true);
        PERFORM set_config('app.current_tenant_id', old_tenant, true);
        r := (t.s, t.tb, t.pol, CASE WHEN n > 0 THEN greatest(total / n, 0) END, n, clock_timestamp());
        RETURN NEXT r;
    END LOOP;
END $$;

-- Per-policy detail for the runbook's "RLS Optimization" guide (catalog + stats, cheap).
CREATE OR REPLACE FUNCTION vigil_monitor.monitor_rls_performance()
RETURNS TABLE (schema_name text, table_name text, policy_name text, command text,
               permissive text, roles text[], using_expr text, check_expr text,
               uses_tenant_setting boolean, has_subquery boolean,
               seq_scan bigint, idx_scan bigint, live_rows bigint)
LANGUAGE sql STABLE AS $$
    SELECT p.schemaname::text, p.tablename::text, p.policyname::text, p.cmd, p.permissive,
           p.roles::text[], p.qual, p.with_check,
           coalesce(p.qual, '') || coalesce(p.with_check, '') LIKE '%app.current_tenant_id%',
           coalesce(p.qual, '') || coalesce(p.with_check, '') ~* '\mselect\M',
           s.seq_scan, s.idx_scan, s.n_live_tup
    FROM pg_policies p
    LEFT JOIN pg_stat_user_tables s ON s.schemaname = p.schemaname AND s.relname = p.tablename
    ORDER BY 1, 2, 3
$$;

CREATE OR REPLACE FUNCTION vigil_monitor.monitor_encryption_performance(
    since_id bigint DEFAULT 0, max_rows int DEFAULT 10000)
RETURNS TABLE (id bigint, ts timestamptz, operation text, key_id text, duration_ms float8, success boolean)
LANGUAGE sql STABLE AS $$
    SELECT e.id, e.ts, e.operation, e.key_id, e.duration_ms, e.success
    FROM vigil_monitor.encryption_ops e WHERE e.id > since_id ORDER BY e.id LIMIT max_rows
$$;

-- The unusual-pattern rule, one row per flagged actor in the last window:
--   (a) failed attempts in the window >= unusual_failed_threshold, or
--   (b) requests in the window >= unusual_min_requests and > unusual_rate_factor x the actor's
--       own baseline (requests per window over the previous unusual_baseline_hours; actors
--       with no history before the window have no baseline and are judged by (a) only).
CREATE OR REPLACE FUNCTION vigil_monitor.unusual_access_patterns()
RETURNS TABLE (actor_id text, window_requests bigint, window_failed bigint,
               baseline_per_window float8, rule text)
LANGUAGE sql STABLE AS $$
    WITH cfg AS (
        SELECT vigil_monitor.setting('unusual_window_seconds')::float8 AS win,
               vigil_monitor.setting('unusual_failed_threshold')::int AS failed_min,
               vigil_monitor.setting('unusual_rate_factor')::float8 AS factor,
               vigil_monitor.setting('unusual_min_requests')::int AS req_min,
               vigil_monitor.setting('unusual_baseline_hours')::float8 AS hours
    ), w AS (
        SELECT a.actor_id, count(*) AS n, count(*) FILTER (WHERE NOT a.success) AS failed
        FROM vigil_monitor.access_log a, cfg
        WHERE a.ts > clock_timestamp() - cfg.win * interval '1 s' GROUP BY a.actor_id
    ), b AS (
        SELECT a.actor_id,
               count(*) / greatest(1, extract(epoch FROM (clock_timestamp() - cfg.win * interval '1 s')
                                                      - min(a.ts)) / cfg.win) AS per_window
        FROM vigil_monitor.access_log a, cfg
        WHERE a.ts > clock_timestamp() - cfg.hours * interval '1 h'
          AND a.ts <= clock_timestamp() - cfg.win * interval '1 s'
        GROUP BY a.actor_id, cfg.win
    )
    SELECT w.actor_id, w.n, w.failed, b.per_window,
           CASE WHEN w.failed >= cfg.failed_min THEN 'failed_attempts' ELSE 'rate_above_baseline' END
    FROM w CROSS JOIN cfg LEFT JOIN b ON b.actor_id = w.actor_id
    WHERE w.failed >= cfg.failed_min
       OR (w.n >= cfg.req_min AND b.per_window IS NOT NULL AND w.n > cfg.factor * b.per_window)
    ORDER BY w.failed DESC, w.n DESC
$$;

CREATE OR REPLACE FUNCTION vigil_monitor.security_access_metrics()
RETURNS TABLE (total_requests bigint, failed_attempts bigint, unusual_patterns int)
LANGUAGE sql STABLE AS $$
    SELECT (SELECT count(*) FROM vigil_monitor.access_log),
           (SELECT count(*) FROM vigil_monitor.access_log WHERE NOT success),
           (SELECT count(*)::int FROM vigil_monitor.unusual_access_patterns())
$$;

CREATE OR REPLACE FUNCTION vigil_monitor.security_encryption_metrics()
RETURNS TABLE (key_id text, key_age_seconds float8, active boolean)
LANGUAGE sql STABLE AS $$
    SELECT k.key_id, extract(epoch FROM now() - k.created_at)::float8, k.active
    FROM vigil_monitor.encryption_keys k WHERE k.retired_at IS NULL OR k.active ORDER BY k.key_id
$$;

CREATE OR REPLACE FUNCTION vigil_monitor.security_encryption_status()
RETURNS TABLE (failed_operations bigint, reencryption_status text, reencryption_progress float8)
LANGUAGE sql STABLE AS $$
    WITH j AS (SELECT * FROM vigil_monitor.reencryption_jobs ORDER BY id DESC LIMIT 1)
    SELECT (SELECT count(*) FROM vigil_monitor.encryption_ops WHERE NOT success),
           coalesce((SELECT CASE
                WHEN j.finished_at IS NOT NULL THEN 'complete'
                WHEN clock_timestamp() - j.updated_at
                     > vigil_monitor.setting('reencryption_stall_seconds')::float8 * interval '1 s'
                     THEN 'stalled'
                ELSE 'in_progress' END FROM j), 'idle'),
           coalesce((SELECT CASE WHEN j.finished_at IS NOT NULL THEN 1.0
                                 ELSE j.rows_done::float8 / greatest(j.rows_total, 1) END FROM j), 0.0)
$$;

-- Audit coverage from the catalog: a PHI table (one with a registered PHI column) is audited
-- when an enabled row trigger running vigil_monitor.audit_trigger covers INSERT, UPDATE and
-- DELETE. gaps = missing (table, event) pairs. The chain is checked in one pass.
CREATE OR REPLACE FUNCTION vigil_monitor.security_audit_metrics()
RETURNS TABLE (coverage_ratio float8, phi_tables int, audited_tables int, gaps bigint,
               integrity_issues bigint, first_broken_id bigint)
LANGUAGE sql STABLE AS $$
    WITH phi AS (
        SELECT DISTINCT to_regclass(format('%I.%I', schema_name, table_name)) AS rel
        FROM vigil_monitor.phi_columns
    ), ev AS (
        SELECT phi.rel,
               coalesce(bool_or(t.tgtype & 4 <> 0), false) AS ins,
               coalesce(bool_or(t.tgtype & 16 <> 0), false) AS upd,
               coalesce(bool_or(t.tgtype & 8 <> 0), false) AS del
        FROM phi
        LEFT JOIN pg_trigger t ON t.tgrelid = phi.rel AND t.tgenabled <> 'D' AND t.tgtype & 1 = 1
             AND t.tgfoid = 'vigil_monitor.audit_trigger()'::regprocedure
        WHERE phi.rel IS NOT NULL GROUP BY phi.rel
    ), chain AS (
        SELECT id, row_hash <> vigil_monitor.audit_row_hash(id, logged_at, tenant_id, actor_id,
                   table_name, operation, row_pk, changed_columns, prev_hash)
               OR prev_hash IS DISTINCT FROM coalesce(lag(row_hash) OVER (ORDER BY id), 'genesis') AS bad
        FROM vigil_monitor.audit_log
    )
    SELECT CASE WHEN count(*) = 0 THEN 1.0
                ELSE (count(*) FILTER (WHERE ins AND upd AND del))::float8 / count(*) END,
           count(*)::int, (count(*) FILTER (WHERE ins AND upd AND del))::int,
           coalesce(sum((NOT ins)::int + (NOT upd)::int + (NOT del)::int), 0)::bigint,
           (SELECT count(*) FROM chain WHERE bad), (SELECT min(id) FROM chain WHERE bad)
    FROM ev
$$;

CREATE OR REPLACE VIEW vigil_monitor.unused_indexes AS
    SELECT s.schemaname::text AS schema_name, s.relname::text AS table_name,
           s.indexrelname::text AS index_name, pg_relation_size(s.indexrelid) AS index_size_bytes,
           s.idx_scan, i.indisunique AS is_unique
    FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid
    WHERE s.idx_scan = 0 AND s.schemaname <> 'vigil_monitor';
