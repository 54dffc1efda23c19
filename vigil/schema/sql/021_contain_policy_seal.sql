-- The containment policy sealed with its live definition (vigil/contain/policies.py).
--
-- The policy's comment held only a hash of the expression vigil planned: an ALTER POLICY
-- vigil_contain ... USING (true) by a table owner kept the comment, so verification still
-- called the policy "the one planned" while it let a contained actor through. Since 021 the
-- comment also holds the policy's definition as PostgreSQL stores it, taken right after
-- vigil creates it, in the same transaction: policy_fingerprint() (schema 012: command,
-- permissive or restrictive, roles, USING and WITH CHECK as deparsed). Verification compares
-- it with the live definition: any ALTER POLICY shows.
--
-- The comment reads '<planned fingerprint> live:<md5>'. A policy created before 021 has no
-- live part until the next contain or release re-creates it; it is verified by the planned
-- hash alone, as before. A major PostgreSQL upgrade may deparse differently: a policy
-- created before it then reads as altered until contained or released again.

CREATE OR REPLACE FUNCTION vigil_monitor.seal_contain_policy(p_table regclass, p_planned text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    live text;
BEGIN
    SELECT vigil_monitor.policy_fingerprint(p.oid) INTO live FROM pg_policy p
    WHERE p.polrelid = p_table AND p.polname = 'vigil_contain';
    IF live IS NULL THEN
        RAISE EXCEPTION 'no policy vigil_contain on %', p_table;
    END IF;
    EXECUTE format('COMMENT ON POLICY vigil_contain ON %s IS %L', p_table,
                   p_planned || ' live:' || live);
END $$;
REVOKE ALL ON FUNCTION vigil_monitor.seal_contain_policy(regclass, text) FROM PUBLIC;
