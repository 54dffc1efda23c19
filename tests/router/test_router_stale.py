"""Alerts Alertmanager stops re-sending (silenced/inhibited: no resolve, Alertmanager #226;
restarted without state) are resolved after their level's stale_after, on the ManualClock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from router_helpers import REPO, Router, am_alert, am_payload

from router.config import load_escalation
from router.keys import METRICS
from router.matrix import Matrix
from vigil.core.errors import ConfigError


async def _post(router: Router, alert: dict[str, Any]) -> None:
    resp = await router.post(am_payload(alert))
    assert resp.status == 200, await resp.text()


def _ids(router: Router, name: str) -> list[int]:
    return [int(r[0]) for r in router.sql(
        "SELECT id FROM vigil_router.alerts WHERE alertname = %s ORDER BY id", name)]


async def _timeline(router: Router, aid: int) -> list[dict[str, Any]]:
    status, tl = await router.api("GET", f"/api/v1/alerts/{aid}/timeline")
    assert status == 200
    events: list[dict[str, Any]] = tl["events"]
    return events


def _stale_count(router: Router, severity: str) -> float:
    metrics = router.client.server.app[METRICS]
    return float(metrics.stale_resolved.labels(severity)._value.get())


async def test_p1_not_resent_for_stale_after_is_resolved_as_stale(router: Router) -> None:
    await _post(router, am_alert("Inhibited", "P1"))
    [aid] = _ids(router, "Inhibited")
    await router.run()
    await router.advance(minutes=15)
    await router.advance(minutes=15)
    assert router.sink.targets("escalation", aid) == ["cto", "cto", "security-team"]
    await router.advance(minutes=4, seconds=59)          # 34m59s since the last sighting
    _, alert = await router.api("GET", f"/api/v1/alerts/{aid}")
    assert alert["status"] == "open"
    assert router.sink.targets("resolved", aid) == []
    await router.advance(minutes=1, seconds=1)           # 36m: older than P1's 35m
    _, alert = await router.api("GET", f"/api/v1/alerts/{aid}")
    assert alert["status"] == "resolved" and alert["resolved_by"] == "router"
    resolved = [e for e in await _timeline(router, aid) if e["kind"] == "resolved"]
    assert len(resolved) == 1 and resolved[0]["actor"] == "router"
    detail = resolved[0]["detail"]
    assert detail["reason"] == "stale: not re-sent by Alertmanager for 35m"
    assert detail["time_to_resolve_seconds"] == 36 * 60
    assert detail["within_response_time"] is False
    assert detail["cancelled_steps"] == 2                # the CTO repeats at 45m and 60m
    assert router.sink.targets("resolved", aid) == ["cto", "legal", "security-team"]
    assert _stale_count(router, "P1") == 1
    await router.advance(hours=3)                        # no more pages, no second resolve
    assert router.sink.targets("escalation", aid) == ["cto", "cto", "security-team"]
    assert router.sink.targets("resolved", aid) == ["cto", "legal", "security-team"]
    assert all(n == 1 for n in router.sink.keys().values())
    assert _stale_count(router, "P1") == 1


async def test_alert_resent_within_stale_after_stays_open(router: Router) -> None:
    alert = am_alert("StillFiring", "P1")
    await _post(router, alert)
    [aid] = _ids(router, "StillFiring")
    await router.run()
    for _ in range(8):                                   # Alertmanager's repeat_interval: 15m
        await router.advance(minutes=15)
        await _post(router, alert)
    await router.advance(minutes=34)                     # 2h34m in, 34m after the last re-send
    _, body = await router.api("GET", f"/api/v1/alerts/{aid}")
    assert body["status"] == "open" and body["duplicates"] == 8
    assert router.sink.targets("escalation", aid) == ["cto"] * 4 + ["security-team"]
    assert router.sink.targets("resolved", aid) == []
    assert _stale_count(router, "P1") == 0
    await router.advance(minutes=2)                      # now 36m since the last re-send
    _, body = await router.api("GET", f"/api/v1/alerts/{aid}")
    assert body["status"] == "resolved" and body["resolved_by"] == "router"


async def test_acked_alert_goes_stale_after_its_levels_threshold(router: Router) -> None:
    await _post(router, am_alert("AckedSilenced", "P2"))
    [aid] = _ids(router, "AckedSilenced")
    await router.run()
    await router.api("POST", f"/api/v1/alerts/{aid}/ack", json={"who": "alice"})
    await router.advance(hours=2, minutes=14)
    _, body = await router.api("GET", f"/api/v1/alerts/{aid}")
    assert body["status"] == "acked"
    await router.advance(minutes=2)
    _, body = await router.api("GET", f"/api/v1/alerts/{aid}")
    assert body["status"] == "resolved"
    [ev] = [e for e in await _timeline(router, aid) if e["kind"] == "resolved"]
    assert ev["detail"]["reason"] == "stale: not re-sent by Alertmanager for 2h15m"
    assert router.sink.targets("resolved", aid) == ["security-team"]
    assert _stale_count(router, "P2") == 1


async def test_resend_after_stale_opens_a_new_alert_linked_to_the_stale_one(
        router: Router) -> None:
    alert = am_alert("Forgotten", "P1")
    await _post(router, alert)
    [old] = _ids(router, "Forgotten")
    await router.run()
    await router.advance(minutes=36)
    _, body = await router.api("GET", f"/api/v1/alerts/{old}")
    assert body["status"] == "resolved"
    # Alertmanager (restarted without state, or the silence lifted) sends it again: a new
    # alert instance, escalated from the start, both timelines naming the other.
    await _post(router, alert)
    old_again, new = _ids(router, "Forgotten")
    assert old_again == old
    _, body = await router.api("GET", f"/api/v1/alerts/{new}")
    assert body["status"] == "open"
    received = (await _timeline(router, new))[0]
    assert received["kind"] == "received" and received["detail"]["after_stale_alert"] == old
    assert (await _timeline(router, old))[-1]["kind"] == "resent_after_stale"
    assert (await _timeline(router, old))[-1]["detail"] == {"new_alert": new}
    await router.run()
    assert router.sink.targets("escalation", new) == ["security-team"]
    # A re-send of it is a duplicate of the new one; its resolve resolves the new one.
    await _post(router, alert)
    _, body = await router.api("GET", f"/api/v1/alerts/{new}")
    assert body["duplicates"] == 1
    await _post(router, am_alert("Forgotten", "P1", status="resolved"))
    _, body = await router.api("GET", f"/api/v1/alerts/{new}")
    assert body["status"] == "resolved" and body["resolved_by"] == "alertmanager"
    assert _ids(router, "Forgotten") == [old, new]


async def test_resolve_after_stale_is_a_duplicate_not_a_new_alert(router: Router) -> None:
    await _post(router, am_alert("LateResolve", "P1"))
    [aid] = _ids(router, "LateResolve")
    await router.run()
    await router.advance(minutes=36)
    resolved_notices = router.sink.targets("resolved", aid)
    assert resolved_notices == ["cto", "legal", "security-team"]
    await _post(router, am_alert("LateResolve", "P1", status="resolved"))
    await router.run()
    assert _ids(router, "LateResolve") == [aid]
    tl = await _timeline(router, aid)
    assert tl[-1]["kind"] == "duplicate_suppressed"
    assert tl[-1]["detail"] == {"status": "resolved"}
    assert router.sink.targets("resolved", aid) == resolved_notices


def test_shipped_stale_after_is_twice_the_repeat_interval_plus_margin() -> None:
    matrix = Matrix(load_escalation(REPO / "config" / "escalation.yml", env={}))
    assert {lv: matrix.stale_after(lv) for lv in ("P1", "P2", "P3", "P4")} == {
        "P1": 35 * 60, "P2": 2 * 3600 + 15 * 60, "P3": 8 * 3600 + 30 * 60, "P4": 2 * 86400}
    am = yaml.safe_load((REPO / "prometheus" / "alertmanager.yml").read_text())
    from vigil.core.durations import parse as parse_duration
    repeat = {r["matchers"][0].split('"')[1]: parse_duration(r["repeat_interval"])
              for r in am["route"]["routes"]}
    for lv, interval in repeat.items():
        assert matrix.stale_after(lv) >= 2 * interval   # two re-sends missed, at least


def test_stale_after_defaults_when_omitted(tmp_path: Path) -> None:
    doc = yaml.safe_load((REPO / "config" / "escalation.yml").read_text())
    for level in doc["levels"].values():
        level.pop("stale_after", None)
    path = tmp_path / "escalation.yml"
    path.write_text(yaml.safe_dump(doc))
    matrix = Matrix(load_escalation(path, env={}))
    assert matrix.stale_after("P1") == 35 * 60 and matrix.stale_after("P4") == 2 * 86400


@pytest.mark.parametrize(("value", "words"), [
    ("0s", "must be positive"), ("-5m", "invalid duration"), ("soon", "invalid duration")])
def test_bad_stale_after_fails_at_load_with_its_yaml_path(
        tmp_path: Path, value: str, words: str) -> None:
    doc = yaml.safe_load((REPO / "config" / "escalation.yml").read_text())
    doc["levels"]["P2"]["stale_after"] = value
    path = tmp_path / "escalation.yml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as exc:
        load_escalation(path, env={})
    assert "levels.P2.stale_after" in str(exc.value) and words in str(exc.value)
