"""``vigil demo setup``: the demo database, its roles, keys and seed rows."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from vigil import schema
from vigil.core import pg
from vigil.core.logs import fields
from vigil.schema import roles

log = logging.getLogger("vigil.demo")
Conn = psycopg.Connection[tuple[object, ...]]

APP_ROLE = "vigil_demo_app"
FAST_PGP_OPTIONS = "cipher-algo=aes128, s2k-mode=3, s2k-count=65536"
SEED_DEALS = 20
SEED_CONTACTS = 5
_NAMES = ("Ada Example", "Ben Sample", "Cleo Placeholder", "Dan Fictional", "Eve Synthetic")
_DIAGNOSES = ("J45 asthma", "E11 diabetes", "I10 hypertension", "M54 back pain")


@dataclass(frozen=True)
class DemoInfo:
    admin_dsn: str      # superuser, demo database
    app_dsn: str        # the RLS-subject application role
    exporter_dsn: str   # the monitoring role (pg_monitor + shipped grants)
    dbname: str


def role_dsn(admin_db_dsn: str, user: str) -> str:
    """Same server and database, another role, no password (the demo runs under trust auth)."""
    params = {k: v for k, v in conninfo_to_dict(admin_db_dsn).items() if k != "password"}
    params["user"] = user
    return make_conninfo("", **params)


def info(admin_dsn: str, dbname: str = pg.DEFAULT_DEMO_DB) -> DemoInfo:
    db = pg.with_dbname(admin_dsn, dbname)
    return DemoInfo(db, role_dsn(db, APP_ROLE), role_dsn(db, schema.DEFAULT_EXPORTER_ROLE), dbname)


def tenant_ids(n: int) -> list[str]:
    return [f"tenant-{i}" for i in range(1, n + 1)]


def setup(admin_dsn: str, dbname: str = pg.DEFAULT_DEMO_DB, tenants: int = 3) -> DemoInfo:
    """Create (or bring up to date) the demo database; safe to re-run."""
    demo = info(admin_dsn, dbname)
    created = pg.ensure_database(admin_dsn, dbname)
    schema.install(demo.admin_dsn)
    with pg.connect(demo.admin_dsn) as conn:
        roles.ensure_role(conn, APP_ROLE, "LOGIN NOSUPERUSER NOBYPASSRLS")
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(7311930002)")
            text = resources.files("vigil.demo").joinpath("sql/demo.sql").read_text("utf-8")
            conn.execute(text.encode())
            app = sql.Identifier(APP_ROLE)
            conn.execute(sql.SQL(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON public.tenants, public.\"Deal\", "
                "public.\"Contact\" TO {0}; "
                "GRANT EXECUTE ON FUNCTION public.encrypt_phi(text, text), "
                "public.decrypt_phi(bytea, text), public.active_key_id() TO {0}").format(app))
            conn.execute("UPDATE vigil_monitor.settings SET value = 'tenant-1' "
                         "WHERE key = 'probe_tenant' AND value IS NULL")
            if conn.execute("SELECT count(*) FROM demo_private.keys").fetchone() == (0,):
                add_key(conn, "k1", FAST_PGP_OPTIONS, slow_kdf=False)
        roles.apply_app_grants(conn, APP_ROLE)
        ensure_tenants(conn, tenants)
        # The demo's RLS, policies and audit triggers are the approved controls (schema 012);
        # a re-run approves only tables not approved yet, so it never blesses a fault.
        conn.execute("SELECT vigil_monitor.approve_controls(true)")
    log.info("demo ready", extra=fields(db=dbname, created=created, tenants=tenants))
    return demo


def add_key(conn: Conn, key_id: str, pgp_options: str,
            *, slow_kdf: bool) -> None:
    """Create key material (demo_private) and register its metadata as the active key."""
    conn.execute(
        "INSERT INTO demo_private.keys (key_id, secret, pgp_options, kdf_salt) VALUES "
        "(%s, %s, %s, CASE WHEN %s THEN gen_salt('bf', 11) END)",
        (key_id, secrets.token_hex(24), pgp_options, slow_kdf))
    conn.execute("SELECT vigil_monitor.register_encryption_key(%s, true)", (key_id,))


def ensure_tenants(conn: Conn, n: int) -> None:
    """Tenants 1..n exist, each with seed deals and contacts (synthetic PHI)."""
    for i, tenant in enumerate(tenant_ids(n)):
        with conn.transaction():
            conn.execute("SELECT set_config('app.current_actor_id', 'demo-seed', true)")
            inserted = conn.execute(
                "INSERT INTO tenants VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING 1",
                (tenant, f"Clinic {i + 1}")).fetchone()
            if not inserted:
                continue
            for d in range(SEED_DEALS):
                conn.execute(
                    "INSERT INTO \"Deal\" (tenant_id, title, stage, amount, patient_name_enc, "
                    "diagnosis_enc, key_id) SELECT %s, %s, 'open', %s, "
                    "encrypt_phi(%s, k), encrypt_phi(%s, k), k FROM active_key_id() k",
                    (tenant, f"Deal {d}", 1000 + d, _NAMES[d % len(_NAMES)],
                     _DIAGNOSES[d % len(_DIAGNOSES)]))
            for c in range(SEED_CONTACTS):
                conn.execute(
                    "INSERT INTO \"Contact\" (tenant_id, email_enc, phone_enc, key_id) "
                    "SELECT %s, encrypt_phi(%s, k), encrypt_phi(%s, k), k FROM active_key_id() k",
                    (tenant, f"person{c}@example.invalid", f"555-01{c:02d}"))
