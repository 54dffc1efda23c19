from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from support.polling import child, free_port, wait_for

from vigil.core import httpclient
from vigil.core.clock import ManualClock
from vigil.sink.app import create_app
from vigil.sink.store import Page, PageStore

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
async def client(aiohttp_client: ClientFactory, lines: list[str],
                 clock: ManualClock) -> TestClient[Any, Any]:
    def echo(page: Page) -> None:
        lines.append(page.line())

    return await aiohttp_client(create_app(PageStore(), clock=clock, echo=echo))


async def test_webhook_delivery_records_target_step_time_and_key(
        client: TestClient[Any, Any], clock: ManualClock, lines: list[str]) -> None:
    body = {"step": 1, "severity": "P1", "kind": "notify",
            "alert": {"id": 7, "labels": {"alertname": "VigilAuditChainBroken"}}}
    resp = await client.post("/hook/security-team", json=body,
                             headers={"Idempotency-Key": "a7-s1-security-team"})
    assert resp.status == 200
    clock.advance(minutes=1)
    await client.post("/hook/cto", json={**body, "step": 2},
                      headers={"Idempotency-Key": "a7-s2-cto"})

    pages = (await (await client.get("/api/pages")).json())["pages"]
    assert [(p["target"], p["step"], p["idempotency_key"]) for p in pages] == [
        ("security-team", 1, "a7-s1-security-team"), ("cto", 2, "a7-s2-cto")]
    assert pages[0]["severity"] == "P1"
    assert pages[0]["alertname"] == "VigilAuditChainBroken"
    assert pages[0]["alert_id"] == "7"
    assert pages[0]["received_at"] == "2026-03-01T12:00:00+00:00"
    assert pages[1]["received_at"] == "2026-03-01T12:01:00+00:00"
    assert len(lines) == 2
    assert "security-team" in lines[0] and "step=1" in lines[0] and "P1" in lines[0]
    assert "key=a7-s2-cto" in lines[1]


async def test_facts_are_read_from_body_when_headers_are_absent(
        client: TestClient[Any, Any]) -> None:
    await client.post("/hook", json={"target": "legal", "step": "3", "idempotency_key": "k1",
                                     "alertname": "X", "severity": "P1"})
    (page,) = (await (await client.get("/api/pages")).json())["pages"]
    assert (page["target"], page["step"], page["idempotency_key"]) == ("legal", 3, "k1")


async def test_duplicate_delivery_is_recorded_and_flagged(client: TestClient[Any, Any]) -> None:
    for _ in range(3):
        resp = await client.post("/hook/on-call", json={"step": 1},
                                 headers={"Idempotency-Key": "same"})
    assert (await resp.json())["duplicate"] is True
    pages = (await (await client.get("/api/pages")).json())["pages"]
    assert [p["duplicate"] for p in pages] == [False, True, True]


async def test_slack_style_delivery_answers_ok_and_keeps_text(
        client: TestClient[Any, Any]) -> None:
    resp = await client.post("/slack/team-lead", json={"text": "[P2] VigilPhiQuerySlow firing"})
    assert resp.status == 200
    assert await resp.text() == "ok"
    (page,) = (await (await client.get("/api/pages?target=team-lead")).json())["pages"]
    assert page["channel"] == "slack"
    assert page["text"] == "[P2] VigilPhiQuerySlow firing"


async def test_non_json_body_is_still_a_page(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/hook/queue", data=b"payload=plain")
    assert resp.status == 200
    (page,) = (await (await client.get("/api/pages")).json())["pages"]
    assert page["body"] == "payload=plain"


async def test_filters_and_since_cursor(client: TestClient[Any, Any]) -> None:
    await client.post("/hook/cto", json={"alertname": "A"})
    await client.post("/hook/legal", json={"alertname": "B"})
    await client.post("/hook/cto", json={"alertname": "B"})
    by_alert = (await (await client.get("/api/pages?alertname=B")).json())["pages"]
    assert [p["target"] for p in by_alert] == ["legal", "cto"]
    after = (await (await client.get("/api/pages?since=2")).json())["pages"]
    assert [p["seq"] for p in after] == [3]
    bad = await client.get("/api/pages?since=x")
    assert bad.status == 400


async def test_html_page_lists_pages_escaped_and_refreshes(client: TestClient[Any, Any]) -> None:
    await client.post("/hook/security-team", json={"alertname": "<script>", "severity": "P1"})
    resp = await client.get("/")
    text = await resp.text()
    assert resp.content_type == "text/html"
    assert 'http-equiv="refresh"' in text
    assert "security-team" in text
    assert "&lt;script&gt;" in text and "<script>" not in text


async def test_clear_forgets_pages(client: TestClient[Any, Any]) -> None:
    await client.post("/hook/cto", json={})
    assert (await client.delete("/api/pages")).status == 200
    assert (await (await client.get("/api/pages")).json())["pages"] == []


async def test_health_endpoints(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/-/healthy")).status == 200
    assert (await client.get("/-/ready")).status == 200


def test_record_file_gets_one_json_line_per_page(tmp_path: Path) -> None:
    record = tmp_path / "pages.jsonl"
    store = PageStore(record_path=record)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(2):
        store.add(received_at=t0 + timedelta(seconds=i), body={}, channel="webhook",
                  target="cto", step=i, severity=None, kind=None, alertname=None,
                  alert_id=None, idempotency_key=f"k{i}", text=None)
    docs = [json.loads(line) for line in record.read_text().splitlines()]
    assert [d["idempotency_key"] for d in docs] == ["k0", "k1"]


def test_vigil_sink_command_serves_and_prints_one_line_per_page(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "sink.log").open("w+")
    proc = child([sys.executable, "-m", "vigil.cli", "sink", "--port", str(port)],
                 stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"

        def started() -> bool:
            assert proc.poll() is None, "the sink did not start"
            return httpclient.is_healthy(f"{base}/-/healthy")

        wait_for(started, timeout=20, describe="the sink to start")
        answer = httpclient.post_json(f"{base}/hook/security-team", {"step": 1, "severity": "P1"},
                                headers={"Idempotency-Key": "k-1"})
        assert answer["ok"] is True
        wait_for(lambda: "PAGE" in (tmp_path / "sink.log").read_text(), timeout=10,
                 interval=0.05, describe="the sink to print a page line")
        page_lines = [ln for ln in (tmp_path / "sink.log").read_text().splitlines()
                      if " PAGE " in ln]
        assert len(page_lines) == 1
        assert "security-team" in page_lines[0] and "key=k-1" in page_lines[0]
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        log.close()


async def test_router_webhook_payload_at_notify_is_understood(
        client: TestClient[Any, Any]) -> None:
    # The shape router/store.py enqueues and router/channels/webhook.py posts.
    payload = {"idempotency_key": "vigil-a12-step2-cto", "kind": "escalation", "target": "cto",
               "channel": "sink", "step": 2, "due_at": "2026-03-01T12:15:00+00:00",
               "alert": {"id": 12, "fingerprint": "abc", "alertname": "VigilAuditChainBroken",
                         "severity": "P1", "status": "open", "labels": {"severity": "P1"},
                         "annotations": {"summary": "audit chain broken at row 7"}}}
    resp = await client.post("/notify", json=payload,
                             headers={"Idempotency-Key": "vigil-a12-step2-cto"})
    assert resp.status == 200
    (page,) = (await (await client.get("/api/pages")).json())["pages"]
    assert (page["target"], page["step"], page["severity"], page["kind"]) == (
        "cto", 2, "P1", "escalation")
    assert (page["alertname"], page["alert_id"]) == ("VigilAuditChainBroken", "12")
    assert page["idempotency_key"] == "vigil-a12-step2-cto"
