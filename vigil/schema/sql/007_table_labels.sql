-- Plain table names beside the quoted ones.
--
-- audit_write_metrics.table_name and phi_access_patterns.table_name hold a qualified SQL
-- identifier as written (`public."Deal"`: quotes included). Labels and GROUP BYs want the
-- catalog names, as monitor_rls_overhead() gives them (schema_name = public, table = Deal), so
-- each row also records schema_name and relname, without quoting. table_name is unchanged.
--
-- New rows get them from their writers (the audit trigger from TG_TABLE_SCHEMA/TG_TABLE_NAME,
-- record_phi_access by splitting the name it is given); existing rows are filled once from
-- table_name. Idempotent: re-running changes nothing.

-- 'public."Deal"' -> (public, Deal); 'Deal' -> (NULL, Deal); '"a.b"' -> (NULL, a.b). A name
-- that is not one or two identifiers (three parts, stray quotes) comes back whole as relname.
-- Unquoted parts are kept as written (no case folding): the label shows what the writer meant.
CREATE OR REPLACE FUNCTION vigil_monitor.split_table_name(
    p_name text, OUT schema_name text, OUT relname text)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    m text[] := regexp_match(p_name,
        '^(?:("(?:[^"]|"")+"|[^".]+)\.)?("(?:[^"]|"")+"|[^".]+)$');
BEGIN
    IF m IS NULL THEN
        relname := p_name;
        RETURN;
    END IF;
    schema_name := CASE WHEN m[1] LIKE '"%' THEN replace(substr(m[1], 2, length(m[1]) - 2), '""', '"')
                        ELSE m[1] END;
    relname := CASE WHEN m[2] LIKE '"%' THEN replace(substr(m[2], 2, length(m[2]) - 2), '""', '"')
                    ELSE m[2] END;
END $$;
REVOKE ALL ON FUNCTION vigil_monitor.split_table_name(text) FROM PUBLIC;

ALTER TABLE vigil_monitor.audit_write_metrics
    ADD COLUMN IF NOT EXISTS schema_name text, ADD COLUMN IF NOT EXISTS relname text;
ALTER TABLE vigil_monitor.phi_access_patterns
    ADD COLUMN IF NOT EXISTS schema_name text, ADD COLUMN IF NOT EXISTS relname text;

UPDATE vigil_monitor.audit_write_metrics a SET schema_name = s.schema_name, relname = s.relname
FROM (SELECT DISTINCT table_name, (vigil_monitor.split_table_name(table_name)).*
      FROM vigil_monitor.audit_write_metrics WHERE relname IS NULL) s
WHERE a.relname IS NULL AND a.table_name = s.table_name;
UPDATE vigil_monitor.phi_access_patterns p SET schema_name = s.schema_name, relname = s.relname
FROM (SELECT DISTINCT table_name, (vigil_monitor.split_table_name(table_name)).*
      FROM vigil_monitor.phi_access_patterns WHERE relname IS NULL) s
WHERE p.relname IS NULL AND p.table_name = s.table_name;

-- The audit trigger of 002, now also writing schema_name and relname.
CREATE OR REPLACE FUNCTION vigil_monitor.audit_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    j_new jsonb; j_old jsonb; j jsonb; cols text[];
    pkcol text := coalesce(TG_ARGV[0], 'id');
BEGIN
    IF TG_OP <> 'DELETE' THEN j_new := to_jsonb(NEW); END IF;
    IF TG_OP <> 'INSERT' THEN j_old := to_jsonb(OLD); END IF;
    j := coalesce(j_new, j_old);
    IF TG_OP = 'UPDATE' THEN
        SELECT coalesce(array_agg(k ORDER BY k), '{}') INTO cols FROM jsonb_object_keys(j_new) k
        WHERE j_new -> k IS DISTINCT FROM j_old -> k;
    ELSE
        SELECT coalesce(array_agg(k ORDER BY k), '{}') INTO cols FROM jsonb_object_keys(j) k;
    END IF;
    PERFORM vigil_monitor.append_audit(
        coalesce(j ->> 'tenant_id', current_setting('app.current_tenant_id', true)),
        coalesce(nullif(current_setting('app.current_actor_id', true), ''), session_user::text),
        format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME), TG_OP, j ->> pkcol, cols);
    INSERT INTO vigil_monitor.audit_write_metrics (duration, table_name, operation, schema_name,
                                                   relname)
    VALUES (clock_timestamp() - t0, format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME), TG_OP,
            TG_TABLE_SCHEMA, TG_TABLE_NAME);
    RETURN NULL;
END $$;

-- record_phi_access of 003, now also writing the split name.
CREATE OR REPLACE FUNCTION vigil_monitor.record_phi_access(
    p_table text, p_operation text, p_duration_ms float8, p_row_count int DEFAULT 0)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO vigil_monitor.phi_access_patterns
        (table_name, tenant_id, actor_id, operation, duration_ms, row_count, schema_name, relname)
    SELECT p_table, nullif(current_setting('app.current_tenant_id', true), ''),
           vigil_monitor.current_actor(), p_operation, p_duration_ms, coalesce(p_row_count, 0),
           s.schema_name, s.relname
    FROM vigil_monitor.split_table_name(p_table) s
$$;
