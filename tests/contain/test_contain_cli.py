"""``vigil incident contain|approve|release`` end to end: a real router process, the demo
database, every command in a new process (state lives in PostgreSQL, not in vigil)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import psycopg
import pytest
from pghelpers import one

from router.client_cli import RouterClient
from vigil import cli, demo

from .conftest import REPO, TOKEN, RouterProc


def vigil(*argv: str) -> tuple[int, str]:
    """The CLI in a new process, as an operator runs it."""
    env = {**os.environ, "VIGIL_ROUTER_TOKEN": TOKEN}
    proc = subprocess.run([sys.executable, "-m", "vigil.cli", *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def _incident(router: RouterProc, severity: str) -> int:
    doc = RouterClient(router.url, TOKEN).post("/api/v1/incidents", {
        "type": "breach", "severity": severity, "description": "d", "created_by": "alice"})
    return int(doc["id"])


def test_dry_run_prints_the_exact_sql_and_effect_and_changes_nothing(
        demo_mod: demo.DemoInfo, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["incident", "contain", "7", "--tenant", "tenant-3", "--dry-run",
                     "--dsn", demo_mod.admin_dsn, "--who", "alice", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["dry_run"]
    sqls = [s["sql"] for s in doc["plan"]["steps"]]
    assert any(s.startswith('CREATE POLICY "vigil_contain" ON "public"."Deal" AS RESTRICTIVE')
               and "'{tenant-3}'" in s for s in sqls), sqls
    assert all(s["effect"] for s in doc["plan"]["steps"])
    assert one(demo_mod.admin_dsn, "SELECT count(*) FROM pg_policy "
               "WHERE polname = 'vigil_contain'") == (0,)
    assert one(demo_mod.admin_dsn, "SELECT count(*) FROM vigil_monitor.containments") == (0,)
    # A target that does not exist is a usage error naming the flag.
    code = cli.main(["incident", "contain", "7", "--role", "no_such_role_x", "--dry-run",
                     "--dsn", demo_mod.admin_dsn])
    assert code == 2 and "--role" in capsys.readouterr().err


def test_p1_containment_waits_for_a_second_responder_and_survives_restarts(
        demo_mod: demo.DemoInfo, router_proc: RouterProc,
        login_role: Callable[[], tuple[str, str]]) -> None:
    role, dsn = login_role()
    iid = _incident(router_proc, "P1")
    common = ["--url", router_proc.url, "--dsn", demo_mod.admin_dsn]
    sessions = [psycopg.connect(dsn, autocommit=True) for _ in range(5)]

    code, out = vigil("incident", "contain", str(iid), "--role", role, "--who", "alice", *common)
    assert code == 1 and "refused" in out and f"approve {iid} role:{role}" in out, out
    assert one(demo_mod.admin_dsn, "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s",
               (role,)) == (True,)
    sessions[0].execute("SELECT 1")   # nothing ran

    code, out = vigil("incident", "approve", str(iid), f"role:{role}", "--who", "alice",
                      "--url", router_proc.url)
    assert code == 1 and "other than the requester" in out, out
    code, out = vigil("incident", "approve", str(iid), f"role:{role}", "--who", "bob",
                      "--url", router_proc.url)
    assert code == 0, out

    router_proc.stop()
    router_proc.start()
    code, out = vigil("incident", "contain", str(iid), "--role", role, "--who", "alice",
                      "--timeout", "5s", *common)
    assert code == 0 and "verified contained: ok" in out, out
    for conn in sessions:
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
        conn.close()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=5)

    # Idempotent, from a new process.
    code, out = vigil("incident", "contain", str(iid), "--role", role, "--who", "alice", *common)
    assert code == 0 and "contained already" in out, out

    code, out = vigil("incident", "release", str(iid), "--who", "alice", *common)
    assert code == 0 and "verified released: ok" in out, out
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        conn.execute("SELECT 1")
    code, out = vigil("incident", "release", str(iid), "--role", role, *common)
    assert code == 0 and "not contained" in out, out

    events = RouterClient(router_proc.url, TOKEN).get(f"/api/v1/incidents/{iid}/timeline")
    kinds = [e["kind"] for e in events["events"]]
    assert kinds[-4:] == ["containment_requested", "containment_approved", "contained",
                          "released"], kinds
    code, out = vigil("incident", "containments", str(iid), "--url", router_proc.url)
    assert code == 0 and f"role:{role}" in out and "released" in out, out
