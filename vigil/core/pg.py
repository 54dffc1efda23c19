"""Small PostgreSQL helpers shared by the CLI, the demo and the tests."""

from __future__ import annotations

import os

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from vigil.core.errors import DatabaseUnavailable, VigilError
from vigil.core.secrets import redact_dsn, register_dsn

DEFAULT_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_DEMO_DB = "vigil_demo"


def admin_dsn() -> str:
    """The superuser DSN used to install schemas; ``VIGIL_ADMIN_DSN`` overrides it."""
    dsn = os.environ.get("VIGIL_ADMIN_DSN", DEFAULT_ADMIN_DSN)
    register_dsn(dsn)
    return dsn


def demo_db() -> str:
    """The demo database's name: ``VIGIL_DEMO_DB``, else vigil_demo. A second stack on the
    same server (a test's private one) names its own, and the commands without --dsn follow."""
    return os.environ.get("VIGIL_DEMO_DB") or DEFAULT_DEMO_DB


def demo_dsn(admin: str | None = None, dbname: str | None = None) -> str:
    """The admin DSN on the demo database: what `vigil check`, `vigil audit` and the stack
    read when no --dsn is given."""
    return with_dbname(admin or admin_dsn(), dbname or demo_db())


def with_dbname(dsn: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    try:
        return make_conninfo(dsn, dbname=dbname)
    except psycopg.ProgrammingError:
        raise VigilError("the DSN is malformed; check its syntax (password hidden)") from None


def dbname_of(dsn: str) -> str:
    try:
        return str(conninfo_to_dict(dsn).get("dbname", ""))
    except psycopg.ProgrammingError:
        raise VigilError("the DSN is malformed; check its syntax (password hidden)") from None


def connect(dsn: str, *, autocommit: bool = True, application_name: str = "vigil",
            connect_timeout: int = 5) -> psycopg.Connection[tuple[object, ...]]:
    """Connect, turning failures into a DatabaseUnavailable that never shows the password."""
    register_dsn(dsn)
    try:
        return psycopg.connect(dsn, autocommit=autocommit, application_name=application_name,
                               connect_timeout=connect_timeout)
    except psycopg.ProgrammingError:
        raise VigilError("the DSN is malformed; check its syntax (password hidden)") from None
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "no answer"
        raise DatabaseUnavailable(
            f"cannot connect to {redact_dsn(dsn)}: {redact_dsn(reason)}. "
            "Is PostgreSQL running (pg_ctlcluster --skip-systemctl-redirect 15 main start)?"
        ) from None


def ensure_database(admin: str, dbname: str) -> bool:
    """Create ``dbname`` if missing. Returns True if it was created."""
    with connect(admin) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        return True


def drop_database(admin: str, dbname: str) -> None:
    with connect(admin) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(dbname)))
