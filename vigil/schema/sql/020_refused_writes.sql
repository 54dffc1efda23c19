-- Refused writes of a contained actor, counted so the count survives the rollback.
--
-- admits() (schema 014) records each refusal in access_log, but a refused INSERT (the policy's
-- WITH CHECK failing) raises an error that rolls the refusal row back with the statement: the
-- attempted writes of a compromised actor left no trace. A sequence is not transactional
-- (nextval is never rolled back), so:
--
--  * every actor containment gets its own counter, vigil_monitor.refused_writes_<containment
--    id>, created with the containments row (trigger below, same transaction) and kept after
--    release: the count stays readable for the recovery report and the incident's history;
--  * the policy's WITH CHECK calls vigil_contain.admits_write(table) (USING keeps admits()):
--    false for a contained actor, after one nextval on that actor's counter. For everyone
--    else it is the same index lookup admits() makes, once per query (an InitPlan), nothing
--    written: no cost per row, none at all while nothing is contained (no policy then);
--  * vigil_monitor.contained_write_refusals(): per containment, the refused writes counted
--    (NULL: a containment released before this migration, which had no counter).
--
-- A counter that is gone (dropped by hand) only stops counting: the check still refuses, the
-- application's query fails as before and never with a different error. Counts are exact
-- while the server runs; after a crash PostgreSQL may move a sequence ahead (it logs 32 values
-- in advance), so a count read after a crash can be higher than the attempts made.

CREATE OR REPLACE FUNCTION vigil_monitor.refused_writes_counter(p_containment bigint)
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'vigil_monitor.refused_writes_' || p_containment
$$;
REVOKE ALL ON FUNCTION vigil_monitor.refused_writes_counter(bigint) FROM PUBLIC;

-- SECURITY DEFINER: the counter belongs to the schema's owner, whoever contains, so
-- admits_write (run as that owner) may always advance it.
CREATE OR REPLACE FUNCTION vigil_monitor.create_refused_writes_counter(p_containment bigint)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %s AS bigint',
                   vigil_monitor.refused_writes_counter(p_containment));
    EXECUTE format('REVOKE ALL ON SEQUENCE %s FROM PUBLIC',
                   vigil_monitor.refused_writes_counter(p_containment));
END $$;
REVOKE ALL ON FUNCTION vigil_monitor.create_refused_writes_counter(bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION vigil_monitor.containment_counter() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM vigil_monitor.create_refused_writes_counter(NEW.id);
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION vigil_monitor.containment_counter() FROM PUBLIC;

DROP TRIGGER IF EXISTS containment_counter ON vigil_monitor.containments;
CREATE TRIGGER containment_counter AFTER INSERT ON vigil_monitor.containments
    FOR EACH ROW WHEN (NEW.kind = 'actor') EXECUTE FUNCTION vigil_monitor.containment_counter();

-- Actors contained when this migration runs count from now on.
SELECT vigil_monitor.create_refused_writes_counter(id) FROM vigil_monitor.containments
WHERE kind = 'actor' AND released_at IS NULL;

-- VOLATILE (nextval); the policy calls it as an uncorrelated sub-select: once per query.
CREATE OR REPLACE FUNCTION vigil_contain.admits_write(p_table text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cid bigint;
    counter regclass;
BEGIN
    -- p_table names the table in the policy (as admits' does); the count is per containment.
    SELECT c.id INTO cid FROM vigil_monitor.containments c
    WHERE c.kind = 'actor' AND c.released_at IS NULL
      AND c.target = vigil_monitor.current_actor();
    IF cid IS NULL THEN
        RETURN true;
    END IF;
    counter := to_regclass(vigil_monitor.refused_writes_counter(cid));
    IF counter IS NOT NULL THEN
        PERFORM nextval(counter);
    END IF;
    RETURN false;
END $$;
REVOKE ALL ON FUNCTION vigil_contain.admits_write(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vigil_contain.admits_write(text) TO PUBLIC;

-- The counts, for `vigil incident contain --verify`, the release's verification (and so the
-- recovery report) and the exporter (vigil_contained_write_refusals_total). SECURITY DEFINER:
-- the containments and their counters stay closed to the monitoring role.
CREATE OR REPLACE FUNCTION vigil_monitor.contained_write_refusals()
RETURNS TABLE (containment_id bigint, kind text, target text, incident_id bigint,
               active boolean, refused_writes bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    counter regclass;
BEGIN
    FOR r IN SELECT c.id, c.kind, c.target, c.incident_id, c.released_at IS NULL AS active
             FROM vigil_monitor.containments c WHERE c.kind = 'actor' ORDER BY c.id LOOP
        counter := to_regclass(vigil_monitor.refused_writes_counter(r.id));
        containment_id := r.id; kind := r.kind; target := r.target;
        incident_id := r.incident_id; active := r.active;
        -- pg_sequence_last_value: NULL until the first nextval (none counted yet).
        refused_writes := CASE WHEN counter IS NULL THEN NULL
                               ELSE coalesce(pg_sequence_last_value(counter), 0) END;
        RETURN NEXT;
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION vigil_monitor.contained_write_refusals() FROM PUBLIC;

-- The monitoring roles: every role `vigil db grants` gave the read functions (EXECUTE on
-- security_access_metrics(), the owner aside). Migrations that add a read function grant it
-- to these (006-011 each spelled this query out).
CREATE OR REPLACE FUNCTION vigil_monitor.monitoring_roles() RETURNS SETOF text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT DISTINCT a.grantee::regrole::text
    FROM pg_proc p, aclexplode(p.proacl) a
    WHERE p.oid = 'vigil_monitor.security_access_metrics()'::regprocedure
      AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
$$;
REVOKE ALL ON FUNCTION vigil_monitor.monitoring_roles() FROM PUBLIC;

DO $$
BEGIN
    EXECUTE coalesce((SELECT 'GRANT EXECUTE ON FUNCTION vigil_monitor.contained_write_refusals() '
                             'TO ' || string_agg(role, ', ')
                      FROM vigil_monitor.monitoring_roles() AS role), 'SELECT');
END $$;

-- Policies made before this migration (an actor or tenant contained now) call admits() in
-- WITH CHECK too: they are brought to what `vigil incident contain` plans from now on (WITH
-- CHECK calls admits_write; USING unchanged), and their fingerprint comment (vigil/contain/
-- policies.py) to the one that says so, so the drift check keeps passing and a contained
-- actor's refused writes count from now on.
DO $$
DECLARE
    r record;
    fixed text;
BEGIN
    FOR r IN
        SELECT p.oid, p.polrelid::regclass AS tab, pg_get_expr(p.polwithcheck, p.polrelid) AS chk,
               obj_description(p.oid, 'pg_policy') AS note
        FROM pg_policy p WHERE p.polname = 'vigil_contain' LOOP
        IF r.note IS NULL OR r.note !~ '^vigil:[0-9a-f]{32}$' THEN
            -- Made since 020 ('vigil:rw:...', so running this again changes nothing), or not
            -- made by vigil (the drift check reports it).
            CONTINUE;
        END IF;
        -- The actor part comes first in the expression (policies.expression), deparsed as
        -- '( SELECT vigil_contain.admits(...' or, ANDed with a tenant part, '(( SELECT ...':
        -- only that call is replaced, never text inside a tenant literal.
        fixed := regexp_replace(r.chk, '^(\(+) SELECT vigil_contain\.admits\(',
                                '\1 SELECT vigil_contain.admits_write(');
        IF fixed <> r.chk THEN
            EXECUTE format('ALTER POLICY vigil_contain ON %s WITH CHECK (%s)', r.tab, fixed);
        END IF;
        EXECUTE format('COMMENT ON POLICY vigil_contain ON %s IS %L', r.tab,
                       'vigil:rw:' || left(encode(sha256(convert_to(
                           r.note || ' WITH CHECK admits_write', 'UTF8')), 'hex'), 32));
    END LOOP;
END $$;
