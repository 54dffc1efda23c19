"""An installed vigil_monitor with one audited table, a key and a checkpoint file."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vigil import schema
from vigil.audit import checkpoints, sealer
from vigil.audit.service import Sealer, SealerConfig
from vigil.core import pg
from vigil.demo.app import role_dsn
from vigil.schema.contract import DEFAULT_SEALER_ROLE

KEY = b"test-audit-key-0123456789abcdef-0123456789"


@dataclass
class Audited:
    dsn: str            # superuser, in the test database
    sealer_dsn: str     # logs in as vigil_sealer (only its grants)
    key: bytes
    checkpoint_file: Path

    def write(self, n: int = 1, name: str = "x") -> None:
        with pg.connect(self.dsn) as conn:
            for _ in range(n):
                conn.execute("INSERT INTO public.items (tenant_id, name) VALUES ('t1', %s)",
                             (name,))

    def seal(self) -> int:
        with pg.connect(self.sealer_dsn) as conn:
            assert sealer.try_lock(conn)
            try:
                return sealer.seal_pending(conn, self.key, self.checkpoint_file, batch=4)
            finally:
                sealer.unlock(conn)

    def checkpoints(self) -> list[checkpoints.Checkpoint]:
        return checkpoints.read(self.checkpoint_file)

    @contextlib.contextmanager
    def sealing(self, sealer_id: str, **config: Any) -> Iterator[threading.Thread]:
        """A `vigil audit seal` loop in a thread (interval 0.1 s), stopped on the way out
        the way SIGTERM stops it (the same event)."""
        stop = threading.Event()
        cfg = SealerConfig(self.sealer_dsn, self.key, self.checkpoint_file,
                           **{"interval": 0.1, **config}, sealer_id=sealer_id)
        t = threading.Thread(target=Sealer(cfg, stop).run)
        t.start()
        try:
            yield t
        finally:
            stop.set()
            t.join(10)


def make_audited(dsn: str, tmp: Path) -> Audited:
    schema.install(dsn)
    with pg.connect(dsn) as conn:
        conn.execute("CREATE TABLE public.items (id serial PRIMARY KEY, tenant_id text, name text)")
        conn.execute("SELECT vigil_monitor.enable_audit('public.items')")
    return Audited(dsn, role_dsn(dsn, DEFAULT_SEALER_ROLE), KEY, tmp / "checkpoints.jsonl")


@pytest.fixture
def audited(fresh_db: str, tmp_path: Path) -> Audited:
    return make_audited(fresh_db, tmp_path)


@pytest.fixture
def sealed_chain(audited: Audited) -> Callable[[int], Audited]:
    """``sealed_chain(n)``: n audited writes sealed (checkpoints every 4 rows)."""
    def build(n: int) -> Audited:
        audited.write(n)
        from pghelpers import wait_for
        wait_for(audited.seal, lambda _: _buffer_empty(audited.dsn))
        return audited
    return build


def _buffer_empty(dsn: str) -> bool:
    with pg.connect(dsn) as conn:
        return conn.execute("SELECT 1 FROM vigil_monitor.audit_buffer LIMIT 1").fetchone() is None


def tamper(dsn: str, *stmts: str, params: tuple[object, ...] = ()) -> None:
    """Behind the append-only triggers' back, as a superuser would."""
    with pg.connect(dsn) as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        for stmt in stmts:
            conn.execute(stmt.encode(), params or None)
