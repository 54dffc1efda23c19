-- Legal hold and the evidence of incidents (issue #12, point 2).
--
-- `vigil incident hold ID` records an incident's scope here: its time window (until NULL: the
-- incident is still open, so the hold reaches into the future) and its actors and tenants (both
-- empty: every actor of the window). Retention (maintain_trim, redefined below from 009 with
-- one more condition) never deletes a monitoring row inside the scope of an unreleased hold:
-- the investigation and the lawyers keep what they need, everything else still ages out.
-- Holds are few (one per incident), so the NOT EXISTS below is a scan of a handful of rows per
-- candidate; the trim walks its time index as before, stepping over the held rows it meets
-- (O(batch + held rows older than the cutoff) per call, and held rows are meant to be few).
--
-- Also: an index on audit_log.logged_at and one on access_rollup by actor, so an incident's audit rows are a range scan of its
-- window, not a scan of the whole chain, and privilege_baseline, the roles and grants approved
-- with `vigil db baseline approve` (approve_privileges()), which `vigil incident integrity`
-- compares with the catalog next to 012's policy baseline. Idempotent: re-running changes
-- nothing.

CREATE TABLE IF NOT EXISTS vigil_monitor.legal_holds (
    incident_id bigint PRIMARY KEY,
    since       timestamptz NOT NULL,
    until       timestamptz,              -- NULL: open-ended (the incident is not closed)
    actors      text[] NOT NULL DEFAULT '{}',
    tenants     text[] NOT NULL DEFAULT '{}',
    held_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    held_by     text NOT NULL,
    released_at timestamptz,
    released_by text,
    CHECK (until IS NULL OR until >= since)
);
REVOKE ALL ON vigil_monitor.legal_holds FROM PUBLIC;

-- Is a row (time, actor, tenant) inside the scope of an unreleased hold? Inlined by the
-- planner (LANGUAGE sql, STABLE, one expression).
CREATE OR REPLACE FUNCTION vigil_monitor.row_held(p_ts timestamptz, p_actor text, p_tenant text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM vigil_monitor.legal_holds h
        WHERE h.released_at IS NULL AND p_ts >= h.since AND (h.until IS NULL OR p_ts <= h.until)
          AND ((cardinality(h.actors) = 0 AND cardinality(h.tenants) = 0)
               OR p_actor = ANY (h.actors) OR p_tenant = ANY (h.tenants)))
$$;
REVOKE ALL ON FUNCTION vigil_monitor.row_held(timestamptz, text, text) FROM PUBLIC;

-- 009's trim, with held rows skipped in the three tables that carry an actor (and a tenant).
-- A rollup bucket is held when any of its minute lies in a hold of its actor (its tenant is
-- not known: a tenant-only hold keeps the raw rows, which carry the tenant).
CREATE OR REPLACE FUNCTION vigil_monitor.maintain_trim(p_table text, p_batch int)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    keep interval := vigil_monitor.setting('retention_' || p_table)::interval;
    cutoff timestamptz;
    h bigint := vigil_monitor.settled_horizon();
    st vigil_monitor.rollup_state;
    n int;
BEGIN
    IF p_table NOT IN ('access_log', 'phi_access_patterns', 'encryption_ops',
                       'audit_write_metrics', 'access_rollup') THEN
        RAISE EXCEPTION 'not a monitoring table with retention' USING ERRCODE = '22023';
    END IF;
    IF keep IS NULL THEN
        RETURN 0;
    END IF;
    cutoff := clock_timestamp() - keep;
    SELECT * INTO st FROM vigil_monitor.rollup_state WHERE source = p_table;
    IF p_table = 'access_log' THEN
        DELETE FROM vigil_monitor.access_log WHERE id IN (
            SELECT a.id FROM vigil_monitor.access_log a
            WHERE a.ts < cutoff AND (a.txid, a.id) <= (st.after_txid, st.after_id)
              AND NOT vigil_monitor.row_held(a.ts, a.actor_id, a.tenant_id)
            ORDER BY a.ts LIMIT p_batch FOR UPDATE SKIP LOCKED);
    ELSIF p_table = 'encryption_ops' THEN
        DELETE FROM vigil_monitor.encryption_ops WHERE id IN (
            SELECT e.id FROM vigil_monitor.encryption_ops e
            WHERE e.ts < cutoff AND (e.txid, e.id) <= (st.after_txid, st.after_id)
            ORDER BY e.ts LIMIT p_batch FOR UPDATE SKIP LOCKED);
    ELSIF p_table = 'phi_access_patterns' THEN
        DELETE FROM vigil_monitor.phi_access_patterns WHERE id IN (
            SELECT p.id FROM vigil_monitor.phi_access_patterns p
            WHERE p.accessed_at < cutoff AND p.txid < h
              AND NOT vigil_monitor.row_held(p.accessed_at, p.actor_id, p.tenant_id)
            ORDER BY p.accessed_at LIMIT p_batch FOR UPDATE SKIP LOCKED);
    ELSIF p_table = 'audit_write_metrics' THEN
        DELETE FROM vigil_monitor.audit_write_metrics WHERE id IN (
            SELECT w.id FROM vigil_monitor.audit_write_metrics w
            WHERE w."timestamp" < cutoff AND w.txid < h
            ORDER BY w."timestamp" LIMIT p_batch FOR UPDATE SKIP LOCKED);
    ELSE
        DELETE FROM vigil_monitor.access_rollup WHERE (bucket, actor_id) IN (
            SELECT r.bucket, r.actor_id FROM vigil_monitor.access_rollup r
            WHERE r.bucket < cutoff
              AND NOT vigil_monitor.row_held(r.bucket, r.actor_id, NULL)
              AND NOT vigil_monitor.row_held(r.bucket + interval '59.999999 s', r.actor_id, NULL)
            ORDER BY r.bucket LIMIT p_batch FOR UPDATE SKIP LOCKED);
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        UPDATE vigil_monitor.maintenance_state SET rows_trimmed_total = rows_trimmed_total + n
        WHERE id = 1;
    END IF;
    RETURN n;
END $$;
REVOKE ALL ON FUNCTION vigil_monitor.maintain_trim(text, int) FROM PUBLIC;

CREATE INDEX IF NOT EXISTS audit_log_logged_at ON vigil_monitor.audit_log (logged_at);
-- An actor's baseline over the prior days (`vigil incident traffic`) reads its own buckets.
CREATE INDEX IF NOT EXISTS access_rollup_actor ON vigil_monitor.access_rollup (actor_id, bucket);

-- Roles and grants as approved: kind 'role' (name -> attributes) or 'grant' (object and
-- grantee -> privileges), compared by `vigil incident integrity` with privilege_snapshot().
CREATE TABLE IF NOT EXISTS vigil_monitor.privilege_baseline (
    kind        text NOT NULL CHECK (kind IN ('role', 'grant')),
    name        text NOT NULL,
    detail      text NOT NULL,
    approved_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (kind, name)
);
REVOKE ALL ON vigil_monitor.privilege_baseline FROM PUBLIC;

-- The catalog now: the roles that matter to THIS database (roles are cluster-wide; another
-- database's throwaway roles are not this incident's business): every superuser and BYPASSRLS
-- role, and every role that owns, is granted or is named by a policy here, with its security
-- attributes and its memberships in such roles (a membership in another database's role is
-- not this database's change); and every table-level and schema-level grant in the database's
-- non-system schemas (names only).
CREATE OR REPLACE FUNCTION vigil_monitor.privilege_snapshot()
RETURNS TABLE (kind text, name text, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH rels AS (
        SELECT c.relowner, c.relacl FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
    ), here AS (
        SELECT relowner AS oid FROM rels
        UNION SELECT a.grantee FROM rels, aclexplode(rels.relacl) a
        UNION SELECT n.nspowner FROM pg_namespace n
              WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
        UNION SELECT a.grantee FROM pg_namespace n, aclexplode(n.nspacl) a
              WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
        UNION SELECT unnest(p.polroles) FROM pg_policy p
        UNION SELECT a.grantee FROM pg_database d, aclexplode(d.datacl) a
              WHERE d.datname = current_database()
    )
    SELECT 'role', r.rolname::text,
           concat_ws(' ', CASE WHEN r.rolsuper THEN 'SUPERUSER' END,
                     CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END,
                     CASE WHEN r.rolcanlogin THEN 'LOGIN' ELSE 'NOLOGIN' END,
                     CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END,
                     CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
                     CASE WHEN r.rolreplication THEN 'REPLICATION' END,
                     'member of {' || (SELECT string_agg(g.rolname::text, ',' ORDER BY g.rolname)
                                       FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                                       WHERE m.member = r.oid AND (g.rolsuper OR g.rolbypassrls
                                             OR g.oid IN (SELECT here.oid FROM here))) || '}')
    FROM pg_roles r
    WHERE r.rolname !~ '^pg_'
      AND (r.rolsuper OR r.rolbypassrls OR r.oid IN (SELECT here.oid FROM here))
    UNION ALL
    SELECT 'grant', format('%s on %I.%I', g.grantee, g.table_schema, g.table_name),
           string_agg(g.privilege_type, ',' ORDER BY g.privilege_type)
    FROM information_schema.role_table_grants g
    WHERE g.table_schema NOT IN ('pg_catalog', 'information_schema')
    GROUP BY g.grantee, g.table_schema, g.table_name
    UNION ALL
    SELECT 'grant', format('%s on schema %I', CASE WHEN a.grantee = 0 THEN 'public'
                                               ELSE a.grantee::regrole::text END, n.nspname),
           string_agg(a.privilege_type, ',' ORDER BY a.privilege_type)
    FROM pg_namespace n, aclexplode(n.nspacl) a
    WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
    GROUP BY 2
$$;
REVOKE ALL ON FUNCTION vigil_monitor.privilege_snapshot() FROM PUBLIC;

-- Approve the roles and grants of now (called by `vigil db baseline approve` with 012's
-- approve_controls()); returns how many entries.
CREATE OR REPLACE FUNCTION vigil_monitor.approve_privileges() RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE n int;
BEGIN
    DELETE FROM vigil_monitor.privilege_baseline;
    INSERT INTO vigil_monitor.privilege_baseline (kind, name, detail)
    SELECT s.kind, s.name, s.detail FROM vigil_monitor.privilege_snapshot() s;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
REVOKE ALL ON FUNCTION vigil_monitor.approve_privileges() FROM PUBLIC;
