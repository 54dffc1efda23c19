"""A wrong password, a refused connection and a frozen host each say why vigil_up is 0,
in vigil_down_reason and in the log, instead of the same PoolTimeout for all three."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import psycopg
import pytest

from exporter.config import BUILTIN_COLLECTORS, ExporterConfig, build_config
from exporter.db import connect_reason
from exporter.scheduler import Exporter
from faults.proxy import FaultProxy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exporter"))
from exporter_helpers import exposition, run, running_exporters, value

Start = Callable[[ExporterConfig], Awaitable[Exporter]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    async with running_exporters() as go:
        yield go


def _cfg(dsn: str, tmp_path: Path) -> ExporterConfig:
    return build_config({
        "targets": [{"name": "db1", "dsn": dsn,
                     "pool": {"timeout": 0.5, "connect_timeout": 2, "reconnect_timeout": 2}}],
        "state_dir": str(tmp_path / "state"),
        "collectors": {n: {"enabled": False} for n in
                       BUILTIN_COLLECTORS}})


def _reasons(exp: Exporter) -> dict[str, float | None]:
    s = exposition(exp)
    return {r: value(s, "vigil_down_reason", target="db1", reason=r)
            for r in ("auth", "unreachable", "timeout")}


async def test_rejected_credentials_read_as_auth(fresh_db: str, tmp_path: Path, start: Start,
                                                caplog: pytest.LogCaptureFixture) -> None:
    # A role that does not exist: rejected whatever pg_hba.conf's method (the test cluster
    # trusts local connections, so a wrong password alone would get in).
    role = f"vigil_t_nobody_{uuid.uuid4().hex[:8]}"
    dsn = psycopg.conninfo.make_conninfo(fresh_db, user=role, password="wrong-password")
    exp = await start(_cfg(dsn, tmp_path))
    with caplog.at_level(logging.WARNING, logger="exporter"):
        assert not await run(exp, "ping")
    assert value(exposition(exp), "vigil_up", target="db1") == 0
    assert _reasons(exp) == {"auth": 1, "unreachable": 0, "timeout": 0}
    assert any("credentials" in r.getMessage() for r in caplog.records)
    assert not any("wrong-password" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("mode", "reason"), [("refuse", "unreachable"), ("freeze", "timeout")])
async def test_refused_and_frozen_read_as_unreachable_and_timeout(
        fresh_db: str, tmp_path: Path, start: Start, mode: str, reason: str) -> None:
    port = int(psycopg.conninfo.conninfo_to_dict(fresh_db).get("port") or 5432)
    with FaultProxy(port) as proxy:
        exp = await start(_cfg(psycopg.conninfo.make_conninfo(
            fresh_db, host="127.0.0.1", port=proxy.port), tmp_path))
        assert await run(exp, "ping")
        with proxy.fault(mode):
            assert not await run(exp, "ping")
            assert not await run(exp, "ping")  # on a fresh pool: the connect itself fails
            want = {"auth": 0.0, "unreachable": 0.0, "timeout": 0.0, reason: 1.0}
            assert _reasons(exp) == want
        assert await run(exp, "ping")
        assert _reasons(exp) == {"auth": 0, "unreachable": 0, "timeout": 0}


def test_connect_errors_are_classified() -> None:
    assert connect_reason(psycopg.ProgrammingError('missing "=" after "x"')) == "dsn"
    assert connect_reason(psycopg.OperationalError(
        'connection failed: FATAL:  password authentication failed for user "u"')) == "auth"
    assert connect_reason(psycopg.OperationalError(
        'connection failed: FATAL:  database "x" does not exist')) == "rejected"
    assert connect_reason(psycopg.OperationalError(
        "connection failed: Connection refused")) == "unreachable"
    assert connect_reason(psycopg.OperationalError("connection timeout expired")) == "timeout"
