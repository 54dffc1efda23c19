-- monitor_rls_overhead() no longer swallows a failed probe (#15 item 10).
--
-- Its EXCEPTION WHEN OTHERS turned a lock timeout into an unmeasured row (avg NULL), which the
-- exporter skipped: the table's series vanished and an RLS alert resolved while the table was
-- locked. The row type gains an ``error`` column (NULL when measured; else the SQLSTATE's
-- condition name, e.g. lock_not_available) and the exporter fails the rls run on it. The
-- other columns are unchanged, so the runbook's
--   SELECT * FROM vigil_monitor.monitor_rls_overhead() WHERE avg_overhead_ms > 50
-- works as before. In place: the attribute is added once, the function replaced.
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = to_regclass('vigil_monitor.rls_overhead_row')
                     AND attname = 'error' AND NOT attisdropped) THEN
        ALTER TYPE vigil_monitor.rls_overhead_row ADD ATTRIBUTE error text;
    END IF;
END $$;

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
    err text; st text;
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
        total := 0; n := 0; err := NULL;
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
            -- Not measured, and say why (a lock held on the table, the caller not a member of
            -- the probe roles ...): the SQLSTATE's condition name, never the message, which
            -- may quote values. The exporter fails the run on it (previous values kept).
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
            n := 0;
            err := CASE st WHEN '55P03' THEN 'lock_not_available'
                           WHEN '42501' THEN 'insufficient_privilege'
                           WHEN '40P01' THEN 'deadlock_detected'
                           WHEN '53200' THEN 'out_of_memory'
                           ELSE 'sqlstate_' || st END;
        END;
        PERFORM set_config('role', old_role, true);
        PERFORM set_config('app.current_tenant_id', old_tenant, true);
        r := (t.s, t.tb, t.pol, CASE WHEN n > 0 THEN greatest(total / n, 0) END, n,
              clock_timestamp(), err);
        RETURN NEXT r;
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION vigil_monitor.monitor_rls_overhead(int, int) FROM PUBLIC;
