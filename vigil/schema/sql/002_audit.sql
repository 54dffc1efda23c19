-- Tamper-evident audit log: append-only, hash-chained, written by the audit trigger.
-- Rows hold identifiers only (table, pk, changed column names, tenant, actor), never values.
CREATE TABLE IF NOT EXISTS vigil_monitor.audit_log (
    id              bigint PRIMARY KEY,
    logged_at       timestamptz NOT NULL,
    tenant_id       text,
    actor_id        text NOT NULL,
    table_name      text NOT NULL,
    operation       text NOT NULL,
    row_pk          text,
    changed_columns text[] NOT NULL DEFAULT '{}',
    prev_hash       text NOT NULL,
    row_hash        text NOT NULL
);
CREATE SEQUENCE IF NOT EXISTS vigil_monitor.audit_log_id_seq;
REVOKE UPDATE, DELETE, TRUNCATE ON vigil_monitor.audit_log FROM PUBLIC;

-- The canonical hash input. Timestamps go in as epoch numbers so the hash does not
-- depend on the session's TimeZone or DateStyle.
CREATE OR REPLACE FUNCTION vigil_monitor.audit_row_hash(
    p_id bigint, p_logged_at timestamptz, p_tenant text, p_actor text, p_table text,
    p_operation text, p_pk text, p_columns text[], p_prev text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(concat_ws(E'\x1f', p_id::text,
        extract(epoch FROM p_logged_at)::text, coalesce(p_tenant, ''), p_actor, p_table,
        p_operation, coalesce(p_pk, ''), array_to_string(p_columns, ','), p_prev), 'UTF8')), 'hex')
$$;

CREATE OR REPLACE FUNCTION vigil_monitor.block_audit_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'vigil_monitor.audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'audit_log_no_update_delete'
                   AND tgrelid = 'vigil_monitor.audit_log'::regclass) THEN
        CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON vigil_monitor.audit_log
            FOR EACH ROW EXECUTE FUNCTION vigil_monitor.block_audit_change();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'audit_log_no_truncate'
                   AND tgrelid = 'vigil_monitor.audit_log'::regclass) THEN
        CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON vigil_monitor.audit_log
            FOR EACH STATEMENT EXECUTE FUNCTION vigil_monitor.block_audit_change();
    END IF;
END $$;

-- Appends are serialized by a transaction-level advisory lock, so ids are handed out in
-- commit order and each row's prev_hash is the committed predecessor's row_hash.
CREATE OR REPLACE FUNCTION vigil_monitor.append_audit(
    p_tenant text, p_actor text, p_table text, p_operation text, p_pk text, p_columns text[])
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_id bigint; v_prev text; v_at timestamptz := clock_timestamp();
BEGIN
    PERFORM pg_advisory_xact_lock(7311930001);
    SELECT row_hash INTO v_prev FROM vigil_monitor.audit_log ORDER BY id DESC LIMIT 1;
    v_prev := coalesce(v_prev, 'genesis');
    v_id := nextval('vigil_monitor.audit_log_id_seq');
    INSERT INTO vigil_monitor.audit_log VALUES (v_id, v_at, p_tenant, p_actor, p_table, p_operation,
        p_pk, coalesce(p_columns, '{}'), v_prev,
        vigil_monitor.audit_row_hash(v_id, v_at, p_tenant, p_actor, p_table, p_operation, p_pk,
                                     coalesce(p_columns, '{}'), v_prev));
    RETURN v_id;
END $$;

CREATE TABLE IF NOT EXISTS vigil_monitor.audit_write_metrics (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "timestamp" timestamptz NOT NULL DEFAULT clock_timestamp(),
    duration    interval NOT NULL,
    table_name  text NOT NULL,
    operation   text NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_write_metrics_ts ON vigil_monitor.audit_write_metrics ("timestamp");

-- Row trigger for audited tables. TG_ARGV[0] names the primary-key column. The time of the
-- whole audit write (diff, chain append) is recorded in audit_write_metrics.
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
    INSERT INTO vigil_monitor.audit_write_metrics (duration, table_name, operation)
    VALUES (clock_timestamp() - t0, format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME), TG_OP);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION vigil_monitor.enable_audit(p_table regclass, p_pk_column text DEFAULT 'id')
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = p_table AND tgname = 'vigil_audit') THEN
        EXECUTE format('CREATE TRIGGER vigil_audit AFTER INSERT OR UPDATE OR DELETE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION vigil_monitor.audit_trigger(%L)',
                       p_table, p_pk_column);
    END IF;
END $$;

-- Verifies the chain in id order. With max_rows, only the newest max_rows rows are checked
-- (their first prev_hash is then taken on trust). Cost: one sequential pass, O(rows).
CREATE OR REPLACE FUNCTION vigil_monitor.verify_audit_chain(max_rows bigint DEFAULT NULL)
RETURNS TABLE (checked bigint, first_broken_id bigint, reason text)
LANGUAGE sql STABLE AS $$
    WITH w AS (
        SELECT * FROM vigil_monitor.audit_log
        WHERE max_rows IS NULL OR id >= coalesce((SELECT min(id) FROM (SELECT id FROM
              vigil_monitor.audit_log ORDER BY id DESC LIMIT max_rows) s), 0)
    ), c AS (
        SELECT id, row_hash <> vigil_monitor.audit_row_hash(id, logged_at, tenant_id, actor_id,
                   table_name, operation, row_pk, changed_columns, prev_hash) AS bad_hash,
               prev_hash IS DISTINCT FROM coalesce(lag(row_hash) OVER (ORDER BY id),
                   CASE WHEN max_rows IS NULL THEN 'genesis' ELSE prev_hash END) AS bad_link
        FROM w
    ), b AS (
        SELECT id, CASE WHEN bad_hash THEN 'row altered: stored row_hash does not match its content'
                        ELSE 'chain broken: prev_hash does not match the previous row (row removed or inserted)'
                   END AS reason
        FROM c WHERE bad_hash OR bad_link ORDER BY id LIMIT 1
    )
    SELECT (SELECT count(*) FROM w), (SELECT id FROM b), (SELECT reason FROM b)
$$;

-- Number of broken rows (a row fails its own hash or its link to the predecessor).
CREATE OR REPLACE FUNCTION vigil_monitor.audit_integrity_issues() RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM (
        SELECT row_hash <> vigil_monitor.audit_row_hash(id, logged_at, tenant_id, actor_id,
                   table_name, operation, row_pk, changed_columns, prev_hash)
               OR prev_hash IS DISTINCT FROM coalesce(lag(row_hash) OVER (ORDER BY id), 'genesis') AS bad
        FROM vigil_monitor.audit_log) s
    WHERE bad
$$;
