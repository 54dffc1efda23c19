-- Logs the application writes through SECURITY DEFINER functions: access attempts,
-- PHI accesses, encryption operations, key registry (metadata only) and re-encryption jobs.
CREATE TABLE IF NOT EXISTS vigil_monitor.access_log (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts        timestamptz NOT NULL DEFAULT clock_timestamp(),
    tenant_id text,
    actor_id  text NOT NULL,
    resource  text NOT NULL,
    action    text NOT NULL,
    success   boolean NOT NULL,
    reason    text
);
CREATE INDEX IF NOT EXISTS access_log_ts ON vigil_monitor.access_log (ts);
CREATE INDEX IF NOT EXISTS access_log_actor_ts ON vigil_monitor.access_log (actor_id, ts);

CREATE TABLE IF NOT EXISTS vigil_monitor.phi_access_patterns (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    accessed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    table_name  text NOT NULL,
    tenant_id   text,
    actor_id    text NOT NULL,
    operation   text NOT NULL,
    duration_ms float8 NOT NULL,
    row_count   int NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS phi_access_patterns_at ON vigil_monitor.phi_access_patterns (accessed_at);

CREATE TABLE IF NOT EXISTS vigil_monitor.encryption_ops (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts          timestamptz NOT NULL DEFAULT clock_timestamp(),
    operation   text NOT NULL CHECK (operation IN ('encrypt', 'decrypt')),
    key_id      text NOT NULL,
    duration_ms float8 NOT NULL,
    success     boolean NOT NULL
);

-- Key registry: identifiers and lifecycle only. Key material never enters vigil_monitor.
CREATE TABLE IF NOT EXISTS vigil_monitor.encryption_keys (
    key_id     text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz,
    active     boolean NOT NULL DEFAULT false
);

CREATE TABLE IF NOT EXISTS vigil_monitor.reencryption_jobs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_key    text,
    to_key      text NOT NULL,
    rows_total  bigint NOT NULL DEFAULT 0,
    rows_done   bigint NOT NULL DEFAULT 0,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz
);

CREATE OR REPLACE FUNCTION vigil_monitor.current_actor() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('app.current_actor_id', true), ''), session_user::text)
$$;

CREATE OR REPLACE FUNCTION vigil_monitor.record_access(
    p_resource text, p_action text, p_success boolean, p_reason text DEFAULT NULL)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO vigil_monitor.access_log (tenant_id, actor_id, resource, action, success, reason)
    VALUES (nullif(current_setting('app.current_tenant_id', true), ''), vigil_monitor.current_actor(),
            p_resource, p_action, p_success, p_reason)
$$;

CREATE OR REPLACE FUNCTION vigil_monitor.record_phi_access(
    p_table text, p_operation text, p_duration_ms float8, p_row_count int DEFAULT 0)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO vigil_monitor.phi_access_patterns
        (table_name, tenant_id, actor_id, operation, duration_ms, row_count)
    VALUES (p_table, nullif(current_setting('app.current_tenant_id', true), ''),
            vigil_monitor.current_actor(), p_operation, p_duration_ms, coalesce(p_row_count, 0))
$$;

CREATE OR REPLACE FUNCTION vigil_monitor.record_encryption_op(
    p_operation text, p_key_id text, p_duration_ms float8, p_success boolean)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO vigil_monitor.encryption_ops (operation, key_id, duration_ms, success)
    VALUES (p_operation, p_key_id, p_duration_ms, p_success)
$$;

-- Registers a key (metadata only); with p_activate it becomes the single active key.
CREATE OR REPLACE FUNCTION vigil_monitor.register_encryption_key(p_key_id text, p_activate boolean)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO vigil_monitor.encryption_keys (key_id) VALUES (p_key_id) ON CONFLICT DO NOTHING;
    IF p_activate THEN
        UPDATE vigil_monitor.encryption_keys SET active = false, retired_at = now()
        WHERE active AND key_id <> p_key_id;
        UPDATE vigil_monitor.encryption_keys SET active = true, retired_at = NULL
        WHERE key_id = p_key_id;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION vigil_monitor.start_reencryption(p_from text, p_to text, p_rows_total bigint)
RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO vigil_monitor.reencryption_jobs (from_key, to_key, rows_total)
    VALUES (p_from, p_to, p_rows_total) RETURNING id
$$;

CREATE OR REPLACE FUNCTION vigil_monitor.record_reencryption_progress(
    p_job bigint, p_rows_done bigint, p_finished boolean DEFAULT false)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE vigil_monitor.reencryption_jobs
    SET rows_done = p_rows_done, updated_at = clock_timestamp(),
        finished_at = CASE WHEN p_finished THEN clock_timestamp() END
    WHERE id = p_job
$$;
