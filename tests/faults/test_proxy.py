"""The fault proxy itself, against the real PostgreSQL: each fault does what it says."""

from __future__ import annotations

import socket
import struct
import threading
import time

import psycopg
import pytest

from faults.proxy import FaultProxy
from vigil.core import pg


@pytest.fixture
def proxy(admin_dsn: str) -> FaultProxy:
    port = int(psycopg.conninfo.conninfo_to_dict(admin_dsn).get("port") or 5432)
    with FaultProxy(port) as p:
        yield p  # type: ignore[misc]


def _dsn(admin_dsn: str, proxy: FaultProxy) -> str:
    return psycopg.conninfo.make_conninfo(admin_dsn, host="127.0.0.1", port=proxy.port,
                                          connect_timeout=2)


def test_passes_queries_through(admin_dsn: str, proxy: FaultProxy) -> None:
    with pg.connect(_dsn(admin_dsn, proxy)) as conn:
        assert conn.execute("SELECT 41 + 1").fetchone() == (42,)


def test_refuse_resets_open_connections_and_refuses_new_until_healed(
        admin_dsn: str, proxy: FaultProxy) -> None:
    conn = psycopg.connect(_dsn(admin_dsn, proxy), autocommit=True)
    proxy.refuse()
    with pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError, match="refused"):
        psycopg.connect(_dsn(admin_dsn, proxy))
    proxy.heal()
    with psycopg.connect(_dsn(admin_dsn, proxy)) as again:
        assert again.execute("SELECT 1").fetchone() == (1,)


def test_pause_holds_bytes_and_heal_delivers_them(admin_dsn: str, proxy: FaultProxy) -> None:
    conn = psycopg.connect(_dsn(admin_dsn, proxy), autocommit=True)
    proxy.pause()
    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(conn.execute("SELECT 7").fetchone()))
    t.start()
    t.join(0.5)
    assert t.is_alive() and not result  # held back, not failed
    proxy.heal()
    t.join(5)
    assert result == [(7,)]
    conn.close()


def _ssl_probe(sock: socket.socket) -> bytes:
    """PostgreSQL answers an SSLRequest with one byte ('S' or 'N') before any auth."""
    sock.sendall(struct.pack("!ii", 8, 80877103))
    return sock.recv(1)


def test_freeze_blackholes_open_connections_for_good(proxy: FaultProxy) -> None:
    old = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    assert _ssl_probe(old) in (b"S", b"N")
    old.close()
    frozen = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    time.sleep(0.1)  # let the proxy open its upstream leg before the freeze
    proxy.freeze()
    frozen.settimeout(0.5)
    with pytest.raises(TimeoutError):  # silence, not an error or a close
        _ssl_probe(frozen)
    proxy.heal()
    with pytest.raises(TimeoutError):  # still dead after the heal, as a vanished peer stays
        frozen.recv(1)
    fresh = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    assert _ssl_probe(fresh) in (b"S", b"N")
    fresh.close()
    frozen.close()
