-- vigil router schema v9: ack links in notifications are single-use (router/console/links.py).
--
-- A link is signed (alert, step, recipient, expiry), so the database only has to remember
-- which links were used: the SHA-256 of the token, never the token. A second POST of the same
-- link finds its row and is refused (and recorded on the alert's timeline as a replay).
CREATE TABLE IF NOT EXISTS vigil_router.ack_link_uses (
    token_sha256 text PRIMARY KEY,
    alert_id     bigint NOT NULL REFERENCES vigil_router.alerts (id),
    step_no      integer NOT NULL,
    target       text NOT NULL,
    used_at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS ack_link_uses_alert ON vigil_router.ack_link_uses (alert_id);
