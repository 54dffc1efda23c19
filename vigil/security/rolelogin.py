"""A throwaway login role for the containment test: created with a random password that is
sent to the server only as a SCRAM-SHA-256 verifier (what psql's \\password does), so neither
the statement nor a server log ever holds the password; dropped with its sessions after."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from vigil.core import pg
from vigil.core.errors import VigilError
from vigil.security.scope import Conn

_ITERATIONS = 4096


def scram_verifier(password: str, salt: bytes, iterations: int = _ITERATIONS) -> str:
    """RFC 5802/7677 stored form, as PostgreSQL keeps it in pg_authid (ASCII passwords: no
    SASLprep needed)."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def create_login(conn: Conn, role: str) -> str:
    """Create ``role`` (LOGIN, nothing else); returns its password, kept in memory only."""
    secret = secrets.token_urlsafe(24)
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD {}").format(
        sql.Identifier(role), sql.Literal(scram_verifier(secret, secrets.token_bytes(16)))))
    # Its own CONNECT, as an application login has where PUBLIC's was revoked: containment
    # must take it away and release give it back (DROP OWNED removes it at the end).
    conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
        sql.Identifier(conn.info.dbname), sql.Identifier(role)))
    return secret


def login(dsn: str, role: str, secret: str) -> psycopg.Connection[tuple[object, ...]]:
    """A session as ``role`` on the same server and database; VigilError when refused."""
    params = {k: v for k, v in conninfo_to_dict(dsn).items() if k not in ("user", "password")}
    try:
        return psycopg.connect(make_conninfo("", **params), user=role, password=secret,
                               autocommit=True, connect_timeout=5,
                               application_name="vigil-security-test")
    except psycopg.OperationalError:
        raise VigilError(f"login as {role} refused") from None


def drop_login(dsn: str, role: str) -> None:
    with pg.connect(dsn, application_name="vigil-security-test") as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            return
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                     (role,))
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
