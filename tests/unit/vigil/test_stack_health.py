"""What `vigil status` reads from the parts (vigil/stack/health.py), against a recording
stand-in server on 127.0.0.1: the router summary is one request, the exporter's collector
metrics become per-collector health."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from support.httpstub import HttpStub, Request

from vigil.stack import health

ALERTS = [{"id": i, "alertname": f"A{i}", "severity": "P2", "status": "open",
           "next_step": {"due_at": f"2026-11-30T05:0{i}:00+00:00", "step_no": 2,
                         "targets": ["security-lead"]}} for i in range(1, 6)]
ALERTS.append({"id": 9, "alertname": "Z", "severity": "P3", "status": "acked",
               "next_step": None})

METRICS = """\
# TYPE vigil_up gauge
vigil_up{target="demo"} 1.0
# TYPE vigil_down_reason gauge
vigil_down_reason{reason="auth",target="demo"} 0.0
# TYPE vigil_collector_success gauge
vigil_collector_success{collector="audit",target="demo"} 1.0
vigil_collector_success{collector="rls",target="demo"} 0.0
# TYPE vigil_collector_last_success_timestamp_seconds gauge
vigil_collector_last_success_timestamp_seconds{collector="audit",target="demo"} 990.0
# TYPE vigil_collector_errors_total counter
vigil_collector_errors_total{collector="rls",reason="probe",target="demo"} 3.0
vigil_collector_errors_total{collector="rls",reason="query",target="demo"} 0.0
"""


def respond(req: Request) -> tuple[int, str, bytes]:
    if req.path.startswith("/api/v1/alerts?"):
        return 200, "application/json", json.dumps({"alerts": ALERTS}).encode()
    if req.path == "/metrics":
        return 200, "text/plain; version=0.0.4", METRICS.encode()
    return 404, "text/plain", b"not found"


@pytest.fixture
def server() -> Iterator[HttpStub]:
    with HttpStub(respond) as stub:
        yield stub


def test_router_summary_is_one_request_whatever_the_number_of_open_alerts(
        server: HttpStub) -> None:
    summary = health.router_summary(server.url, "token")
    assert [r.path for r in server.seen()] == ["/api/v1/alerts?status=unresolved&limit=1000"]
    assert summary["open"] == {"P1": 0, "P2": 5, "P3": 1, "P4": 0}
    assert summary["acked"] == 1
    assert summary["next_due"]["alert_id"] == 1  # the earliest due step
    assert summary["next_due"]["targets"] == ["security-lead"]


def test_exporter_health_names_each_collector_and_fails_on_one_failing(
        server: HttpStub) -> None:
    got = health.exporter(f"{server.url}/metrics", now=1000.0)
    assert [(t.target, t.up) for t in got.targets] == [("demo", True)]
    by_name = {c.collector: c for c in got.collectors}
    assert by_name["audit"].ok and by_name["audit"].last_success_age == 10.0
    assert not by_name["rls"].ok and by_name["rls"].last_success_age is None
    assert by_name["rls"].errors == {"probe": 3.0}  # reasons with no failures are left out
    assert not got.ok


def test_an_exporter_without_any_collector_run_is_not_ok() -> None:
    assert not health.ExporterHealth(targets=[], collectors=[]).ok


def test_scrape_targets_that_cannot_be_read_are_an_error_not_an_empty_list() -> None:
    """`vigil status` said OK when a running Prometheus's targets could not be read."""
    def broken(req: Request) -> tuple[int, str, bytes]:
        return 503, "text/plain", b"overloaded"

    def up(req: Request) -> tuple[int, str, bytes]:
        return 200, "application/json", json.dumps({"status": "success", "data": {
            "activeTargets": [{"labels": {"job": "vigil-exporter", "instance": "e:1"},
                               "health": "up", "lastError": ""}]}}).encode()

    with HttpStub(broken) as stub:
        targets, error = health.scrapes(stub.url)
    assert targets is None and "Prometheus" in error
    with HttpStub(up) as stub:
        targets, error = health.scrapes(stub.url)
    assert error == "" and targets == [{"job": "vigil-exporter", "instance": "e:1",
                                        "health": "up", "last_error": None}]


def test_a_target_prometheus_has_not_scraped_yet_is_not_shown_as_failed() -> None:
    """Right after `vigil up`, `vigil status` showed FAILED, with no error, for a target whose
    first scrape had not happened yet."""
    from vigil.stack.cli import scrape_mark
    assert [scrape_mark(h) for h in ("up", "unknown", "down")] == [
        "ok", "not scraped yet", "FAILED"]
