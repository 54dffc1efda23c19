-- What the RLS probe role's inherited rights can be used for (011's probe functions).
--
-- 011 makes vigil_probe_rls an INHERIT member of every role a policy of a monitored table
-- names, so it inherits all of those roles' privileges, not only the column allow-list
-- refresh_probe_grants() gives it. The membership cannot be narrowed: PostgreSQL applies a
-- policy TO r to a role exactly when that role has r's privileges (has_privs_of_role: a
-- NOINHERIT member is not subject to the policy, and then sees nothing at all, RLS denying by
-- default), and there are no negative grants to take columns back from a member. A probe
-- without them would measure the default deny, not the application's policies.
--
-- The probe role logs in as nobody (NOLOGIN; 011 took every membership in it back): its rights
-- are used only through the functions it owns, probe_run_rls() (the overhead probe's timed
-- query) and isolation_leaks() (`vigil check verify`'s cross-tenant count), which the
-- monitoring login calls with a table of its choice. Until now any table: a count(*) timed, or
-- a count of rows per tenant, of tables the application's roles can read that RLS does not
-- protect. Now only the tables the probe is for: row-level security enabled, a table or a
-- partitioned table, outside vigil_monitor and the system schemas (monitor_rls_overhead's
-- and the isolation check's own list); any other: 42501. The bypass role's functions read
-- through the same plan (probe_plan), so probe_run_bypass() follows. Idempotent.

-- p_table's schema and name if it is a table the probe measures, else 42501.
CREATE OR REPLACE FUNCTION vigil_monitor.probe_table(p_table regclass,
                                                     OUT schema_name text, OUT table_name text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    SELECT n.nspname, c.relname INTO schema_name, table_name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = p_table AND c.relrowsecurity AND c.relkind IN ('r', 'p')
      AND n.nspname NOT IN ('vigil_monitor', 'pg_catalog', 'information_schema');
    IF NOT FOUND THEN
        RAISE EXCEPTION 'not a row-level security table the probe measures'
            USING ERRCODE = '42501';
    END IF;
END $$;
REVOKE ALL ON FUNCTION vigil_monitor.probe_table(regclass) FROM PUBLIC;
DO $$ BEGIN
    EXECUTE format('GRANT EXECUTE ON FUNCTION vigil_monitor.probe_table(regclass) TO %I, %I',
                   vigil_monitor.setting('probe_rls_role'),
                   vigil_monitor.setting('probe_bypass_role'));
END $$;

-- 011's plan (the table's probe query and the probe tenant), for probed tables only.
CREATE OR REPLACE FUNCTION vigil_monitor.probe_plan(p_table regclass, OUT query text, OUT tenant text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(q.query,
                    format(coalesce(vigil_monitor.setting('rls_default_query'),
                                    'SELECT count(*) FROM %s'),
                           format('%I.%I', t.schema_name, t.table_name))),
           nullif(vigil_monitor.setting('probe_tenant'), '')
    FROM vigil_monitor.probe_table(p_table) t
    LEFT JOIN vigil_monitor.rls_probe_queries q
           ON q.schema_name = t.schema_name AND q.table_name = t.table_name
$$;

-- 011's cross-tenant count, for probed tables only (owner and grants unchanged: REPLACE).
CREATE OR REPLACE FUNCTION vigil_monitor.isolation_leaks(p_table regclass, p_tenant text)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tcol text := (SELECT vigil_monitor.tenant_column_of(t.schema_name, t.table_name)
                  FROM vigil_monitor.probe_table(p_table) t);
    leaks bigint;
BEGIN
    IF tcol IS NOT NULL THEN
        PERFORM set_config('app.current_tenant_id', coalesce(p_tenant, ''), true);
        EXECUTE format('SELECT count(*) FROM %s WHERE %I::text IS DISTINCT FROM nullif($1, %L)',
                       p_table, tcol, '') INTO leaks USING coalesce(p_tenant, '');
    END IF;
    RETURN leaks;
END $$;
