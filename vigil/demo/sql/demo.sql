-- The demo tenant application: multi-tenant tables (incl. the runbook's "Deal"), PHI columns
-- encrypted with pgcrypto, RLS on app.current_tenant_id, audit triggers. Idempotent.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- Key material and fault bookkeeping live here, readable by the owner only.
CREATE SCHEMA IF NOT EXISTS demo_private;
REVOKE ALL ON SCHEMA demo_private FROM PUBLIC;
CREATE TABLE IF NOT EXISTS demo_private.keys (
    key_id      text PRIMARY KEY,
    secret      text NOT NULL,
    pgp_options text NOT NULL,
    kdf_salt    text,   -- when set, the passphrase is crypt(secret, kdf_salt) (bcrypt KDF)
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS demo_private.fault_state (
    fault text PRIMARY KEY,
    data  jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE IF NOT EXISTS public.tenants (
    tenant_id text PRIMARY KEY,
    name      text NOT NULL
);
CREATE TABLE IF NOT EXISTS public."Deal" (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        text NOT NULL REFERENCES public.tenants,
    title            text NOT NULL,
    stage            text NOT NULL DEFAULT 'open',
    amount           numeric(12, 2) NOT NULL DEFAULT 0,
    patient_name_enc bytea,
    diagnosis_enc    bytea,
    key_id           text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS deal_tenant_id ON public."Deal" (tenant_id, id);
-- Never used by the workload: gives unused_indexes something real to report.
CREATE INDEX IF NOT EXISTS deal_amount ON public."Deal" (amount);
CREATE TABLE IF NOT EXISTS public."Contact" (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES public.tenants,
    deal_id    bigint REFERENCES public."Deal",
    email_enc  bytea,
    phone_enc  bytea,
    key_id     text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS contact_tenant_id ON public."Contact" (tenant_id, id);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenants', 'Deal', 'Contact'] LOOP
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
        IF NOT EXISTS (SELECT 1 FROM pg_policy WHERE polname = 'tenant_isolation'
                       AND polrelid = format('public.%I', t)::regclass) THEN
            EXECUTE format('CREATE POLICY tenant_isolation ON public.%I FOR ALL '
                           'USING (tenant_id = current_setting(''app.current_tenant_id'', true)) '
                           'WITH CHECK (tenant_id = current_setting(''app.current_tenant_id'', true))', t);
        END IF;
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION demo_private.passphrase(k demo_private.keys) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN k.kdf_salt IS NULL THEN k.secret ELSE public.crypt(k.secret, k.kdf_salt) END
$$;

CREATE OR REPLACE FUNCTION public.active_key_id() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT key_id FROM vigil_monitor.encryption_keys WHERE active LIMIT 1
$$;

-- Encrypt/decrypt through the key registry; every call is timed and logged as an
-- encryption operation (identifiers and duration only).
CREATE OR REPLACE FUNCTION public.encrypt_phi(p_plain text, p_key_id text) RETURNS bytea
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE k demo_private.keys; t0 timestamptz; v bytea;
BEGIN
    SELECT * INTO STRICT k FROM demo_private.keys WHERE key_id = p_key_id;
    t0 := clock_timestamp();
    v := public.pgp_sym_encrypt(p_plain, demo_private.passphrase(k), k.pgp_options);
    PERFORM vigil_monitor.record_encryption_op('encrypt', p_key_id,
        extract(epoch FROM clock_timestamp() - t0) * 1000, true);
    RETURN v;
END $$;

CREATE OR REPLACE FUNCTION public.decrypt_phi(p_data bytea, p_key_id text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE k demo_private.keys; t0 timestamptz := clock_timestamp(); v text;
BEGIN
    IF p_data IS NULL THEN RETURN NULL; END IF;
    SELECT * INTO k FROM demo_private.keys WHERE key_id = p_key_id;
    BEGIN
        v := public.pgp_sym_decrypt(p_data, demo_private.passphrase(k));
    EXCEPTION WHEN OTHERS THEN
        PERFORM vigil_monitor.record_encryption_op('decrypt', coalesce(p_key_id, 'unknown'),
            extract(epoch FROM clock_timestamp() - t0) * 1000, false);
        RETURN NULL;
    END;
    PERFORM vigil_monitor.record_encryption_op('decrypt', p_key_id,
        extract(epoch FROM clock_timestamp() - t0) * 1000, true);
    RETURN v;
END $$;
REVOKE ALL ON FUNCTION public.encrypt_phi(text, text), public.decrypt_phi(bytea, text),
    public.active_key_id() FROM PUBLIC;

SELECT vigil_monitor.register_phi_column('public."Deal"', c)
FROM unnest(ARRAY['patient_name_enc', 'diagnosis_enc']) c;
SELECT vigil_monitor.register_phi_column('public."Contact"', c)
FROM unnest(ARRAY['email_enc', 'phone_enc']) c;
SELECT vigil_monitor.enable_audit('public."Deal"'), vigil_monitor.enable_audit('public."Contact"');
SELECT vigil_monitor.refresh_probe_grants();
