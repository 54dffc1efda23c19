"""`vigil alert ...` finds the local stack's token without being told."""

from __future__ import annotations

import argparse
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from router import client_cli


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[str | None] = []  # noqa: RUF012 (one server per test, reset below)

    def do_GET(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        body = b'{"alerts": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Recorder.seen = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _args(url: str, token: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(url=url, token=token, json=True)


def test_cli_uses_the_token_vigil_up_wrote(server: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "router-token").write_text("stack-token\n")
    monkeypatch.setenv("VIGIL_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("VIGIL_ROUTER_TOKEN", raising=False)
    client_cli.call(_args(server), "GET", "/api/v1/alerts")
    assert _Recorder.seen == ["Bearer stack-token"]


def test_env_and_flag_win_over_the_stack_token(server: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "router-token").write_text("stack-token")
    monkeypatch.setenv("VIGIL_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("VIGIL_ROUTER_TOKEN", "env-token")
    client_cli.call(_args(server), "GET", "/api/v1/alerts")
    client_cli.call(_args(server, token="flag-token"), "GET", "/api/v1/alerts")
    assert _Recorder.seen == ["Bearer env-token", "Bearer flag-token"]


def test_no_token_anywhere_sends_no_header(server: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_STATE_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("VIGIL_ROUTER_TOKEN", raising=False)
    client_cli.call(_args(server), "GET", "/api/v1/alerts")
    assert _Recorder.seen == [None]
