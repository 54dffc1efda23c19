"""The router's containment API: a P1 action runs only after a second responder approved it
(not the requester), each step lands on the incident's timeline, requests are idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from router_helpers import REPO, Router

from router.config import load_escalation
from vigil.core.errors import ConfigError

OK = {"verification": {"ok": True, "checks": []}}


async def _incident(router: Router, severity: str) -> int:
    status, inc = await router.api("POST", "/api/v1/incidents", json={
        "type": "breach", "severity": severity, "description": "d", "created_by": "alice"})
    assert status == 201
    return int(inc["id"])


def _ask(kind: str = "role", target: str = "suspect", who: str = "alice") -> dict[str, Any]:
    return {"database": "appdb", "kind": kind, "target": target, "who": who,
            "plan": [{"sql": "ALTER ROLE suspect NOLOGIN", "effect": "no new logins"}]}


async def test_p1_containment_is_refused_until_a_second_responder_approves(
        router: Router) -> None:
    iid = await _incident(router, "P1")
    base = f"/api/v1/incidents/{iid}/containments"
    status, row = await router.api("POST", base, json=_ask())
    assert status == 201 and row["approvals_needed"] == 1 and not row["approved"]
    assert row["state"] == "awaiting_approval"
    status, body = await router.api("POST", f"{base}/{row['id']}/contained", json=OK)
    assert status == 409 and "approval" in body["error"]
    # The requester can't approve their own action.
    status, body = await router.api("POST", f"{base}/{row['id']}/approve", json={"who": "alice"})
    assert status == 409 and body["field"] == "who"
    status, row2 = await router.api("POST", f"{base}/{row['id']}/approve", json={"who": "bob"})
    assert status == 200 and row2["approved"] and row2["approved_by"] == ["bob"]
    # Approving twice counts once.
    status, row2 = await router.api("POST", f"{base}/{row['id']}/approve", json={"who": "bob"})
    assert status == 200 and row2["approved_by"] == ["bob"]
    # Requesting again is idempotent: the same action, still approved.
    status, again = await router.api("POST", base, json=_ask())
    assert status == 200 and again["id"] == row["id"] and again["approved"]
    status, done = await router.api("POST", f"{base}/{row['id']}/contained", json=OK)
    assert status == 200 and done["state"] == "contained"
    status, rel = await router.api("POST", f"{base}/{row['id']}/released", json=OK)
    assert status == 200 and rel["state"] == "released"
    status, body = await router.api("POST", f"{base}/{row['id']}/released", json=OK)
    assert status == 409
    _, tl = await router.api("GET", f"/api/v1/incidents/{iid}/timeline")
    kinds = [e["kind"] for e in tl["events"]]
    assert kinds[-4:] == ["containment_requested", "containment_approved", "contained",
                          "released"], kinds
    # The API's approver is the name the caller gave (the token is shared): the timeline says
    # so, unlike the console's (tests/console/test_console_containment.py).
    [approved] = [e for e in tl["events"] if e["kind"] == "containment_approved"]
    assert approved["actor"] == "bob" and approved["detail"]["via"] == "api"
    _, listing = await router.api("GET", base)
    assert [c["state"] for c in listing["containments"]] == ["released"]


async def test_lower_levels_need_no_approval_and_bad_input_names_the_field(
        router: Router) -> None:
    iid = await _incident(router, "P3")
    base = f"/api/v1/incidents/{iid}/containments"
    status, row = await router.api("POST", base, json=_ask("tenant", "t-1"))
    assert status == 201 and row["approved"] and row["approvals_needed"] == 0
    status, body = await router.api("POST", base, json={**_ask(), "kind": "table"})
    assert status == 400 and body["field"] == "kind"
    status, body = await router.api("POST", base, json={**_ask(), "target": ""})
    assert status == 400 and body["field"] == "target"
    status, body = await router.api("POST", f"{base}/{row['id']}/contained", json={})
    assert status == 400 and body["field"] == "verification"
    status, _ = await router.api("POST", "/api/v1/incidents/999999/containments", json=_ask())
    assert status == 404
    status, _ = await router.api("POST", f"{base}/999999/approve", json={"who": "bob"})
    assert status == 404


def test_containment_approvals_are_validated_with_their_yaml_path(tmp_path: Path) -> None:
    doc = yaml.safe_load((REPO / "config" / "escalation.yml").read_text())
    assert load_escalation(REPO / "config" / "escalation.yml",
                           env={}).levels["P1"].approvals("P1") == 1
    doc["levels"]["P2"]["containment_approvals"] = 9
    path = tmp_path / "escalation.yml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=r"levels\.P2\.containment_approvals"):
        load_escalation(path, env={})
    del doc["levels"]["P1"]["containment_approvals"]
    doc["levels"]["P2"]["containment_approvals"] = 2
    path.write_text(yaml.safe_dump(doc))
    esc = load_escalation(path, env={})
    assert esc.levels["P1"].approvals("P1") == 1 and esc.levels["P2"].approvals("P2") == 2
    assert esc.levels["P3"].approvals("P3") == 0
