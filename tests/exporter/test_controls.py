"""The controls collector (schema 012, issue #9 point 7) on the real demo database, read as the
least-privileged exporter role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from exporter_helpers import exposition, run, value
from pghelpers import query, wait_for

from exporter.config import ExporterConfig
from exporter.scheduler import Exporter
from vigil import demo

MakeConfig = Callable[..., ExporterConfig]
Start = Callable[[ExporterConfig], Awaitable[Exporter]]
CONTACT = {"schema": "public", "table": "Contact"}
DEAL = {"schema": "public", "table": "Deal"}


async def test_controls_become_per_table_metrics_and_changes_show(
        demo_db: demo.DemoInfo, make_config: MakeConfig, started: Start) -> None:
    demo.run_load(demo_db, duration=0.5, rate=30)
    exp = await started(make_config(demo_db.exporter_dsn, builtins=("controls",)))
    assert await run(exp, "controls")
    s = exposition(exp)
    for table in (CONTACT, DEAL):
        assert value(s, "vigil_control_rls_enabled", **table) == 1
        assert value(s, "vigil_control_rls_forced", **table) == 0
        assert value(s, "vigil_control_rls_disabled", **table) == 0
        assert value(s, "vigil_control_policy_changes", **table) == 0
        assert value(s, "vigil_control_audit_trigger_enabled", **table) == 1
        assert value(s, "vigil_control_unaudited_writes", **table) == 0
    # tenants: RLS but no PHI and no audit trigger: no trigger or write series
    assert value(s, "vigil_control_rls_enabled", schema="public", table="tenants") == 1
    assert value(s, "vigil_control_audit_trigger_enabled", schema="public",
                 table="tenants") is None
    assert value(s, "vigil_control_unaudited_writes", schema="public", table="tenants") is None

    for fault in ("rls-disabled", "policy-dropped", "audit-trigger-disabled",
                  "unaudited-writes"):
        demo.inject(demo_db.admin_dsn, fault)
    # the writer's statistics reach pg_stat_user_tables when its backend flushes them
    wait_for(lambda: query(demo_db.admin_dsn, "SELECT unaudited_writes FROM "
                           "vigil_monitor.control_status() WHERE table_name = 'Contact'"),
             lambda rows: rows[0][0] > 0, timeout=15)
    assert await run(exp, "controls")
    s = exposition(exp)
    assert value(s, "vigil_control_rls_enabled", **CONTACT) == 0
    assert value(s, "vigil_control_rls_disabled", **CONTACT) == 1
    assert value(s, "vigil_control_policy_changes", **DEAL) == 2  # dropped + permissive added
    assert value(s, "vigil_control_audit_trigger_enabled", **DEAL) == 0
    assert (value(s, "vigil_control_unaudited_writes", **CONTACT) or 0) >= 200
    demo.heal(demo_db.admin_dsn)
    assert await run(exp, "controls")
    s = exposition(exp)
    assert value(s, "vigil_control_rls_disabled", **CONTACT) == 0
    assert value(s, "vigil_control_policy_changes", **DEAL) == 0
    assert value(s, "vigil_control_unaudited_writes", **CONTACT) == 0
