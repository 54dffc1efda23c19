-- vigil_monitor core: version table, settings, PHI column registry.
-- Every statement is idempotent so a half-applied file can simply be re-run.
CREATE SCHEMA IF NOT EXISTS vigil_monitor;
REVOKE ALL ON SCHEMA vigil_monitor FROM PUBLIC;

CREATE TABLE IF NOT EXISTS vigil_monitor.schema_version (
    version      int PRIMARY KEY,
    name         text NOT NULL,
    installed_at timestamptz NOT NULL DEFAULT now()
);

-- Tunables read by the monitor functions; operators change them with UPDATE.
CREATE TABLE IF NOT EXISTS vigil_monitor.settings (
    key         text PRIMARY KEY,
    value       text,
    description text NOT NULL DEFAULT ''
);
INSERT INTO vigil_monitor.settings (key, value, description) VALUES
  ('probe_rls_role', 'vigil_probe_rls', 'NOLOGIN role subject to RLS used by monitor_rls_overhead'),
  ('probe_bypass_role', 'vigil_probe_bypass', 'NOLOGIN BYPASSRLS role used by monitor_rls_overhead'),
  ('probe_tenant', NULL, 'app.current_tenant_id set while probing (pick a representative tenant)'),
  ('rls_default_query', 'SELECT count(*) FROM %s', 'representative query per RLS table; %s = table'),
  ('unusual_window_seconds', '300', 'window of the unusual-pattern rule'),
  ('unusual_failed_threshold', '5', 'failed attempts per actor in the window that count as unusual'),
  ('unusual_rate_factor', '5', 'window rate above this multiple of the actor''s baseline is unusual'),
  ('unusual_min_requests', '50', 'minimum requests in the window before the rate rule applies'),
  ('unusual_baseline_hours', '24', 'history used for an actor''s baseline rate'),
  ('reencryption_stall_seconds', '300', 'an unfinished re-encryption with no progress this long is stalled')
ON CONFLICT (key) DO NOTHING;

CREATE OR REPLACE FUNCTION vigil_monitor.setting(p_key text) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT value FROM vigil_monitor.settings WHERE key = p_key $$;

-- Per-table override of the representative RLS query.
CREATE TABLE IF NOT EXISTS vigil_monitor.rls_probe_queries (
    schema_name text NOT NULL,
    table_name  text NOT NULL,
    query       text NOT NULL,
    PRIMARY KEY (schema_name, table_name)
);

-- Which columns hold PHI: drives column grants (probe roles never get them) and audit coverage.
CREATE TABLE IF NOT EXISTS vigil_monitor.phi_columns (
    schema_name   text NOT NULL,
    table_name    text NOT NULL,
    column_name   text NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schema_name, table_name, column_name)
);

-- Column-level SELECT for the probe roles on every non-PHI column of every RLS table;
-- PHI columns are revoked. Table-level SELECT is never granted, so column REVOKE holds.
CREATE OR REPLACE FUNCTION vigil_monitor.refresh_probe_grants() RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    roles text := format('%I, %I', vigil_monitor.setting('probe_rls_role'),
                         vigil_monitor.setting('probe_bypass_role'));
    n int := 0;
BEGIN
    FOR r IN
        SELECT n.nspname, c.relname, a.attname,
               EXISTS (SELECT 1 FROM vigil_monitor.phi_columns p
                       WHERE p.schema_name = n.nspname AND p.table_name = c.relname
                         AND p.column_name = a.attname) AS is_phi
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE c.relrowsecurity AND c.relkind IN ('r', 'p') AND n.nspname <> 'vigil_monitor'
    LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %s', r.nspname, roles);
        IF r.is_phi THEN
            EXECUTE format('REVOKE SELECT (%I) ON %I.%I FROM %s', r.attname, r.nspname, r.relname, roles);
        ELSE
            EXECUTE format('GRANT SELECT (%I) ON %I.%I TO %s', r.attname, r.nspname, r.relname, roles);
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION vigil_monitor.register_phi_column(p_table regclass, p_column text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s text; t text;
BEGIN
    SELECT n.nspname, c.relname INTO s, t
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_table;
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = p_table AND attname = p_column
                   AND attnum > 0 AND NOT attisdropped) THEN
        RAISE EXCEPTION 'column % does not exist on %', p_column, p_table;
    END IF;
    INSERT INTO vigil_monitor.phi_columns (schema_name, table_name, column_name)
    VALUES (s, t, p_column) ON CONFLICT DO NOTHING;
    PERFORM vigil_monitor.refresh_probe_grants();
END $$;
