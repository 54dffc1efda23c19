"""Containment fixtures: one demo database per module (setting it up costs seconds), and
throwaway login roles that never outlive the test."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import yaml
from support.polling import child, free_port, wait_for

from router.migrate import migrate
from vigil import demo
from vigil.core import httpclient, pg
from vigil.demo.app import role_dsn

REPO = Path(__file__).resolve().parents[2]
TOKEN = "contain-test-token"
# The console's responders (a second one approves a P1 containment as themselves).
CONSOLE_USERS = {"alice": "alice-console-pass", "bob": "bob-console-pass"}


@pytest.fixture(scope="module")
def demo_mod(admin_dsn: str) -> Iterator[demo.DemoInfo]:
    name = f"vigil_contain_{uuid.uuid4().hex[:10]}"
    pg.ensure_database(admin_dsn, name)
    try:
        yield demo.setup(admin_dsn, name, tenants=3)
    finally:
        pg.drop_database(admin_dsn, name)


@pytest.fixture
def login_role(admin_dsn: str, demo_mod: demo.DemoInfo) -> Iterator[Callable[[], tuple[str, str]]]:
    """Factory: a new LOGIN role with its own CONNECT on the demo database -> (name, dsn)."""
    made: list[str] = []

    def factory() -> tuple[str, str]:
        name = f"vigil_suspect_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(demo_mod.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE ROLE {name} LOGIN'.encode())
            conn.execute(f'GRANT CONNECT ON DATABASE {demo_mod.dbname} TO {name}'.encode())
        made.append(name)
        return name, role_dsn(demo_mod.admin_dsn, name)

    yield factory
    with psycopg.connect(demo_mod.admin_dsn, autocommit=True) as conn:
        for name in made:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE usename = %s", (name,))
            conn.execute(f"REVOKE ALL ON DATABASE {demo_mod.dbname} FROM {name}".encode())
            conn.execute(f"DROP ROLE IF EXISTS {name}".encode())


@dataclass
class RouterProc:
    """A real ``vigil router`` process on its own database, restartable: containment state
    must survive it."""
    config: Path
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RouterProc:
        env = {**os.environ, "VIGIL_SINK_URL": "http://127.0.0.1:9",
               "VIGIL_ROUTER_TOKEN": TOKEN}
        with self.log.open("ab") as out:
            self.proc = child(
                [sys.executable, "-m", "vigil.cli", "router", "--config", str(self.config)],
                cwd=REPO, env=env, stdout=out, stderr=out)

        def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            return httpclient.is_healthy(self.url + "/-/ready", timeout=2)
        wait_for(ready, timeout=20, describe="router ready")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def router_proc(admin_dsn: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[RouterProc]:
    name = f"vigil_contain_router_{uuid.uuid4().hex[:8]}"
    pg.ensure_database(admin_dsn, name)
    dsn = pg.with_dbname(admin_dsn, name)
    migrate(dsn)
    tmp = tmp_path_factory.mktemp("router")
    port = free_port()
    cfg = tmp / "router.yml"
    cfg.write_text(yaml.safe_dump({
        "listen": {"host": "127.0.0.1", "port": port}, "public_url": f"http://127.0.0.1:{port}",
        "database": {"dsn": dsn, "pool_min": 1, "pool_max": 4},
        "auth": {"bearer_token": "${VIGIL_ROUTER_TOKEN}"},
        "escalation_file": str(REPO / "config" / "escalation.yml"),
        # the shipped escalation names the on-call schedule (P3), so its file comes along
        "oncall_file": str(REPO / "config" / "oncall.yml"),
        "console": {"secret": "contain-test-console-secret-0123456789", "users": {
            u: {"password": p, "role": "responder"} for u, p in CONSOLE_USERS.items()}}}))
    router = RouterProc(cfg, port, tmp / "router.log").start()
    try:
        yield router
    finally:
        router.stop()
        pg.drop_database(admin_dsn, name)
