-- Detect when the controls themselves change (issue #9, point 7).
--
-- Monitored tables: every table with row-level security, every registered PHI table, and
-- every table of the approved baseline (so a table whose RLS was turned off stays watched).
-- For each, control_status() compares the catalog with the baseline approved by
-- `vigil db baseline approve` (approve_controls()): RLS and FORCE RLS on, each policy's
-- definition (an md5 fingerprint), the audit trigger present and enabled, and writes that
-- PostgreSQL's statistics count (pg_stat_user_tables n_tup_ins + n_tup_upd + n_tup_del) but
-- the audit trigger never saw (a disabled trigger, or session_replication_role = replica,
-- which skips ENABLE triggers).
--
-- Cost: O(catalog) plus the audit_write_metrics rows above the fold watermark. The audit
-- trigger writes one audit_write_metrics row per audited row change (schema 008), with the
-- writer's txid; `vigil db maintain` folds settled rows into per-table counters
-- (controls_fold(), the settled watermark of 006/009), and control_status() adds the
-- not-yet-folded tail read by the (txid, id) index, so the answer is exact whether or not the
-- worker runs, and cheap while it does. Never a scan of history.
--
-- Known limit (docs/runbook.md#control-unaudited-writes): PostgreSQL counts the writes of
-- rolled-back transactions too (a unique violation after the heap insert, say), and those
-- leave no audit row. Investigate, then approve the baseline again to acknowledge them.
-- Idempotent: re-running changes nothing.

CREATE TABLE IF NOT EXISTS vigil_monitor.control_baseline (
    schema_name   text NOT NULL,
    table_name    text NOT NULL,
    rls_enabled   boolean NOT NULL,
    rls_forced    boolean NOT NULL,
    policies      jsonb NOT NULL DEFAULT '{}',  -- policy name -> fingerprint of its definition
    audit_trigger boolean NOT NULL,              -- an enabled audit trigger at approval
    approved_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (schema_name, table_name)
);

-- Writes per table since the baseline: the statistics' count at approval, and the audit
-- trigger's rows folded since then (control_fold_state says up to where).
CREATE TABLE IF NOT EXISTS vigil_monitor.control_write_state (
    schema_name text NOT NULL,
    table_name  text NOT NULL,
    stat_base   bigint NOT NULL,
    audited     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (schema_name, table_name)
);

CREATE TABLE IF NOT EXISTS vigil_monitor.control_fold_state (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    after_txid bigint NOT NULL DEFAULT -1,
    after_id   bigint NOT NULL DEFAULT 0,
    folded_at  timestamptz
);
INSERT INTO vigil_monitor.control_fold_state (singleton) VALUES (true) ON CONFLICT DO NOTHING;

INSERT INTO vigil_monitor.settings (key, value, description) VALUES
  ('controls_approve_margin_seconds', '5',
   'approving the baseline counts audit rows of the last N seconds as already in the '
   'statistics (PostgreSQL flushes table statistics up to about a second after commit)')
ON CONFLICT (key) DO NOTHING;

-- A policy's definition, as a fingerprint: command, permissive/restrictive, roles, USING and
-- WITH CHECK. A changed expression or role list changes it; a rename shows as drop + add.
CREATE OR REPLACE FUNCTION vigil_monitor.policy_fingerprint(p_policy oid) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT md5(format('%s|%s|%s|%s|%s', p.polcmd, p.polpermissive,
                      (SELECT string_agg(x, ',' ORDER BY x) FROM (SELECT CASE WHEN r = 0
                              THEN 'public' ELSE r::regrole::text END AS x
                              FROM unnest(p.polroles) r) roles),
                      coalesce(pg_get_expr(p.polqual, p.polrelid), '-'),
                      coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '-')))
    FROM pg_policy p WHERE p.oid = p_policy
$$;

-- The tables watched, with their current controls (O(catalog)).
CREATE OR REPLACE FUNCTION vigil_monitor.control_tables()
RETURNS TABLE (rel oid, schema_name text, table_name text, rls_enabled boolean,
               rls_forced boolean, policies jsonb, permissive text[], audit_trigger boolean,
               audit_trigger_present boolean, phi boolean)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH phi AS (
        SELECT DISTINCT to_regclass(format('%I.%I', schema_name, table_name)) AS rel
        FROM vigil_monitor.phi_columns
    ), mon AS (
        SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('vigil_monitor', 'pg_catalog',
              'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
          AND (c.relrowsecurity OR EXISTS (SELECT 1 FROM phi WHERE phi.rel = c.oid)
               OR EXISTS (SELECT 1 FROM vigil_monitor.control_baseline b
                          WHERE b.schema_name = n.nspname AND b.table_name = c.relname))
    )
    SELECT c.oid, n.nspname::text, c.relname::text, c.relrowsecurity, c.relforcerowsecurity,
           coalesce((SELECT jsonb_object_agg(p.polname, vigil_monitor.policy_fingerprint(p.oid))
                     FROM pg_policy p WHERE p.polrelid = c.oid), '{}'),
           coalesce((SELECT array_agg(p.polname::text ORDER BY p.polname) FROM pg_policy p
                     WHERE p.polrelid = c.oid AND p.polpermissive), '{}'),
           -- 'O' and 'A' fire in normal sessions; 'D' (DISABLE TRIGGER) and 'R' (replica
           -- only) do not. All three events must be covered.
           coalesce((SELECT bool_or(t.tgtype & 4 <> 0) AND bool_or(t.tgtype & 8 <> 0)
                            AND bool_or(t.tgtype & 16 <> 0)
                     FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgenabled IN ('O', 'A')
                       AND t.tgfoid = 'vigil_monitor.audit_trigger()'::regprocedure), false),
           EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid
                   AND t.tgfoid = 'vigil_monitor.audit_trigger()'::regprocedure),
           EXISTS (SELECT 1 FROM phi WHERE phi.rel = c.oid)  -- (IN would be NULL, not false)
    FROM mon JOIN pg_class c ON c.oid = mon.oid JOIN pg_namespace n ON n.oid = c.relnamespace
$$;

-- Audit trigger rows per table above the fold watermark (the tail; (txid, id) index),
-- written before p_before.
CREATE OR REPLACE FUNCTION vigil_monitor.control_audit_tail(p_before timestamptz DEFAULT 'infinity')
RETURNS TABLE (schema_name text, table_name text, audited bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE st vigil_monitor.control_fold_state;
BEGIN
    SELECT * INTO st FROM vigil_monitor.control_fold_state WHERE singleton;
    -- EXECUTE: planned with the actual watermark, so the index bounds the scan.
    RETURN QUERY EXECUTE format(
        'SELECT m.schema_name, m.relname, count(*) FROM vigil_monitor.audit_write_metrics m '
        'WHERE (m.txid, m.id) > (%s, %s) AND m."timestamp" < %L GROUP BY 1, 2',
        st.after_txid, st.after_id, p_before);
END $$;

-- Folds up to p_batch settled audit_write_metrics rows into control_write_state; returns how
-- many. Called by `vigil db maintain`; FOR UPDATE makes concurrent workers take turns.
CREATE OR REPLACE FUNCTION vigil_monitor.controls_fold(p_batch int)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    h bigint := vigil_monitor.settled_horizon();
    st vigil_monitor.control_fold_state;
    n int; last_txid bigint; last_id bigint;
BEGIN
    SELECT * INTO st FROM vigil_monitor.control_fold_state WHERE singleton FOR UPDATE;
    CREATE TEMP TABLE IF NOT EXISTS vigil_controls_batch (txid bigint, id bigint,
        schema_name text, relname text) ON COMMIT DROP;
    TRUNCATE vigil_controls_batch;
    EXECUTE format('INSERT INTO vigil_controls_batch SELECT txid, id, schema_name, relname '
                   'FROM vigil_monitor.audit_write_metrics WHERE (txid, id) > (%s, %s) '
                   'AND txid < %s ORDER BY txid, id LIMIT %s',
                   st.after_txid, st.after_id, h, p_batch);
    SELECT count(*) INTO n FROM vigil_controls_batch;
    IF n = 0 THEN
        UPDATE vigil_monitor.control_fold_state SET folded_at = clock_timestamp() WHERE singleton;
        RETURN 0;
    END IF;
    SELECT b.txid, b.id INTO last_txid, last_id FROM vigil_controls_batch b
    ORDER BY b.txid DESC, b.id DESC LIMIT 1;
    UPDATE vigil_monitor.control_write_state w SET audited = w.audited + b.c
    FROM (SELECT schema_name, relname, count(*) AS c FROM vigil_controls_batch GROUP BY 1, 2) b
    WHERE w.schema_name = b.schema_name AND w.table_name = b.relname;
    UPDATE vigil_monitor.control_fold_state
    SET after_txid = last_txid, after_id = last_id, folded_at = clock_timestamp()
    WHERE singleton;
    RETURN n;
END $$;

-- Record the current controls as approved. p_only_new: only tables without a baseline yet
-- (install and `vigil demo setup`); otherwise every monitored table (`vigil db baseline
-- approve`, after a deliberate change or after investigating unaudited writes). Returns the
-- number of tables approved.
CREATE OR REPLACE FUNCTION vigil_monitor.approve_controls(p_only_new boolean DEFAULT false)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n int;
    margin interval := coalesce(vigil_monitor.setting('controls_approve_margin_seconds')::float8,
                                5) * interval '1 s';
BEGIN
    LOCK TABLE vigil_monitor.control_fold_state IN EXCLUSIVE MODE;
    CREATE TEMP TABLE IF NOT EXISTS vigil_controls_now ON COMMIT DROP AS
        SELECT * FROM vigil_monitor.control_tables() WITH NO DATA;
    TRUNCATE vigil_controls_now;
    INSERT INTO vigil_controls_now SELECT * FROM vigil_monitor.control_tables() t
    WHERE NOT p_only_new OR NOT EXISTS (SELECT 1 FROM vigil_monitor.control_baseline b
          WHERE b.schema_name = t.schema_name AND b.table_name = t.table_name);
    -- Tables approved earlier that are gone (dropped or renamed) leave the baseline.
    IF NOT p_only_new THEN
        DELETE FROM vigil_monitor.control_baseline b WHERE NOT EXISTS (
            SELECT 1 FROM vigil_controls_now t
            WHERE t.schema_name = b.schema_name AND t.table_name = b.table_name);
    END IF;
    INSERT INTO vigil_monitor.control_baseline AS b (schema_name, table_name, rls_enabled,
        rls_forced, policies, audit_trigger)
    SELECT schema_name, table_name, rls_enabled, rls_forced, policies, audit_trigger
    FROM vigil_controls_now
    ON CONFLICT (schema_name, table_name) DO UPDATE SET rls_enabled = EXCLUDED.rls_enabled,
        rls_forced = EXCLUDED.rls_forced, policies = EXCLUDED.policies,
        audit_trigger = EXCLUDED.audit_trigger, approved_at = clock_timestamp();
    GET DIAGNOSTICS n = ROW_COUNT;
    -- The write counters restart here: statistics now, audit rows from now on. Audit rows not
    -- yet folded are cancelled, except those of the last few seconds (committed, statistics
    -- maybe not flushed yet), which count as new: the error is at most those writes hidden,
    -- never a false alarm.
    INSERT INTO vigil_monitor.control_write_state AS w (schema_name, table_name, stat_base, audited)
    SELECT t.schema_name, t.table_name,
           coalesce(s.n_tup_ins + s.n_tup_upd + s.n_tup_del, 0),
           -coalesce(o.audited, 0)
    FROM vigil_controls_now t LEFT JOIN pg_stat_user_tables s ON s.relid = t.rel
    LEFT JOIN vigil_monitor.control_audit_tail(clock_timestamp() - margin) o
           ON o.schema_name = t.schema_name AND o.table_name = t.table_name
    ON CONFLICT (schema_name, table_name) DO UPDATE SET stat_base = EXCLUDED.stat_base,
        audited = EXCLUDED.audited;
    RETURN n;
END $$;

-- One row per monitored table: its controls now, against the approved baseline.
--   rls_disabled / force_removed: on in the baseline, off now;
--   policy_changes: baseline policies dropped or changed, plus permissive policies added
--     since (a new permissive policy widens access; a new restrictive one only narrows it);
--   policy_issues: which, as 'dropped:NAME', 'changed:NAME', 'added:NAME' (names only);
--   audit_trigger_enabled: NULL when the table never had an audit trigger (audit coverage
--     reports that), else whether it fires for INSERT, UPDATE and DELETE in normal sessions;
--   unaudited_writes: writes counted by pg_stat_user_tables since the baseline minus audit
--     trigger rows since then (PHI tables audited at the baseline; NULL otherwise).
CREATE OR REPLACE FUNCTION vigil_monitor.control_status()
RETURNS TABLE (schema_name text, table_name text, phi boolean, rls_enabled boolean,
               rls_forced boolean, rls_disabled boolean, force_removed boolean,
               policy_changes int, policy_issues text[], audit_trigger_enabled boolean,
               unaudited_writes bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH t AS (SELECT * FROM vigil_monitor.control_tables()),
    tail AS (SELECT * FROM vigil_monitor.control_audit_tail()),
    issues AS (
        SELECT t.rel, array_agg(i.issue ORDER BY i.issue) AS list
        FROM t JOIN vigil_monitor.control_baseline b
             ON b.schema_name = t.schema_name AND b.table_name = t.table_name
        CROSS JOIN LATERAL (
            SELECT 'dropped:' || k AS issue FROM jsonb_object_keys(b.policies) k
            WHERE NOT t.policies ? k
            UNION ALL
            SELECT 'changed:' || k FROM jsonb_object_keys(b.policies) k
            WHERE t.policies ? k AND t.policies ->> k IS DISTINCT FROM b.policies ->> k
            UNION ALL
            SELECT 'added:' || k FROM unnest(t.permissive) k WHERE NOT b.policies ? k
        ) i
        GROUP BY t.rel
    )
    SELECT t.schema_name, t.table_name, t.phi, t.rls_enabled, t.rls_forced,
           coalesce(b.rls_enabled AND NOT t.rls_enabled, false),
           coalesce(b.rls_forced AND NOT t.rls_forced, false),
           coalesce(cardinality(i.list), 0), coalesce(i.list, '{}'),
           CASE WHEN t.audit_trigger_present OR coalesce(b.audit_trigger, false)
                THEN t.audit_trigger END,
           CASE WHEN t.phi AND b.audit_trigger AND w.schema_name IS NOT NULL THEN greatest(0,
                coalesce(s.n_tup_ins + s.n_tup_upd + s.n_tup_del, 0) - w.stat_base - w.audited
                - coalesce(tail.audited, 0)) END
    FROM t
    LEFT JOIN vigil_monitor.control_baseline b
           ON b.schema_name = t.schema_name AND b.table_name = t.table_name
    LEFT JOIN issues i ON i.rel = t.rel
    LEFT JOIN vigil_monitor.control_write_state w
           ON w.schema_name = t.schema_name AND w.table_name = t.table_name
    LEFT JOIN tail ON tail.schema_name = t.schema_name AND tail.table_name = t.table_name
    LEFT JOIN pg_stat_user_tables s ON s.relid = t.rel
    ORDER BY t.schema_name, t.table_name
$$;

REVOKE ALL ON FUNCTION vigil_monitor.policy_fingerprint(oid), vigil_monitor.control_tables(),
    vigil_monitor.control_audit_tail(timestamptz), vigil_monitor.controls_fold(integer),
    vigil_monitor.approve_controls(boolean), vigil_monitor.control_status() FROM PUBLIC;
REVOKE ALL ON vigil_monitor.control_baseline, vigil_monitor.control_write_state,
    vigil_monitor.control_fold_state FROM PUBLIC;

-- The first install approves what is there (later tables: `vigil db baseline approve`).
SELECT vigil_monitor.approve_controls(true);
