-- The containment policy's seal kept where the table's owner can't rewrite it.
--
-- 021 sealed the policy in its comment, but COMMENT ON POLICY needs the same right as ALTER
-- POLICY (owning the table): the owner who opened the policy (USING (true)) could write the
-- comment back to the planned part alone, which read as a policy made before 021 and was
-- checked by that hash only, or to the md5 of the altered definition (policy_fingerprint's
-- formula is in the source; pg_policy and pg_get_expr are readable by every role). Both
-- verified as "the one planned". Since 022 the seal is a row of contain_policy_seals, in
-- vigil's schema with no grant to anyone; verification reads only the row, and a vigil_contain
-- policy without one fails it. The comment is still written, for whoever reads the catalog.

CREATE TABLE IF NOT EXISTS vigil_monitor.contain_policy_seals (
    relid     oid PRIMARY KEY,     -- the table the policy is on
    planned   text NOT NULL,       -- the planned fingerprint (vigil/contain/policies.py)
    live      text NOT NULL,       -- policy_fingerprint() right after vigil created it
    sealed_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON vigil_monitor.contain_policy_seals FROM PUBLIC;

-- 021's function keeps writing the comment, under a name that says so; seal_contain_policy
-- (what vigil/contain/policies.py calls) writes it, then the row.
DO $$
BEGIN
    IF to_regprocedure('vigil_monitor.comment_contain_policy(regclass, text)') IS NULL THEN
        ALTER FUNCTION vigil_monitor.seal_contain_policy(regclass, text)
            RENAME TO comment_contain_policy;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION vigil_monitor.seal_contain_policy(p_table regclass, p_planned text)
RETURNS void LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT vigil_monitor.comment_contain_policy(p_table, p_planned);   -- raises without one
    INSERT INTO vigil_monitor.contain_policy_seals (relid, planned, live)
    SELECT p.polrelid, p_planned, vigil_monitor.policy_fingerprint(p.oid) FROM pg_policy p
    WHERE p.polrelid = p_table AND p.polname = 'vigil_contain'
    ON CONFLICT (relid) DO UPDATE SET planned = EXCLUDED.planned, live = EXCLUDED.live,
                                      sealed_at = EXCLUDED.sealed_at;
$$;
REVOKE ALL ON FUNCTION vigil_monitor.seal_contain_policy(regclass, text) FROM PUBLIC;

-- The policies in place now, as their comment has them: sealed by 021 (its live part, so an
-- ALTER since then still shows) or, made before 021, as they stand at this upgrade (nothing
-- recorded their definition before: this is the first record of it). Running this again
-- changes nothing (a sealed table keeps its row).
INSERT INTO vigil_monitor.contain_policy_seals (relid, planned, live)
SELECT p.polrelid, split_part(p.note, ' live:', 1),
       coalesce(nullif(split_part(p.note, ' live:', 2), ''),
                vigil_monitor.policy_fingerprint(p.oid))
FROM (SELECT oid, polrelid, obj_description(oid, 'pg_policy') AS note FROM pg_policy
      WHERE polname = 'vigil_contain') p
WHERE p.note ~ '^vigil:rw:[0-9a-f]{32}( live:[0-9a-f]{32})?$'
ON CONFLICT (relid) DO NOTHING;
