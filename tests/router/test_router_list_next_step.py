"""#11: `vigil status` finds the next escalation due in one request: each listed alert
carries its earliest pending step (before, status asked /context once per open alert)."""

from __future__ import annotations

from router_helpers import Router, am_alert, am_payload


async def test_each_listed_alert_carries_its_earliest_pending_step(router: Router) -> None:
    await router.post(am_payload(am_alert("A", "P2"), am_alert("B", "P3")))
    await router.run()
    _, body = await router.api("GET", "/api/v1/alerts?status=unresolved")
    listed = {a["alertname"]: a for a in body["alerts"]}
    for name, alert in listed.items():
        _, ctx = await router.api("GET", f"/api/v1/alerts/{alert['id']}/context")
        pending = sorted((p for p in ctx["plan"] if p["kind"] == "step"
                          and p["state"] == "pending"), key=lambda p: (p["due_at"], p["step_no"]))
        step = alert["next_step"]
        if not pending:  # a single-step level has nothing left after step 1
            assert step is None, name
            continue
        assert (step["step_no"], step["targets"]) == (pending[0]["step_no"],
                                                      pending[0]["targets"]), name
    await router.api("POST", f"/api/v1/alerts/{listed['A']['id']}/ack", json={"who": "dana"})
    _, body = await router.api("GET", "/api/v1/alerts?status=acked")
    assert [a["next_step"] for a in body["alerts"]] == [None]  # an ack stops the escalation

