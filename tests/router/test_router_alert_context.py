"""`vigil alert context` and `related` (issue #11): the metric history from a real Prometheus
(the project's own rules, three hours of backfilled samples), earlier alerts of the same name,
related alerts ranked by the labels that matched (never by job, instance, target), and the
database objects the alert names, from the catalog of a real database."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from router_helpers import Router, am_alert, am_payload, run_cli
from support import prom
from support.polling import wait_for
from support.promconfig import PROMTOOL_BIN

RULES = prom.RULES_DIR
COMMON = {"target": "demo", "job": "vigil-exporter", "instance": "127.0.0.1:18090"}


def _samples(end: int) -> str:
    """Three hours, a sample a minute, up to ``end``: RLS overhead on Deal 20 ms, then 80 ms
    (over the rule's 50 ms) for the last 45 minutes; Contact 10 ms throughout; key k1 100
    days old (the policy allows 90)."""
    out = ["# TYPE vigil_rls_overhead_seconds gauge"]
    for i in range(181):
        t = end - 60 * (180 - i)
        out.append(f'vigil_rls_overhead_seconds{{target="demo",schema="public",table="Deal"}} '
                   f"{0.08 if i > 135 else 0.02} {t}")
        out.append(f'vigil_rls_overhead_seconds{{target="demo",schema="public",'
                   f'table="Contact"}} 0.01 {t}')
    out.append("# TYPE vigil_encryption_key_age_seconds gauge")
    out += [f'vigil_encryption_key_age_seconds{{target="demo",key="k1"}} {8640000 + 60 * i} '
            f"{end - 60 * (180 - i)}" for i in range(181)]
    return "\n".join([*out, "# EOF"]) + "\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    wd = tmp_path_factory.mktemp("prom-context")
    src = wd / "samples.om"
    src.write_text(_samples(int(time.time()) - 60))
    (wd / "data").mkdir()
    subprocess.run([PROMTOOL_BIN, "tsdb", "create-blocks-from", "openmetrics", str(src),
                    str(wd / "data")], check=True, capture_output=True, timeout=120)
    config = wd / "prometheus.yml"
    rules = [str(RULES / f) for f in ("performance.yml", "security.yml", "policy.yml",
                                                "controls.yml")]
    config.write_text(json.dumps({"global": {"evaluation_interval": "1s"},
                                  "rule_files": rules, "scrape_configs": []}))
    server = prom.start_prometheus(config, workdir=wd)
    try:
        # The policy threshold is a recording rule: evaluated from the server's start on.
        wait_for(lambda: prom.query(server.url, "vigil:policy:encryption_key_max_age_seconds"),
                 timeout=30, describe="the policy recording rule to be evaluated")
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def ctx_router(make_router: Callable[..., Any], prometheus: str) -> Router:
    router: Router = await make_router(prometheus_url=prometheus)
    router.clock.set(datetime.now(UTC))
    return router


def _ids(router: Router) -> dict[str, int]:
    return {f"{name}/{labels.get('table', labels.get('key', ''))}": int(i)
            for i, name, labels in router.sql(
                "SELECT id, alertname, labels FROM vigil_router.alerts ORDER BY id")}


async def test_context_shows_the_metric_against_its_threshold_from_the_rule(
        ctx_router: Router) -> None:
    await ctx_router.post(am_payload(
        am_alert("VigilRlsOverheadHigh", "P3", kind="performance", schema="public",
                 table="Deal", **COMMON),
        am_alert("VigilEncryptionKeyTooOld", "P4", kind="security", key="k1",
                 fingerprint="key", **COMMON)))
    ids = _ids(ctx_router)
    status, ctx = await ctx_router.api("GET", f"/api/v1/alerts/{ids['VigilRlsOverheadHigh/Deal']}"
                                               "/context?hours=3")
    assert status == 200
    m = ctx["metrics"]
    assert m["status"] == "ok", m
    assert (m["rule"]["name"], m["expression"], m["operator"], m["threshold"]) == (
        "VigilRlsOverheadHigh", "vigil_rls_overhead_seconds", ">", 0.05)
    # Only the alert's own series (Deal), not Contact's, with the values the samples hold.
    assert [s["labels"] for s in m["series"]] == [
        {"target": "demo", "schema": "public", "table": "Deal"}]
    series = m["series"][0]
    assert series["last"] == 0.08 and series["min"] == 0.02
    assert 0 < series["crossed"] < len(series["values"])
    assert {(p["value"], p["crossed"]) for p in series["values"]} == {(0.02, False),
                                                                       (0.08, True)}

    # A threshold that is an expression (on() group_left() a policy recording rule).
    _, ctx = await ctx_router.api("GET", f"/api/v1/alerts/{ids['VigilEncryptionKeyTooOld/k1']}"
                                          "/context")
    m = ctx["metrics"]
    assert m["status"] == "ok" and m["threshold"] is None, m
    assert m["threshold_expression"] == "vigil:policy:encryption_key_max_age_seconds"
    last = m["series"][0]["values"][-1]
    assert last["threshold"] == 7776000 and last["crossed"] is True


async def test_context_and_related_rank_by_matched_labels_never_shared_ones(
        ctx_router: Router) -> None:
    r = ctx_router
    await r.post(am_payload(am_alert("VigilRlsOverheadHigh", "P3", kind="performance",
                                     schema="public", table="Contact", fingerprint="old",
                                     **COMMON)))
    await r.api("POST", "/api/v1/alerts/1/resolve", json={"who": "dana"})
    r.clock.advance(minutes=10)
    await r.post(am_payload(
        am_alert("VigilRlsOverheadHigh", "P3", kind="performance", schema="public",
                 table="Deal", **COMMON),
        am_alert("VigilAuditWriteSlow", "P3", kind="performance", schema="public",
                 table="Deal", **COMMON),
        am_alert("VigilPhiQuerySlow", "P3", kind="performance", schema="public",
                 table="Contact", **COMMON),
        am_alert("VigilTargetDown", "P2", kind="health", **COMMON)))
    ids = _ids(r)
    rls = ids["VigilRlsOverheadHigh/Deal"]
    _, body = await r.api("GET", f"/api/v1/alerts/{rls}/related")
    assert body["ignored_labels"] == ["alertname", "severity", "job", "instance", "target"]
    # TargetDown shares only target, job, instance: it relates nothing (it used to be listed).
    assert [(a["alertname"], a["matched"], a["same_alertname"]) for a in body["related"]] == [
        ("VigilAuditWriteSlow", {"kind": "performance", "schema": "public", "table": "Deal"},
         False),
        ("VigilRlsOverheadHigh", {"kind": "performance", "schema": "public"}, True),
        ("VigilPhiQuerySlow", {"kind": "performance", "schema": "public"}, False)]

    _, ctx = await r.api("GET", f"/api/v1/alerts/{rls}/context")
    assert ctx["earlier"]["total"] == 1
    assert [(a["id"], a["status"]) for a in ctx["earlier"]["alerts"]] == [
        (ids["VigilRlsOverheadHigh/Contact"], "resolved")]
    assert ctx["related"]["alerts"][0]["alertname"] == "VigilAuditWriteSlow"

    status, body = await r.api("GET", f"/api/v1/alerts/{rls}/context?hours=0")
    assert status == 400 and body["field"] == "hours"


async def test_cli_context_prints_sections_and_the_database_objects_it_names(
        ctx_router: Router) -> None:
    r = ctx_router
    with psycopg.connect(r.dsn, autocommit=True) as conn:
        conn.execute('CREATE TABLE public."Deal" (id int, tenant_id text)')
        conn.execute('ALTER TABLE public."Deal" ENABLE ROW LEVEL SECURITY')
        conn.execute('CREATE POLICY tenant_isolation ON public."Deal" USING '
                     "(tenant_id = current_setting('app.current_tenant_id', true))")
    await r.post(am_payload(am_alert("VigilRlsOverheadHigh", "P3", kind="performance",
                                     schema="public", table="Deal", **COMMON),
                            am_alert("VigilControlPolicyChanged", "P2", kind="security",
                                     schema="public", table="Gone", policy="p_gone",
                                     fingerprint="gone", **COMMON)))
    res = await run_cli(r, "alert", "context", "1", "--dsn", r.dsn)
    assert res.code == 0, res
    assert not res.out.lstrip().startswith("{")
    for section in ("Metric history (Prometheus, last 3h)", "Earlier alerts of the same name: 0",
                    "Related alerts within 1h, ranked by labels matched",
                    "Database objects it names", "Escalation", "Deliveries"):
        assert section in res.out
    assert "vigil_rls_overhead_seconds > 0.05" in res.out
    # the samples' two runs: within the threshold, then over it
    assert re.search(r"0\.02\s+0\.02\s+0\.05\s+within\n.*0\.08\s+0\.08\s+0\.05\s+crossed",
                     res.out)
    assert "table public.Deal: RLS enabled, not forced, 1 policy" in res.out
    assert "policy tenant_isolation: ALL permissive to public" in res.out

    res = await run_cli(r, "alert", "context", "2", "--dsn", r.dsn, "--json")
    doc = json.loads(res.out)
    assert {o["kind"]: o["exists"] for o in doc["database"]["objects"]} == {
        "table": False, "policy": False}
    assert doc["metrics"]["status"] == "ok"


async def test_context_without_prometheus_says_so_and_the_cli_exits_1(
        make_router: Callable[..., Any]) -> None:
    r: Router = await make_router()
    await r.post(am_payload(am_alert("VigilTargetDown", "P2", **COMMON)))
    res = await run_cli(r, "alert", "context", "1")
    assert res.code == 1
    assert "not configured: set prometheus_url in router.yml" in res.out
    assert "the alert names no schema, table, policy, role or index" in res.out

    down: Router = await make_router(prometheus_url="http://127.0.0.1:9")   # nothing listens
    status, ctx = await down.api("GET", "/api/v1/alerts/1/context")
    assert status == 200 and ctx["metrics"]["status"] == "unavailable"
    assert "did not answer" in ctx["metrics"]["error"]
