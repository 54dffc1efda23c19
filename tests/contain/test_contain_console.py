"""The whole approval path with a real identity: ``vigil incident contain`` asks for a P1
containment and is refused; the requester can't approve it in the console; a second responder
approves it there, logged in as themselves; the same ``vigil incident contain`` then runs it."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from pghelpers import one
from support.console import console_session

from router.client_cli import RouterClient
from vigil import demo

from .conftest import CONSOLE_USERS, TOKEN, RouterProc
from .test_contain_cli import vigil


def test_a_p1_containment_approved_in_the_console_runs_on_the_next_contain(
        demo_mod: demo.DemoInfo, router_proc: RouterProc,
        login_role: Callable[[], tuple[str, str]]) -> None:
    role, dsn = login_role()
    api = RouterClient(router_proc.url, TOKEN)
    iid = int(api.post("/api/v1/incidents", {"type": "breach", "severity": "P1",
                                              "description": "d", "created_by": "alice"})["id"])
    contain = ["incident", "contain", str(iid), "--role", role, "--who", "alice",
               "--url", router_proc.url, "--dsn", demo_mod.admin_dsn]

    code, out = vigil(*contain)
    assert code == 1 and "refused" in out, out
    assert f"{router_proc.url}/console/incidents/{iid}" in out, out   # where to approve
    assert one(demo_mod.admin_dsn, "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s",
               (role,)) == (True,)
    [row] = api.get(f"/api/v1/incidents/{iid}/containments")["containments"]
    page = f"{router_proc.url}/console/incidents/{iid}"
    approve = f"{page}/containments/{row['id']}/approve"

    # The requester, in the console: no button, and the POST is refused.
    alice, csrf = console_session(router_proc.url, "alice", CONSOLE_USERS["alice"])
    assert f'id="approve-{row["id"]}"' not in alice.get(page, timeout=10).text
    refused = alice.post(approve, data={"csrf": csrf}, timeout=10)
    assert refused.status_code == 409 and "you (alice) requested this containment" in \
        refused.text
    bob, csrf = console_session(router_proc.url, "bob", CONSOLE_USERS["bob"])
    assert f'id="approve-{row["id"]}"' in bob.get(page, timeout=10).text
    assert bob.post(approve, data={"csrf": csrf}, timeout=10).ok

    code, out = vigil(*contain, "--timeout", "5s")
    assert code == 0 and "verified contained: ok" in out, out
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=5)
    events = api.get(f"/api/v1/incidents/{iid}/timeline")["events"]
    approved = [(e["actor"], e["detail"]["via"]) for e in events
                if e["kind"] == "containment_approved"]
    assert approved == [("bob", "console")], events
    code, out = vigil("incident", "release", str(iid), "--who", "alice",
                      "--url", router_proc.url, "--dsn", demo_mod.admin_dsn)
    assert code == 0 and "verified released: ok" in out, out
