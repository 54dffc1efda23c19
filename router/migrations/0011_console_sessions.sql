-- vigil router schema v11: console sessions that logging out really ends, and a login
-- throttle every replica shares (router/console/sessions.py, router/console/throttle.py).
--
-- A session cookie carries a signed random id; the row is keyed by that id's SHA-256, never
-- the id itself, so reading this table gives nobody a working cookie. Logging out deletes
-- the row; a request whose row is gone, expired, or whose user's fingerprint (an HMAC of
-- name, role and password keyed by console.secret) no longer matches the config is refused.
CREATE TABLE IF NOT EXISTS vigil_router.console_sessions (
    id_sha256   text PRIMARY KEY CHECK (id_sha256 ~ '^[0-9a-f]{64}$'),
    username    text NOT NULL,
    role        text NOT NULL,
    fingerprint text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
-- The housekeeping sweep deletes expired sessions by this index.
CREATE INDEX IF NOT EXISTS console_sessions_expiry ON vigil_router.console_sessions (expires_at);

-- One row per failed login and scope: 'user' keyed by an HMAC of the submitted name (an
-- unknown name is an attacker's string: never stored as typed), 'address' by the client
-- address. Counted over console.login_limit.window; swept once older than that.
CREATE TABLE IF NOT EXISTS vigil_router.console_login_failures (
    id        bigserial PRIMARY KEY,
    scope     text NOT NULL CHECK (scope IN ('user', 'address')),
    key       text NOT NULL,
    failed_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS console_login_failures_key
    ON vigil_router.console_login_failures (scope, key, failed_at);
