-- vigil router schema v8: on-call hand-off bookkeeping (router/oncall/handoff.py).
--
-- One row per announced hand-off, keyed by the schedule and the instant the incoming person's
-- stretch began: router/sql/handoff.sql inserts it with ON CONFLICT DO NOTHING and writes the
-- notice only when it inserted the row, so every hand-off is announced once, whatever the
-- number of router replicas. Idempotent: re-applying it changes nothing.
CREATE TABLE IF NOT EXISTS vigil_router.handoffs (
    schedule   text NOT NULL,
    since      timestamptz NOT NULL,
    person     text NOT NULL,
    noticed_at timestamptz NOT NULL,
    PRIMARY KEY (schedule, since)
);
