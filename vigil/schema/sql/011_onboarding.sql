-- Monitoring an application that is not the demo (issue #9). In place, idempotent.
--
--  * tenant_columns: the tenant column of each table, any name and type (text, integer, uuid);
--    the audit trigger and the isolation probe read it. A table without a registration falls
--    back to a column literally named tenant_id.
--  * probe_columns: the allow-list of columns the probe roles may read (beside primary-key and
--    tenant columns). Never "every column not registered as PHI" again.
--  * The RLS probe runs as the roles the policies name (TO role), through SECURITY DEFINER
--    functions owned by the probe roles: the monitoring login runs fixed, admin-written probe
--    queries and never becomes a probe role (it is no longer a member of either).
--  * An unset probe tenant is a probe error, not a 0 ms measurement of an empty tenant.
--  * Admin functions for the admin only; EXECUTE revoked from PUBLIC for every function of the
--    schema, now and later (an event trigger: per-schema default privileges cannot revoke).
--  * Audit coverage with no PHI table registered is NULL (unknown), not 1.0.

CREATE TABLE IF NOT EXISTS vigil_monitor.tenant_columns (
    schema_name   text NOT NULL,
    table_name    text NOT NULL,
    column_name   text NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schema_name, table_name)
);

CREATE TABLE IF NOT EXISTS vigil_monitor.probe_columns (
    schema_name text NOT NULL,
    table_name  text NOT NULL,
    column_name text NOT NULL,
    PRIMARY KEY (schema_name, table_name, column_name)
);

INSERT INTO vigil_monitor.settings (key, value, description) VALUES
  ('probe_roles', NULL, 'comma-separated roles the RLS probe runs as; NULL: the roles named in the policies (TO role)')
ON CONFLICT (key) DO NOTHING;

-- The tenant column of a table: registered, else a column named tenant_id, else NULL; only a
-- column that exists now (one dropped after registration must not break the audit trigger).
CREATE OR REPLACE FUNCTION vigil_monitor.tenant_column_of(p_schema text, p_table text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT a.attname::text FROM pg_attribute a
    WHERE a.attrelid = to_regclass(format('%I.%I', p_schema, p_table)) AND a.attnum > 0
      AND NOT a.attisdropped
      AND a.attname = coalesce((SELECT t.column_name FROM vigil_monitor.tenant_columns t
                                WHERE t.schema_name = p_schema AND t.table_name = p_table),
                               'tenant_id')
$$;

-- The audit trigger: the tenant comes from the table's tenant column (any name, any type).
-- UPDATE compares values to name the changed columns (names recorded, never values) and reads
-- key and tenant from the same jsonb. INSERT and DELETE read only the key and tenant fields
-- (no to_jsonb of a row whose encrypted PHI columns may be large).
CREATE OR REPLACE FUNCTION vigil_monitor.audit_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    j_new jsonb; j_old jsonb; cols text[]; pk text; tenant text; fields text;
    pkcol text := coalesce(TG_ARGV[0], 'id');
    -- enable_audit passes the tenant column as the second argument ('' for none), so the row
    -- path does no lookup; a trigger made before 011 has one argument and looks it up.
    tcol text := CASE WHEN TG_NARGS > 1 THEN nullif(TG_ARGV[1], '') ELSE coalesce(
        (SELECT t.column_name FROM vigil_monitor.tenant_columns t
         WHERE t.schema_name = TG_TABLE_SCHEMA AND t.table_name = TG_TABLE_NAME), 'tenant_id') END;
    qualified text := format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME);
BEGIN
    IF TG_OP = 'UPDATE' THEN
        j_new := to_jsonb(NEW); j_old := to_jsonb(OLD);
        SELECT coalesce(array_agg(k ORDER BY k), '{}') INTO cols FROM jsonb_object_keys(j_new) k
        WHERE j_new -> k IS DISTINCT FROM j_old -> k;
        pk := j_new ->> pkcol; tenant := j_new ->> tcol;
    ELSE
        SELECT coalesce(array_agg(a.attname::text ORDER BY a.attname::text), '{}') INTO cols
        FROM pg_attribute a WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped;
        -- A trigger created before 011 names 'id' by default, which the table may lack: that
        -- must not fail the application's write (the row key is then NULL, as it used to be).
        IF NOT pkcol = ANY (cols) THEN
            pkcol := NULL;
        END IF;
        IF NOT tcol = ANY (cols) THEN  -- dropped since, or no tenant_id column
            tcol := NULL;
        END IF;
        fields := format('SELECT %s, %s',
            CASE WHEN pkcol IS NULL THEN 'NULL::text' ELSE format('($1).%I::text', pkcol) END,
            CASE WHEN tcol IS NULL THEN 'NULL::text' ELSE format('($1).%I::text', tcol) END);
        IF TG_OP = 'INSERT' THEN
            EXECUTE fields INTO pk, tenant USING NEW;
        ELSE
            EXECUTE fields INTO pk, tenant USING OLD;
        END IF;
    END IF;
    INSERT INTO vigil_monitor.audit_buffer (tenant_id, actor_id, table_name, operation, row_pk,
                                            changed_columns)
    VALUES (coalesce(tenant, nullif(current_setting('app.current_tenant_id', true), '')),
            coalesce(nullif(current_setting('app.current_actor_id', true), ''), session_user::text),
            qualified, TG_OP, pk, cols);
    INSERT INTO vigil_monitor.audit_write_metrics (duration, table_name, operation, schema_name, relname)
    VALUES (clock_timestamp() - t0, qualified, TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME);
    RETURN NULL;
END $$;

-- Admin: the primary-key column of an audited table is checked now, not at the first write;
-- the trigger carries the key and tenant columns as arguments (re-created when they change).
CREATE OR REPLACE FUNCTION vigil_monitor.enable_audit(p_table regclass, p_pk_column text DEFAULT 'id')
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tcol text := (SELECT vigil_monitor.tenant_column_of(n.nspname, c.relname)
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_table);
    want bytea := convert_to(p_pk_column, 'UTF8') || '\x00'::bytea
                  || convert_to(coalesce(tcol, ''), 'UTF8') || '\x00'::bytea;
BEGIN
    IF p_table::oid IN (SELECT c.oid FROM pg_class c WHERE c.relnamespace = 'vigil_monitor'::regnamespace) THEN
        RAISE EXCEPTION 'vigil_monitor tables are not audited by the audit trigger';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = p_table AND attname = p_pk_column
                   AND attnum > 0 AND NOT attisdropped) THEN
        RAISE EXCEPTION 'column % does not exist on %', p_pk_column, p_table;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = p_table AND tgname = 'vigil_audit'
               AND tgargs <> want) THEN
        EXECUTE format('DROP TRIGGER vigil_audit ON %s', p_table);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = p_table AND tgname = 'vigil_audit') THEN
        EXECUTE format('CREATE TRIGGER vigil_audit AFTER INSERT OR UPDATE OR DELETE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION vigil_monitor.audit_trigger(%L, %L)',
                       p_table, p_pk_column, coalesce(tcol, ''));
    END IF;
END $$;

CREATE OR REPLACE FUNCTION vigil_monitor.disable_audit(p_table regclass) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = p_table AND tgname = 'vigil_audit') THEN
        RETURN false;
    END IF;
    EXECUTE format('DROP TRIGGER vigil_audit ON %s', p_table);
    RETURN true;
END $$;

CREATE OR REPLACE FUNCTION vigil_monitor.unregister_phi_column(p_table regclass, p_column text)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE n int;
BEGIN
    DELETE FROM vigil_monitor.phi_columns p USING pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
    WHERE c.oid = p_table AND p.schema_name = s.nspname AND p.table_name = c.relname
      AND p.column_name = p_column;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM vigil_monitor.refresh_probe_grants();
    RETURN n > 0;
END $$;

CREATE OR REPLACE FUNCTION vigil_monitor.register_tenant_column(p_table regclass, p_column text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = p_table AND attname = p_column
                   AND attnum > 0 AND NOT attisdropped) THEN
        RAISE EXCEPTION 'column % does not exist on %', p_column, p_table;
    END IF;
    INSERT INTO vigil_monitor.tenant_columns (schema_name, table_name, column_name)
    SELECT s.nspname, c.relname, p_column FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
    WHERE c.oid = p_table
    ON CONFLICT (schema_name, table_name) DO UPDATE SET column_name = EXCLUDED.column_name,
                                                        registered_at = now();
    -- An audited table's trigger carries its tenant column: re-create it with the new one.
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = p_table AND tgname = 'vigil_audit') THEN
        PERFORM vigil_monitor.enable_audit(p_table, (
            SELECT coalesce(nullif(split_part(encode(tgargs, 'escape'), '\000', 1), ''), 'id')
            FROM pg_trigger WHERE tgrelid = p_table AND tgname = 'vigil_audit'));
    END IF;
    PERFORM vigil_monitor.refresh_probe_grants();
END $$;

-- Audit triggers made before 011 get their key and tenant columns as arguments (one cheap
-- re-creation now instead of a lookup per written row). A trigger whose key column is
-- missing is left as it is (it records a NULL key, as before).
DO $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT t.tgrelid::regclass AS rel, split_part(encode(t.tgargs, 'escape'), '\000', 1) AS pk
        FROM pg_trigger t
        WHERE t.tgname = 'vigil_audit' AND t.tgnargs < 2
          AND t.tgfoid = 'vigil_monitor.audit_trigger()'::regprocedure
    LOOP
        IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = r.rel
                   AND attname = coalesce(nullif(r.pk, ''), 'id') AND attnum > 0 AND NOT attisdropped) THEN
            PERFORM vigil_monitor.enable_audit(r.rel, coalesce(nullif(r.pk, ''), 'id'));
        END IF;
    END LOOP;
END $$;

-- The roles the RLS probe runs as: the setting probe_roles, else every role named in a policy
-- of a monitored table (PUBLIC policies apply to the probe role anyway).
CREATE OR REPLACE FUNCTION vigil_monitor.probe_policy_roles() RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT btrim(r) FROM unnest(string_to_array(vigil_monitor.setting('probe_roles'), ',')) r
    WHERE vigil_monitor.setting('probe_roles') IS NOT NULL AND btrim(r) <> ''
    UNION
    SELECT DISTINCT a.rolname::text FROM pg_policy p
    JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_roles a ON a.oid = ANY (p.polroles)
    WHERE vigil_monitor.setting('probe_roles') IS NULL AND c.relrowsecurity
      AND n.nspname NOT IN ('vigil_monitor', 'pg_catalog', 'information_schema')
      AND NOT a.rolsuper
$$;

-- Probe grants. The RLS probe role becomes a member (INHERIT) of the roles the policies apply
-- to, so it sees exactly what they see. Both probe roles get column SELECT on an allow-list
-- only (primary key, tenant column, probe_columns): enough for count(*)-style probe queries;
-- every other column of an RLS table is revoked, PHI or not.
CREATE OR REPLACE FUNCTION vigil_monitor.refresh_probe_grants() RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    probe_rls text := vigil_monitor.setting('probe_rls_role');
    roles text := format('%I, %I', probe_rls, vigil_monitor.setting('probe_bypass_role'));
    n int := 0;
BEGIN
    FOR r IN SELECT x AS rolname FROM vigil_monitor.probe_policy_roles() x
             WHERE x IS DISTINCT FROM probe_rls AND NOT pg_has_role(probe_rls, x, 'MEMBER')
               AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = x) LOOP
        EXECUTE format('GRANT %I TO %I', r.rolname, probe_rls);
    END LOOP;
    FOR r IN
        SELECT n.nspname, c.relname, a.attname,
               (EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary
                        AND a.attnum = ANY (i.indkey))
                OR a.attname = vigil_monitor.tenant_column_of(n.nspname, c.relname)
                OR EXISTS (SELECT 1 FROM vigil_monitor.probe_columns p
                           WHERE p.schema_name = n.nspname AND p.table_name = c.relname
                             AND p.column_name = a.attname))
               AND NOT EXISTS (SELECT 1 FROM vigil_monitor.phi_columns p
                               WHERE p.schema_name = n.nspname AND p.table_name = c.relname
                                 AND p.column_name = a.attname) AS allowed
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE c.relrowsecurity AND c.relkind IN ('r', 'p') AND n.nspname <> 'vigil_monitor'
    LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %s', r.nspname, roles);
        IF r.allowed THEN
            EXECUTE format('GRANT SELECT (%I) ON %I.%I TO %s', r.attname, r.nspname, r.relname, roles);
            n := n + 1;
        ELSE
            EXECUTE format('REVOKE SELECT (%I) ON %I.%I FROM %s', r.attname, r.nspname, r.relname, roles);
        END IF;
    END LOOP;
    RETURN n;
END $$;

-- The probe query of a table and the probe tenant, for the probe roles' functions below.
CREATE OR REPLACE FUNCTION vigil_monitor.probe_plan(p_table regclass, OUT query text, OUT tenant text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT pq.query FROM vigil_monitor.rls_probe_queries pq
                     WHERE pq.schema_name = n.nspname AND pq.table_name = c.relname),
                    format(coalesce(vigil_monitor.setting('rls_default_query'), 'SELECT count(*) FROM %s'),
                           format('%I.%I', n.nspname, c.relname))),
           nullif(vigil_monitor.setting('probe_tenant'), '')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_table
$$;

-- One timed run of the table's probe query, as the function's owner (the RLS probe role, or
-- the BYPASSRLS one). The caller chooses neither the query nor the tenant.
CREATE OR REPLACE FUNCTION vigil_monitor.probe_run_rls(p_table regclass) RETURNS float8
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE p record; t0 timestamptz;
BEGIN
    SELECT * INTO p FROM vigil_monitor.probe_plan(p_table);
    PERFORM set_config('app.current_tenant_id', coalesce(p.tenant, ''), true);
    t0 := clock_timestamp();
    EXECUTE p.query;  -- runs to completion, rows discarded
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;

CREATE OR REPLACE FUNCTION vigil_monitor.probe_run_bypass(p_table regclass) RETURNS float8
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE p record; t0 timestamptz;
BEGIN
    SELECT * INTO p FROM vigil_monitor.probe_plan(p_table);
    PERFORM set_config('app.current_tenant_id', coalesce(p.tenant, ''), true);
    t0 := clock_timestamp();
    EXECUTE p.query;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;

-- Tenant isolation, for `vigil check verify` run by the monitoring login: a few tenants of a
-- table (tenant ids only, read past RLS), and how many rows of OTHER tenants the policy roles
-- see when the session's tenant is p_tenant (a count, never a row).
CREATE OR REPLACE FUNCTION vigil_monitor.isolation_tenants(p_table regclass, p_limit int DEFAULT 5)
RETURNS SETOF text LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE tcol text := (SELECT vigil_monitor.tenant_column_of(n.nspname, c.relname)
                      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_table);
BEGIN
    IF tcol IS NULL THEN RETURN; END IF;
    RETURN QUERY EXECUTE format('SELECT DISTINCT %I::text FROM %s WHERE %I IS NOT NULL ORDER BY 1 LIMIT %s',
                                tcol, p_table, tcol, greatest(p_limit, 1));
END $$;

CREATE OR REPLACE FUNCTION vigil_monitor.isolation_leaks(p_table regclass, p_tenant text)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tcol text := (SELECT vigil_monitor.tenant_column_of(n.nspname, c.relname)
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_table);
    leaks bigint;
BEGIN
    IF tcol IS NULL THEN RETURN NULL; END IF;
    PERFORM set_config('app.current_tenant_id', coalesce(p_tenant, ''), true);
    EXECUTE format('SELECT count(*) FROM %s WHERE %I::text IS DISTINCT FROM nullif($1, %L)',
                   p_table, tcol, '') INTO leaks USING coalesce(p_tenant, '');
    RETURN leaks;
END $$;

-- Probe functions belong to the probe roles (their rights, not the caller's, not the admin's).
DO $$
DECLARE
    rls text := vigil_monitor.setting('probe_rls_role');
    bypass text := vigil_monitor.setting('probe_bypass_role');
BEGIN
    -- Policies apply through membership. Roles are shared by every database of the server
    -- and the migration lock is per database: altered only when needed, so installs into two
    -- databases at once don't both update the role ("tuple concurrently updated").
    IF NOT (SELECT rolinherit FROM pg_roles WHERE rolname = rls) THEN
        EXECUTE format('ALTER ROLE %I INHERIT', rls);
    END IF;
    EXECUTE format('ALTER FUNCTION vigil_monitor.probe_run_rls(regclass) OWNER TO %I', rls);
    EXECUTE format('ALTER FUNCTION vigil_monitor.isolation_leaks(regclass, text) OWNER TO %I', rls);
    EXECUTE format('ALTER FUNCTION vigil_monitor.probe_run_bypass(regclass) OWNER TO %I', bypass);
    EXECUTE format('ALTER FUNCTION vigil_monitor.isolation_tenants(regclass, int) OWNER TO %I', bypass);
    EXECUTE format('GRANT USAGE ON SCHEMA vigil_monitor TO %I, %I', rls, bypass);
    EXECUTE format('GRANT EXECUTE ON FUNCTION vigil_monitor.probe_plan(regclass), '
                   'vigil_monitor.tenant_column_of(text, text) TO %I, %I', rls, bypass);
    -- The monitoring logins no longer switch to the probe roles (they read through the
    -- functions above): drop every membership but the installer's.
    EXECUTE (SELECT coalesce(string_agg(format('REVOKE %I FROM %I', g.rolname, u.rolname), '; '), 'SELECT 1')
             FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
             WHERE g.rolname IN (rls, bypass) AND NOT u.rolsuper);
END $$;

-- Measured RLS overhead: migration 010's function and row type (error column kept), now
-- through the probe roles' functions. An unset probe tenant is an error: an empty tenant
-- measures ~0 ms and would read as healthy.
CREATE OR REPLACE FUNCTION vigil_monitor.monitor_rls_overhead(samples int DEFAULT 5, budget_ms int DEFAULT 2000)
RETURNS SETOF vigil_monitor.rls_overhead_row
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    tenant text := nullif(vigil_monitor.setting('probe_tenant'), '');
    old_tenant text := coalesce(current_setting('app.current_tenant_id', true), '');
    started timestamptz := clock_timestamp();
    t record; n int; d_rls float8; d_by float8; total float8; err text; st text;
    r vigil_monitor.rls_overhead_row;
BEGIN
    FOR t IN
        SELECT c.oid AS rel, ns.nspname::text AS s, c.relname::text AS tb,
               (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)::int AS pol
        FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
        WHERE c.relrowsecurity AND c.relkind IN ('r', 'p')
          AND ns.nspname NOT IN ('vigil_monitor', 'pg_catalog', 'information_schema')
        ORDER BY 2, 3
    LOOP
        total := 0; n := 0; err := NULL;
        IF tenant IS NULL THEN
            err := 'probe_tenant_unset';
        ELSE
            BEGIN
                WHILE n < greatest(samples, 1)
                      AND (n = 0 OR clock_timestamp() - started < budget_ms * interval '1 ms') LOOP
                    d_rls := vigil_monitor.probe_run_rls(t.rel::regclass);
                    d_by := vigil_monitor.probe_run_bypass(t.rel::regclass);
                    total := total + (d_rls - d_by);
                    n := n + 1;
                END LOOP;
            EXCEPTION WHEN OTHERS THEN
                -- The SQLSTATE's condition name, never the message (it may quote values).
                GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
                n := 0;
                err := CASE st WHEN '55P03' THEN 'lock_not_available'
                               WHEN '42501' THEN 'insufficient_privilege'
                               WHEN '40P01' THEN 'deadlock_detected'
                               WHEN '53200' THEN 'out_of_memory'
                               WHEN '57014' THEN 'query_canceled'
                               ELSE 'sqlstate_' || st END;
            END;
        END IF;
        PERFORM set_config('app.current_tenant_id', old_tenant, true);
        r := (t.s, t.tb, t.pol, CASE WHEN n > 0 THEN greatest(total / n, 0) END, n,
              clock_timestamp(), err);
        RETURN NEXT r;
    END LOOP;
END $$;

-- Coverage is unknown (NULL), not complete, while no PHI table is registered. SECURITY
-- DEFINER: resolving an application table's name needs USAGE on its schema, which the
-- monitoring login does not have (it reads the catalog only).
CREATE OR REPLACE FUNCTION vigil_monitor.security_audit_metrics()
RETURNS TABLE (coverage_ratio float8, phi_tables int, audited_tables int, gaps bigint,
               integrity_issues bigint, first_broken_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
    ), chain AS (SELECT * FROM vigil_monitor.audit_chain_status())
    SELECT CASE WHEN count(*) = 0 THEN NULL
                ELSE (count(*) FILTER (WHERE ins AND upd AND del))::float8 / count(*) END,
           count(*)::int, (count(*) FILTER (WHERE ins AND upd AND del))::int,
           coalesce(sum((NOT ins)::int + (NOT upd)::int + (NOT del)::int), 0)::bigint,
           (SELECT integrity_issues FROM chain), (SELECT first_broken_seq FROM chain)
    FROM ev
$$;

-- Admin functions are the admin's: no PUBLIC, no application role (grant_app used to give
-- enable_audit and register_phi_column to the app, which runs them as the schema owner).
DO $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT p.oid::regprocedure::text AS fn, a.grantee::regrole::text AS role
        FROM pg_proc p, aclexplode(p.proacl) a
        WHERE p.pronamespace = 'vigil_monitor'::regnamespace
          AND p.proname IN ('enable_audit', 'disable_audit', 'register_phi_column',
                            'unregister_phi_column', 'register_tenant_column',
                            'refresh_probe_grants')
          AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %s', r.fn, r.role);
    END LOOP;
END $$;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA vigil_monitor FROM PUBLIC;
REVOKE ALL ON vigil_monitor.tenant_columns, vigil_monitor.probe_columns FROM PUBLIC;

-- Every function created in vigil_monitor later (a new migration, an operator's helper) loses
-- PUBLIC's EXECUTE at once. ALTER DEFAULT PRIVILEGES ... IN SCHEMA cannot do this: per-schema
-- defaults only add to the global ones, which grant EXECUTE to PUBLIC.
CREATE OR REPLACE FUNCTION vigil_monitor.revoke_public_execute() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    FOR r IN SELECT * FROM pg_event_trigger_ddl_commands()
             WHERE object_type IN ('function', 'procedure') AND schema_name = 'vigil_monitor' LOOP
        EXECUTE format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC', r.object_identity);
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION vigil_monitor.revoke_public_execute() FROM PUBLIC;

DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'vigil_monitor_revoke_public') THEN
        CREATE EVENT TRIGGER vigil_monitor_revoke_public ON ddl_command_end
            WHEN TAG IN ('CREATE FUNCTION', 'CREATE PROCEDURE')
            EXECUTE FUNCTION vigil_monitor.revoke_public_execute();
    END IF;
END $$;

-- Monitoring roles that could run the probe get the new read functions.
DO $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT DISTINCT a.grantee::regrole::text AS role
        FROM pg_proc p, aclexplode(p.proacl) a
        WHERE p.oid = 'vigil_monitor.monitor_rls_overhead(int, int)'::regprocedure
          AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION vigil_monitor.probe_run_rls(regclass), '
                       'vigil_monitor.probe_run_bypass(regclass), '
                       'vigil_monitor.isolation_tenants(regclass, int), '
                       'vigil_monitor.isolation_leaks(regclass, text), '
                       'vigil_monitor.tenant_column_of(text, text) TO %s', r.role);
        EXECUTE format('GRANT SELECT ON vigil_monitor.tenant_columns, vigil_monitor.probe_columns TO %s', r.role);
    END LOOP;
END $$;

SELECT vigil_monitor.refresh_probe_grants();
