-- Containment (issue #12): what `vigil incident contain` changed in this database, so release
-- restores exactly the prior state and both survive a restart of vigil. In place, idempotent.
--
--  * containments: one row per contained role, actor or tenant; prior holds what release
--    restores (a role's rolcanlogin and its own CONNECT grants). Released rows are kept
--    (released_at set): the history the recovery report reads.
--  * vigil_contain.admits(table): the check a contained actor's queries meet. The restrictive
--    policy vigil_contain on each RLS table calls it, as an uncorrelated sub-select, so it runs
--    once per query and table: it returns false for a contained actor (no row visible, no row
--    writable) and records the refusal in access_log (success false, reason actor_contained),
--    which the exporter counts as denied access. The policy exists only while something is
--    contained: no cost to the application otherwise.
--  * The schema vigil_contain holds nothing but that function: every role subject to RLS must
--    be able to call it (USAGE and EXECUTE to PUBLIC), while vigil_monitor stays closed.

CREATE TABLE IF NOT EXISTS vigil_monitor.containments (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('role', 'actor', 'tenant')),
    target       text NOT NULL,
    incident_id  bigint NOT NULL,
    prior        jsonb NOT NULL DEFAULT '{}',
    contained_at timestamptz NOT NULL DEFAULT now(),
    contained_by text NOT NULL,
    released_at  timestamptz,
    released_by  text
);
CREATE UNIQUE INDEX IF NOT EXISTS containments_active
    ON vigil_monitor.containments (kind, target) WHERE released_at IS NULL;
REVOKE ALL ON vigil_monitor.containments FROM PUBLIC;

CREATE SCHEMA IF NOT EXISTS vigil_contain;
REVOKE ALL ON SCHEMA vigil_contain FROM PUBLIC;
GRANT USAGE ON SCHEMA vigil_contain TO PUBLIC;

-- The refusal, recorded; VOLATILE (it writes), called from the STABLE check below.
CREATE OR REPLACE FUNCTION vigil_monitor.record_contained_denial(p_table text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO vigil_monitor.access_log (tenant_id, actor_id, resource, action, success, reason)
    VALUES (nullif(current_setting('app.current_tenant_id', true), ''), vigil_monitor.current_actor(),
            p_table, 'request', false, 'actor_contained')
$$;

-- STABLE so the planner may run the policy's sub-select once per query (an InitPlan).
CREATE OR REPLACE FUNCTION vigil_contain.admits(p_table text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM vigil_monitor.containments c
               WHERE c.kind = 'actor' AND c.released_at IS NULL
                 AND c.target = vigil_monitor.current_actor()) THEN
        PERFORM vigil_monitor.record_contained_denial(p_table);
        RETURN false;
    END IF;
    RETURN true;
END $$;
REVOKE ALL ON FUNCTION vigil_contain.admits(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vigil_contain.admits(text) TO PUBLIC;
