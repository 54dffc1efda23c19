-- vigil router schema v4: a resolve no longer swallows a page that fell due while the alert
-- was open (docs/router.md#resolve-rule).
--
-- A resolve cancels only the steps due after the alert ended; the steps it keeps still fire
-- on the engine's next tick. Their targets must hear of the resolve after the page, not
-- before, so the resolve notices become a plan row of their own ('resolve'), due once every
-- kept row is, which the engine turns into the resolve notices in the same statement that
-- fires the pages.
ALTER TABLE vigil_router.steps DROP CONSTRAINT IF EXISTS steps_kind_check;
ALTER TABLE vigil_router.steps ADD CONSTRAINT steps_kind_check
    CHECK (kind IN ('step', 'notice', 'sla', 'resolve'));
