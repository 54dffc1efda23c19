"""`vigil alert ...` finds the local stack's token without being told."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.httpstub import HttpStub

from router import client_cli


@pytest.fixture
def stub() -> Iterator[HttpStub]:
    with HttpStub(lambda _: (200, "application/json", b'{"alerts": []}')) as s:
        yield s


@pytest.fixture
def server(stub: HttpStub) -> str:
    return stub.url


def _auth_seen(stub: HttpStub) -> list[str | None]:
    return [r.headers.get("Authorization") for r in stub.seen()]


def _args(url: str, token: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(url=url, token=token, json=True)


def test_cli_uses_the_token_vigil_up_wrote(stub: HttpStub, server: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "router-token").write_text("stack-token\n")
    monkeypatch.setenv("VIGIL_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("VIGIL_ROUTER_TOKEN", raising=False)
    client_cli.call(_args(server), "GET", "/api/v1/alerts")
    assert _auth_seen(stub) == ["Bearer stack-token"]


def test_env_and_flag_win_over_the_stack_token(stub: HttpStub, server: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "router-token").write_text("stack-token")
    monkeypatch.setenv("VIGIL_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("VIGIL_ROUTER_TOKEN", "env-token")
    client_cli.call(_args(server), "GET", "/api/v1/alerts")
    client_cli.call(_args(server, token="flag-token"), "GET", "/api/v1/alerts")
    assert _auth_seen(stub) == ["Bearer env-token", "Bearer flag-token"]


def test_no_token_anywhere_sends_no_header(stub: HttpStub, server: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_STATE_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("VIGIL_ROUTER_TOKEN", raising=False)
    client_cli.call(_args(server), "GET", "/api/v1/alerts")
    assert _auth_seen(stub) == [None]
