"""One demo database per module with the router's schema in it, a live router on it (served
from its own event loop in a thread), and an incident whose alert names an actor and a tenant.

The demo data carries a PHI canary: in a PHI column (encrypted), in a plain column of the same
rows, and in the free-text columns of access_log an application might wrongly fill."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import yaml
from support.databases import scratch_database
from support.threaded_router import ThreadedRouter

from router.config import load_config
from router.migrate import migrate
from vigil import demo
from vigil.core import pg

REPO = Path(__file__).resolve().parents[2]
TOKEN = "test-incident-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CANARY_NAME = "Canary Zebulon Quixtrop"
CANARY_EMAIL = "zebulon.canary@phi.invalid"
CANARIES = (CANARY_NAME, CANARY_EMAIL, "zebulon", "quixtrop")
ACTOR, OTHER = "doc-evil", "doc-good"


@dataclass(frozen=True)
class World:
    dsn: str           # the demo database (superuser), router schema included
    url: str           # the live router
    incident: int
    tenant: str        # the alert's tenant
    other_tenant: str
    started: datetime  # the alert's start

    def cli(self, *args: str) -> list[str]:
        return [*args, "--url", self.url, "--token", TOKEN, "--dsn", self.dsn]


def _router_yml(tmp: Path, dsn: str) -> Path:
    doc = {"listen": {"host": "127.0.0.1", "port": 18091},
           "database": {"dsn": dsn, "pool_min": 1, "pool_max": 4, "pool_timeout": "2s",
                        "connect_timeout": "2s"},
           "auth": {"bearer_token": TOKEN},
           "escalation_file": str(REPO / "config" / "escalation.yml"),
           "oncall_file": str(REPO / "config" / "oncall.yml")}
    path = tmp / "router.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _seed(dsn: str, tenant: str, other: str, started: datetime) -> None:
    with pg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO \"Deal\" (tenant_id, title, stage, amount, patient_name_enc, "
            "diagnosis_enc, key_id) SELECT %s, %s, 'open', 1, encrypt_phi(%s, k), "
            "encrypt_phi(%s, k), k FROM active_key_id() k",
            (tenant, CANARY_NAME, CANARY_NAME, CANARY_NAME))
        with conn.transaction():   # an audited write by the incident's actor
            conn.execute("SELECT set_config('app.current_actor_id', %s, true)", (ACTOR,))
            conn.execute("UPDATE \"Deal\" SET stage = 'won' WHERE title = %s", (CANARY_NAME,))
        rows = []
        for i in range(20):   # the actor: 20 requests in the window, 5 denied, 2 on another tenant
            ts = started + timedelta(seconds=10 * i)
            t = other if i < 2 else tenant
            rows.append((ts, t, ACTOR, f"Deal of {CANARY_NAME}", "read", i % 4 != 0,
                         f"denied for {CANARY_EMAIL}"))
        for i in range(6):    # someone else, other tenant: out of scope
            rows.append((started + timedelta(seconds=7 * i), other, OTHER, "Deal", "read", True,
                         None))
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO vigil_monitor.access_log (ts, tenant_id, actor_id, "
                            "resource, action, success, reason) VALUES (%s, %s, %s, %s, %s, "
                            "%s, %s)", rows)


@pytest.fixture(scope="module")
def world(admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with scratch_database(admin_dsn, "inc") as scratch:
        info = demo.setup(admin_dsn, pg.dbname_of(scratch), tenants=2)
        dsn = info.admin_dsn
        migrate(dsn)
        tenant, other = demo.app.tenant_ids(2)
        started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
        _seed(dsn, tenant, other, started)
        server = ThreadedRouter(load_config(_router_yml(tmp_path_factory.mktemp("inc"), dsn),
                                    env={"VIGIL_SINK_URL": "http://127.0.0.1:9"})).start()
        try:
            alert = {"status": "firing", "startsAt": started.isoformat().replace("+00:00", "Z"),
                     "labels": {"alertname": "CrossTenantAttempts", "severity": "P2",
                                "actor": ACTOR, "tenant": tenant},
                     "annotations": {}, "fingerprint": "fp-incident"}
            requests.post(f"{server.base}/api/v1/alertmanager", headers=AUTH, timeout=10,
                          json={"version": "4", "alerts": [alert]}).raise_for_status()
            aid = requests.get(f"{server.base}/api/v1/alerts", headers=AUTH,
                               timeout=10).json()["alerts"][0]["id"]
            inc = requests.post(f"{server.base}/api/v1/incidents", headers=AUTH, timeout=10,
                                json={"type": "cross-tenant", "severity": "P2",
                                      "description": "actor read another tenant",
                                      "alert_ids": [aid]})
            inc.raise_for_status()
            yield World(dsn, server.base, int(inc.json()["id"]), tenant, other, started)
        finally:
            server.stop()


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    from vigil.cli import main

    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def assert_no_phi(text: str, where: str) -> None:
    low = text.lower()
    for canary in CANARIES:
        assert canary.lower() not in low, f"{canary!r} leaked into {where}"
