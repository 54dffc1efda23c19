"""What `vigil status` reads from the parts (vigil/stack/health.py), against a recording
stand-in server on 127.0.0.1: the router summary is one request, the exporter's collector
metrics become per-collector health."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

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


class Recorder(ThreadingHTTPServer):
    paths: list[str]


class Handler(BaseHTTPRequestHandler):
    server: Recorder

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        if self.path.startswith("/api/v1/alerts?"):
            body, ctype = json.dumps({"alerts": ALERTS}).encode(), "application/json"
        elif self.path == "/metrics":
            body, ctype = METRICS.encode(), "text/plain; version=0.0.4"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Recorder]:
    srv = Recorder(("127.0.0.1", 0), Handler)
    srv.paths = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def url(srv: Recorder) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}"


def test_router_summary_is_one_request_whatever_the_number_of_open_alerts(
        server: Recorder) -> None:
    summary = health.router_summary(url(server), "token")
    assert server.paths == ["/api/v1/alerts?status=unresolved&limit=1000"]
    assert summary["open"] == {"P1": 0, "P2": 5, "P3": 1, "P4": 0}
    assert summary["acked"] == 1
    assert summary["next_due"]["alert_id"] == 1  # the earliest due step
    assert summary["next_due"]["targets"] == ["security-lead"]


def test_exporter_health_names_each_collector_and_fails_on_one_failing(
        server: Recorder) -> None:
    got = health.exporter(f"{url(server)}/metrics", now=1000.0)
    assert [(t.target, t.up) for t in got.targets] == [("demo", True)]
    by_name = {c.collector: c for c in got.collectors}
    assert by_name["audit"].ok and by_name["audit"].last_success_age == 10.0
    assert not by_name["rls"].ok and by_name["rls"].last_success_age is None
    assert by_name["rls"].errors == {"probe": 3.0}  # reasons with no failures are left out
    assert not got.ok


def test_an_exporter_without_any_collector_run_is_not_ok() -> None:
    assert not health.ExporterHealth(targets=[], collectors=[]).ok
