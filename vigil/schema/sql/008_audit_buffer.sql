-- Audit log without a global lock (issue #16).
--
-- Until 007 the audit trigger chained each row itself under a transaction-level advisory lock
-- held until commit, so every audited write in the database waited for every other one. Now:
--   * the trigger appends one row to audit_buffer and returns (no lock past its own insert);
--   * a sealer outside the database (`vigil audit seal`, role vigil_sealer) moves rows of
--     settled transactions (audit_settled_horizon()) into audit_log in (txid, id) order, giving each the next gap-free
--     id and an HMAC-SHA256 row_hash with a key the database never holds;
--   * verification runs outside the database with the key (`vigil audit verify`); the sealer
--     records its incremental result in audit_verify_state, which the read functions below
--     report in O(1). A tripwire (an ALWAYS trigger on audit_log) catches a change to a row
--     that was already verified at once, without the key.
-- Legacy rows (hash_alg 'sha256', unkeyed) stay as they are; the first keyed row continues
-- from the last legacy row_hash. Idempotent: re-running changes nothing.

CREATE TABLE IF NOT EXISTS vigil_monitor.audit_buffer (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txid            bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    logged_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    tenant_id       text,
    actor_id        text NOT NULL,
    table_name      text NOT NULL,
    operation       text NOT NULL,
    row_pk          text,
    changed_columns text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_buffer_txid ON vigil_monitor.audit_buffer (txid, id);

ALTER TABLE vigil_monitor.audit_log ADD COLUMN IF NOT EXISTS hash_alg text NOT NULL DEFAULT 'sha256';
ALTER TABLE vigil_monitor.audit_log ADD COLUMN IF NOT EXISTS txid bigint;
ALTER TABLE vigil_monitor.audit_log ADD COLUMN IF NOT EXISTS buffer_id bigint;
ALTER TABLE vigil_monitor.audit_log ADD COLUMN IF NOT EXISTS sealed_at timestamptz;
-- Each buffered row is sealed at most once (legacy rows have NULL, which never collides).
CREATE UNIQUE INDEX IF NOT EXISTS audit_log_buffer_id ON vigil_monitor.audit_log (buffer_id);

-- The buffer is append-only for everyone but the sealer, which may delete rows it sealed.
CREATE OR REPLACE FUNCTION vigil_monitor.guard_audit_buffer() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM vigil_monitor.audit_log WHERE buffer_id = OLD.id) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'vigil_monitor.audit_buffer is append-only (% refused; only sealed rows may be deleted)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'audit_buffer_guard'
                   AND tgrelid = 'vigil_monitor.audit_buffer'::regclass) THEN
        CREATE TRIGGER audit_buffer_guard BEFORE UPDATE OR DELETE ON vigil_monitor.audit_buffer
            FOR EACH ROW EXECUTE FUNCTION vigil_monitor.guard_audit_buffer();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'audit_buffer_no_truncate'
                   AND tgrelid = 'vigil_monitor.audit_buffer'::regclass) THEN
        CREATE TRIGGER audit_buffer_no_truncate BEFORE TRUNCATE ON vigil_monitor.audit_buffer
            FOR EACH STATEMENT EXECUTE FUNCTION vigil_monitor.block_audit_change();
    END IF;
END $$;

-- Tripwire: audit_log is never legitimately updated or deleted. Whoever does it anyway (a
-- superuser in replica mode skips the blocking trigger) leaves the row's original here. ALWAYS:
-- it fires in replica mode too. The keyed verifier stays the proof; this is the fast alarm.
CREATE TABLE IF NOT EXISTS vigil_monitor.audit_tamper_log (
    id         bigint PRIMARY KEY,
    first_seen timestamptz NOT NULL DEFAULT clock_timestamp(),
    original   jsonb NOT NULL   -- the audit row as sealed: identifiers only, never PHI
);

CREATE OR REPLACE FUNCTION vigil_monitor.audit_tamper_tripwire() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO vigil_monitor.audit_tamper_log (id, original) VALUES (OLD.id, to_jsonb(OLD))
    ON CONFLICT (id) DO NOTHING;
    RETURN NULL;
END $$;

DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'audit_log_tripwire'
                   AND tgrelid = 'vigil_monitor.audit_log'::regclass) THEN
        CREATE TRIGGER audit_log_tripwire AFTER UPDATE OR DELETE ON vigil_monitor.audit_log
            FOR EACH ROW EXECUTE FUNCTION vigil_monitor.audit_tamper_tripwire();
        ALTER TABLE vigil_monitor.audit_log ENABLE ALWAYS TRIGGER audit_log_tripwire;
    END IF;
END $$;

-- The sealer's horizon: every buffered row with a lower txid is final and visible to a
-- snapshot taken afterwards. Like settled_horizon() of 006, but only transactions of THIS
-- database hold it back (no other database can write this buffer), so a long transaction
-- elsewhere on the cluster does not stall sealing. The statement's snapshot S is taken before
-- the backend list D is read: a transaction of this database that was running at S is either
-- in D, or finished before D was read (so before the sealer's next statement); anything that
-- got its id after S is at or above S's xmax. SECURITY DEFINER: reading other sessions'
-- backend_xid needs pg_read_all_stats, which the sealer role must not have (query text).
CREATE OR REPLACE FUNCTION vigil_monitor.audit_settled_horizon() RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH s AS (SELECT pg_current_snapshot() AS snap),
    mine AS (
        SELECT a.backend_xid::text::bigint AS x FROM pg_stat_activity a
        WHERE a.datname = current_database() AND a.backend_xid IS NOT NULL
        UNION ALL
        SELECT p.transaction::text::bigint FROM pg_prepared_xacts p
        WHERE p.database = current_database()
    )
    SELECT least(pg_snapshot_xmax(s.snap)::text::bigint,
                 (SELECT min(x::text::bigint) FROM pg_snapshot_xip(s.snap) x
                  WHERE x::text::bigint % 4294967296 IN (SELECT mine.x FROM mine)))
    FROM s
$$;

-- The audit trigger: one INSERT into the buffer, no lock held past it. INSERT and DELETE list
-- every column from the catalog; only UPDATE compares values (names recorded, never values).
CREATE OR REPLACE FUNCTION vigil_monitor.audit_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    j_new jsonb; j_old jsonb; j jsonb; cols text[];
    pkcol text := coalesce(TG_ARGV[0], 'id');
    qualified text := format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME);
BEGIN
    IF TG_OP = 'UPDATE' THEN
        j_new := to_jsonb(NEW); j_old := to_jsonb(OLD); j := j_new;
        SELECT coalesce(array_agg(k ORDER BY k), '{}') INTO cols FROM jsonb_object_keys(j_new) k
        WHERE j_new -> k IS DISTINCT FROM j_old -> k;
    ELSE
        j := CASE WHEN TG_OP = 'INSERT' THEN to_jsonb(NEW) ELSE to_jsonb(OLD) END;
        SELECT coalesce(array_agg(a.attname::text ORDER BY a.attname::text), '{}') INTO cols
        FROM pg_attribute a WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped;
    END IF;
    INSERT INTO vigil_monitor.audit_buffer (tenant_id, actor_id, table_name, operation, row_pk,
                                            changed_columns)
    VALUES (coalesce(j ->> 'tenant_id', current_setting('app.current_tenant_id', true)),
            coalesce(nullif(current_setting('app.current_actor_id', true), ''), session_user::text),
            qualified, TG_OP, j ->> pkcol, cols);
    INSERT INTO vigil_monitor.audit_write_metrics (duration, table_name, operation, schema_name, relname)
    VALUES (clock_timestamp() - t0, qualified, TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME);
    RETURN NULL;
END $$;

-- The read functions below are SECURITY DEFINER (owner's rights, fixed search_path): the
-- exporter role reads their O(1) answers without any grant on the buffer or the state tables.

-- The sealer's heartbeat and progress, one row per sealer that ever ran.
CREATE TABLE IF NOT EXISTS vigil_monitor.audit_sealer_state (
    sealer_id         text PRIMARY KEY,
    started_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    heartbeat_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    active            boolean NOT NULL DEFAULT false,
    rows_sealed_total bigint NOT NULL DEFAULT 0,
    rows_per_second   float8 NOT NULL DEFAULT 0,
    last_error        text      -- an error class or SQLSTATE, never a message with values
);

-- The keyed verifier's checkpoint and verdict (written by the sealer / `vigil audit verify`).
CREATE TABLE IF NOT EXISTS vigil_monitor.audit_verify_state (
    singleton            boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    verified_through_seq bigint NOT NULL DEFAULT 0,
    verified_hash        text,
    verified_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    integrity_issues     bigint NOT NULL DEFAULT 0,
    first_broken_seq     bigint,
    tup_changes          bigint NOT NULL DEFAULT 0  -- n_tup_upd + n_tup_del seen at the last run
);

INSERT INTO vigil_monitor.settings (key, value, description) VALUES
  ('audit_sealer_dead_seconds', '30', 'a sealer whose heartbeat is older than this is not alive')
ON CONFLICT (key) DO NOTHING;

CREATE OR REPLACE FUNCTION vigil_monitor.audit_buffer_status()
RETURNS TABLE (rows_waiting bigint, oldest_waiting_seconds float8, size_bytes bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    -- Exact up to 100k waiting rows (index-only on the primary key), the planner's estimate above.
    WITH n AS (SELECT count(*) AS c FROM (SELECT 1 FROM vigil_monitor.audit_buffer LIMIT 100000) s)
    SELECT CASE WHEN n.c < 100000 THEN n.c
                ELSE greatest(n.c, (SELECT reltuples::bigint FROM pg_class
                                    WHERE oid = 'vigil_monitor.audit_buffer'::regclass)) END,
           coalesce((SELECT extract(epoch FROM clock_timestamp() - b.logged_at)::float8
                     FROM vigil_monitor.audit_buffer b ORDER BY b.id LIMIT 1), 0),
           pg_total_relation_size('vigil_monitor.audit_buffer')
    FROM n
$$;

CREATE OR REPLACE FUNCTION vigil_monitor.audit_sealer_status()
RETURNS TABLE (sealer_id text, alive boolean, heartbeat_age_seconds float8,
               seal_lag_seconds float8, rows_sealed_total bigint, rows_per_second float8,
               last_error text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.sealer_id,
           clock_timestamp() - s.heartbeat_at
               < vigil_monitor.setting('audit_sealer_dead_seconds')::float8 * interval '1 s',
           extract(epoch FROM clock_timestamp() - s.heartbeat_at)::float8,
           (SELECT oldest_waiting_seconds FROM vigil_monitor.audit_buffer_status()),
           s.rows_sealed_total, s.rows_per_second, s.last_error
    FROM vigil_monitor.audit_sealer_state s ORDER BY s.sealer_id
$$;

-- Rows changed behind the append-only trigger's back that still differ from their original.
CREATE OR REPLACE FUNCTION vigil_monitor.audit_tripwire_issues(
    OUT issues bigint, OUT first_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT count(*), min(t.id) FROM vigil_monitor.audit_tamper_log t
    LEFT JOIN vigil_monitor.audit_log a ON a.id = t.id
    WHERE a.id IS NULL OR to_jsonb(a) IS DISTINCT FROM t.original
$$;

-- O(1) plus O(tampered rows): the keyed verifier's last verdict, the tripwire, and a head that
-- fell below what was verified (rows removed from the end).
CREATE OR REPLACE FUNCTION vigil_monitor.audit_chain_status()
RETURNS TABLE (head_seq bigint, verified_through_seq bigint, verified_age_seconds float8,
               integrity_issues bigint, first_broken_seq bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH h AS (SELECT coalesce((SELECT id FROM vigil_monitor.audit_log ORDER BY id DESC LIMIT 1), 0) AS head),
    v AS (SELECT * FROM vigil_monitor.audit_verify_state WHERE singleton),
    t AS (SELECT * FROM vigil_monitor.audit_tripwire_issues()),
    cut AS (SELECT (SELECT v.verified_through_seq FROM v) > h.head AS short FROM h)
    SELECT h.head,
           coalesce((SELECT v.verified_through_seq FROM v), 0),
           (SELECT extract(epoch FROM clock_timestamp() - v.verified_at)::float8 FROM v),
           greatest(coalesce((SELECT v.integrity_issues FROM v), 0), t.issues,
                    CASE WHEN cut.short THEN 1 ELSE 0 END),
           nullif(least(coalesce((SELECT v.first_broken_seq FROM v), 9223372036854775807),
                        coalesce(t.first_id, 9223372036854775807),
                        CASE WHEN cut.short THEN h.head + 1 ELSE 9223372036854775807 END),
                  9223372036854775807)
    FROM h, t, cut
$$;

-- Same columns as before, now O(PHI tables) for coverage and O(1) for integrity.
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
    ), chain AS (SELECT * FROM vigil_monitor.audit_chain_status())
    SELECT CASE WHEN count(*) = 0 THEN 1.0
                ELSE (count(*) FILTER (WHERE ins AND upd AND del))::float8 / count(*) END,
           count(*)::int, (count(*) FILTER (WHERE ins AND upd AND del))::int,
           coalesce(sum((NOT ins)::int + (NOT upd)::int + (NOT del)::int), 0)::bigint,
           (SELECT integrity_issues FROM chain), (SELECT first_broken_seq FROM chain)
    FROM ev
$$;

CREATE OR REPLACE FUNCTION vigil_monitor.audit_integrity_issues() RETURNS bigint
LANGUAGE sql STABLE AS $$ SELECT integrity_issues FROM vigil_monitor.audit_chain_status() $$;

-- The database-side check (no key): links between rows, legacy rows' unkeyed hashes, and the
-- tripwire. Keyed rows' HMACs are checked only by `vigil audit verify`, which holds the key.
CREATE OR REPLACE FUNCTION vigil_monitor.verify_audit_chain(max_rows bigint DEFAULT NULL)
RETURNS TABLE (checked bigint, first_broken_id bigint, reason text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH w AS (
        SELECT * FROM vigil_monitor.audit_log
        WHERE max_rows IS NULL OR id >= coalesce((SELECT min(id) FROM (SELECT id FROM
              vigil_monitor.audit_log ORDER BY id DESC LIMIT max_rows) s), 0)
    ), c AS (
        SELECT id, (hash_alg = 'sha256' AND row_hash <> vigil_monitor.audit_row_hash(id, logged_at,
                   tenant_id, actor_id, table_name, operation, row_pk, changed_columns, prev_hash))
                   OR id IN (SELECT t.id FROM vigil_monitor.audit_tamper_log t
                             LEFT JOIN vigil_monitor.audit_log a ON a.id = t.id
                             WHERE to_jsonb(a) IS DISTINCT FROM t.original) AS bad_hash,
               prev_hash IS DISTINCT FROM coalesce(lag(row_hash) OVER (ORDER BY id),
                   CASE WHEN max_rows IS NULL THEN 'genesis' ELSE prev_hash END) AS bad_link
        FROM w
    ), b AS (
        SELECT id, CASE WHEN bad_hash THEN 'row altered: its content differs from what was sealed'
                        ELSE 'chain broken: prev_hash does not match the previous row (row removed or inserted)'
                   END AS reason
        FROM c WHERE bad_hash OR bad_link ORDER BY id LIMIT 1
    )
    SELECT (SELECT count(*) FROM w), (SELECT id FROM b), (SELECT reason FROM b)
$$;

-- The old chaining entry point is gone with its lock; kept callable for old callers, it buffers.
CREATE OR REPLACE FUNCTION vigil_monitor.append_audit(
    p_tenant text, p_actor text, p_table text, p_operation text, p_pk text, p_columns text[])
RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO vigil_monitor.audit_buffer (tenant_id, actor_id, table_name, operation, row_pk,
                                            changed_columns)
    VALUES (p_tenant, p_actor, p_table, p_operation, p_pk, coalesce(p_columns, '{}'))
    RETURNING id
$$;

REVOKE ALL ON FUNCTION vigil_monitor.guard_audit_buffer(), vigil_monitor.audit_settled_horizon(), vigil_monitor.audit_tamper_tripwire(),
    vigil_monitor.audit_trigger(), vigil_monitor.audit_buffer_status(),
    vigil_monitor.audit_sealer_status(), vigil_monitor.audit_tripwire_issues(),
    vigil_monitor.audit_chain_status(), vigil_monitor.security_audit_metrics(),
    vigil_monitor.audit_integrity_issues(), vigil_monitor.verify_audit_chain(bigint),
    vigil_monitor.append_audit(text, text, text, text, text, text[]) FROM PUBLIC;
REVOKE ALL ON vigil_monitor.audit_buffer, vigil_monitor.audit_tamper_log,
    vigil_monitor.audit_sealer_state, vigil_monitor.audit_verify_state FROM PUBLIC;

-- security_audit_metrics() now calls audit_chain_status(): every role that may run it (any
-- monitoring role granted by `vigil db grants`, not only vigil_exporter) gets the new reads.
DO $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT DISTINCT a.grantee::regrole::text AS role
        FROM pg_proc p, aclexplode(p.proacl) a
        WHERE p.oid = 'vigil_monitor.security_audit_metrics()'::regprocedure
          AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION vigil_monitor.audit_chain_status(), '
                       'vigil_monitor.audit_buffer_status(), vigil_monitor.audit_sealer_status() '
                       'TO %s', r.role);
    END LOOP;
END $$;
