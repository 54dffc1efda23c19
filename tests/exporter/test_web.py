"""HTTP: /metrics negotiation, health endpoints, TLS and basic auth, the CLI and sample config."""

from __future__ import annotations

import base64
import gzip
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import aiohttp
import bcrypt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from exporter_helpers import parse, value
from support.polling import free_port

from exporter.config import DEFAULT_PORT, ExporterConfig, load_config
from exporter.web import EXPORTER, create_app
from exporter.webconfig import load_web_config, ssl_context
from vigil.cli import main as vigil_main

ROOT = Path(__file__).resolve().parents[2]
MakeConfig = Callable[..., ExporterConfig]


def one(dsn: str, make_config: MakeConfig) -> ExporterConfig:
    return make_config(dsn, [{"name": "app_one", "queries": [
        {"sql": "SELECT 1 AS value", "metrics": [
            {"name": "app_one", "type": "gauge", "help": "one"}]}]}])


async def test_metrics_text_gzip_and_openmetrics_are_prerendered(
        fresh_db: str, make_config: MakeConfig) -> None:
    app = create_app(one(fresh_db, make_config), schedule=False)
    async with TestClient(TestServer(app)) as client:
        exp = app[EXPORTER]
        spec = next(s for s in exp.targets["db1"].specs if s.name == "app_one")
        await exp.run("db1", spec)
        renders = exp.renderer.renders
        plain = await client.get("/metrics", headers={"Accept-Encoding": "identity"})
        assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await plain.text()
        assert value(parse(text), "app_one", target="db1") == 1
        raw = await client.get("/metrics", headers={"Accept-Encoding": "gzip"},
                               auto_decompress=False)
        assert raw.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(await raw.read()).decode() == text
        om = await client.get("/metrics", headers={
            "Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"})
        assert om.headers["Content-Type"].startswith("application/openmetrics-text")
        assert (await om.text()).endswith("# EOF\n")
        for _ in range(50):
            assert (await client.get("/metrics")).status == 200
        assert exp.renderer.renders == renders  # scrapes never render or query
        assert (await client.get("/-/healthy")).status == 200
        assert (await client.get("/-/ready")).status == 200


def _auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _openssl_cert(tmp: Path) -> None:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(tmp / "server.key"), "-out", str(tmp / "server.crt")],
                   check=True, capture_output=True)


async def test_tls_and_basic_auth_from_exporter_toolkit_web_config(
        fresh_db: str, make_config: MakeConfig, tmp_path: Path) -> None:
    _openssl_cert(tmp_path)
    hashed = bcrypt.hashpw(b"s3cret-pass", bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "web.yml").write_text(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  min_version: TLS12\n"
        f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    web_cfg = load_web_config(tmp_path / "web.yml")
    server_ctx = ssl_context(web_cfg, tmp_path)
    assert server_ctx is not None
    app = create_app(one(fresh_db, make_config), web_cfg, schedule=False)
    port = free_port()
    server = TestServer(app, port=port)
    await server.start_server(ssl=server_ctx)
    client_ctx = ssl.create_default_context(cafile=str(tmp_path / "server.crt"))
    url = f"https://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ctx)) as s:
            async with s.get(f"{url}/metrics") as r:
                assert r.status == 401 and "Basic" in r.headers["WWW-Authenticate"]
            async with s.get(f"{url}/metrics", headers=_auth("prometheus", "wrong")) as r:
                assert r.status == 401
            async with s.get(f"{url}/metrics", headers=_auth("prometheus", "s3cret-pass")) as r:
                assert r.status == 200 and "vigil_up" in await r.text()
            async with s.get(f"{url}/-/healthy") as r:
                assert r.status == 200
        plain_ctx = ssl.create_default_context()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=plain_ctx)) as s:
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await s.get(f"{url}/metrics")
    finally:
        await server.close()


def test_web_config_rejects_plain_passwords(tmp_path: Path) -> None:
    (tmp_path / "web.yml").write_text("basic_auth_users:\n  prometheus: hunter2\n")
    with pytest.raises(Exception, match="bcrypt hash"):
        load_web_config(tmp_path / "web.yml")


def test_sample_config_loads_and_check_config_passes(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = load_config(ROOT / "config" / "exporter.yml", env={})
    assert cfg.targets[0].dsn.startswith("postgresql://vigil_exporter@")
    assert cfg.web.listen_address.endswith(f":{DEFAULT_PORT}")
    assert {c.name for c in cfg.custom_collectors} == {"connections"}
    assert vigil_main(["exporter", "--config", str(ROOT / "config" / "exporter.yml"),
                       "--check-config"]) == 0


def test_invalid_config_names_the_yaml_path(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("targets:\n  - name: db1\n    dsn: postgresql://u:pw123@h/db\n"
                   "custom_collectors:\n  - name: c\n    queries:\n      - sql: SELECT 1\n"
                   "        metrics:\n          - {name: app_x, type: counter, help: x,"
                   " labels: [tenant_id]}\n")
    assert vigil_main(["exporter", "--config", str(bad), "--check-config"]) == 1
    err = capsys.readouterr().err
    assert "custom_collectors[0].queries[0].metrics[0].name" in err
    assert "privacy.tenant_labels" in err
    assert "pw123" not in err
