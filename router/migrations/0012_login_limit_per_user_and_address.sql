-- vigil router schema v12: failed console logins are also counted per (user name, address)
-- (router/console/throttle.py). Counted per name alone, five wrong passwords from anywhere
-- locked a responder out of the console for the window: anyone who knew a name could keep
-- the on-call out of it during an incident. Now a name is limited per address (5) and, much
-- higher, overall (console.login_limit.per_user, 50), so one address can't lock anyone out.
ALTER TABLE vigil_router.console_login_failures
    DROP CONSTRAINT IF EXISTS console_login_failures_scope_check;
ALTER TABLE vigil_router.console_login_failures
    ADD CONSTRAINT console_login_failures_scope_check
    CHECK (scope IN ('user', 'address', 'user-address'));
