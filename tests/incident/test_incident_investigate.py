"""`vigil incident traffic|integrity|hold` against the real PostgreSQL and a live router."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from incident_helpers import ACTOR, OTHER, World, assert_no_phi, run_cli

from vigil.audit import keys, sealer
from vigil.core import pg
from vigil.evidence import hold
from vigil.investigate import traffic
from vigil.investigate.scope import Scope
from vigil.maintain import worker


def test_traffic_rates_baseline_cross_tenant_and_first_last_seen(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    with pg.connect(world.dsn) as conn:   # the actor's baseline: 2 requests per minute, 3 days
        conn.execute("INSERT INTO vigil_monitor.access_rollup (actor_id, bucket, requests, "
                     "failed, min_ts) SELECT %s, b, 2, 0, b FROM generate_series("
                     "vigil_monitor.access_bucket(%s - interval '3 days'), "
                     "vigil_monitor.access_bucket(%s - interval '2 hours'), interval '1 min') b "
                     "ON CONFLICT DO NOTHING", (ACTOR, world.started, world.started))
    code, out = run_cli(capsys, *world.cli("incident", "traffic", str(world.incident), "--json"))
    assert code == 0, out
    assert_no_phi(out, "incident traffic")
    doc = json.loads(out)
    [actor] = [a for a in doc["actors"] if a["actor"] == ACTOR]
    assert (actor["requests"], actor["denied"]) == (20, 5)
    assert actor["first_seen"] == world.started.isoformat()
    assert actor["last_seen"] == (world.started + timedelta(seconds=190)).isoformat()
    # 2 per minute over 3 of the 7 days: the mean of the same-length windows over 7 days
    window_min = doc["window_seconds"] / 60
    assert actor["baseline_requests_per_window"] == pytest.approx(
        2 * (3 * 1440 - 118) / (7 * 1440 / window_min), rel=0.02)
    assert actor["ratio_to_baseline"] is not None
    assert OTHER not in {a["actor"] for a in doc["actors"]}
    assert doc["cross_tenant"] == [{"actor": ACTOR, "main_tenant": world.tenant,
                                    "other_tenants": [world.other_tenant], "requests": 2,
                                    "denied": 1}]
    assert {t["tenant"] for t in doc["tenants"]} == {world.tenant, world.other_tenant}
    code, table = run_cli(capsys, *world.cli("incident", "traffic", str(world.incident)))
    assert code == 0 and "cross-tenant attempts:" in table and ACTOR in table


def test_traffic_reads_indexes_not_the_whole_access_log(admin_dsn: str, fresh_db: str) -> None:
    """The window's GROUP BY and the baseline read ranges of indexes: at 10^7 rows a full scan
    of access_log would take seconds; the plan must not contain one."""
    from vigil import schema
    schema.install(fresh_db)
    with pg.connect(fresh_db) as conn:
        conn.execute("INSERT INTO vigil_monitor.access_log (ts, tenant_id, actor_id, resource, "
                     "action, success) SELECT now() - s * interval '10 s', 't' || s % 10, "
                     "'a' || s % 50, 'r', 'read', true FROM generate_series(1, 200000) s")
        conn.execute("INSERT INTO vigil_monitor.access_rollup SELECT 'a' || a, b, 5, 0, b "
                     "FROM generate_series(1, 50) a, generate_series(now() - interval '8 days',"
                     " now(), interval '10 min') b ON CONFLICT DO NOTHING")
        conn.execute("ANALYZE vigil_monitor.access_log")
        conn.execute("ANALYZE vigil_monitor.access_rollup")
        now = datetime.now(UTC)
        sc = Scope(1, now - timedelta(hours=1), now, ("a7",), ("t3",))
        from vigil.investigate.records import params
        for query, args in ((traffic._WINDOW, params(sc)),
                            (traffic._BASELINE, {"actors": ["a7"], "lo": now - timedelta(days=7),
                                                 "hi": now - timedelta(hours=1)})):
            plan = "\n".join(str(r[0]) for r in conn.execute(b"EXPLAIN " + query.encode(),
                                                             args))
            assert "Seq Scan" not in plan, plan


def _seal(dsn: str, key: bytes, checkpoint_file: Path) -> int:
    with pg.connect(dsn) as conn:
        assert sealer.try_lock(conn)
        try:
            return sealer.seal_pending(conn, key, checkpoint_file, batch=100)
        finally:
            sealer.unlock(conn)


def test_integrity_passes_then_names_a_changed_policy_a_new_grant_and_a_tampered_row(
        world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    key_file, cps = tmp_path / "audit.key", tmp_path / "checkpoints.jsonl"
    keys.ensure_key_file(key_file)
    assert _seal(world.dsn, keys.load(key_file), cps) > 0   # the actor's UPDATE among them
    keyed = ["--key-file", str(key_file), "--checkpoint-file", str(cps)]
    code, out = run_cli(capsys, "db", "baseline", "approve", "--dsn", world.dsn)
    assert code == 0, out
    code, out = run_cli(capsys, *world.cli("incident", "integrity", str(world.incident), *keyed))
    assert code == 0, out
    assert "✓ Audit chain" in out and "rows verified with the key" in out
    assert "✓ Controls since baseline" in out and "✓ Roles and grants" in out
    with pg.connect(world.dsn) as conn:
        qual = conn.execute("SELECT qual FROM pg_policies WHERE tablename = 'Deal' "
                            "AND policyname = 'tenant_isolation'").fetchone()
        assert qual is not None
        conn.execute("ALTER POLICY tenant_isolation ON \"Deal\" USING (true)")
        conn.execute("GRANT SELECT ON \"Deal\" TO vigil_exporter")
    try:
        code, out = run_cli(capsys, *world.cli("incident", "integrity", str(world.incident),
                                               *keyed, "--json"))
        assert code == 1, out
        doc = json.loads(out)
        checks = {c["name"]: c for c in doc["checks"]}
        assert not checks["Controls since baseline"]["ok"]
        assert any("tenant_isolation" in p and "Deal" in p
                   for p in checks["Controls since baseline"]["problems"])
        assert any("vigil_exporter" in p and "Deal" in p
                   for p in checks["Roles and grants since baseline"]["problems"])
        assert checks["Audit coverage"]["ok"] and checks["Audit chain"]["ok"]
    finally:
        with pg.connect(world.dsn) as conn:
            conn.execute("REVOKE SELECT ON \"Deal\" FROM vigil_exporter")
            conn.execute(f"ALTER POLICY tenant_isolation ON \"Deal\" USING ({qual[0]})")
    code, out = run_cli(capsys, *world.cli("incident", "integrity", str(world.incident), *keyed))
    assert code == 0, out

    with pg.connect(world.dsn) as conn, conn.transaction():   # behind the trigger's back
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute("UPDATE vigil_monitor.audit_log SET operation = 'DELETE' "
                     "WHERE actor_id = %s", (ACTOR,))
    code, out = run_cli(capsys, *world.cli("incident", "integrity", str(world.incident), *keyed))
    assert code == 1 and "✗ Audit chain" in out and "altered" in out, out
    assert_no_phi(out, "incident integrity")


def test_legal_hold_keeps_held_rows_from_retention_and_release_lets_them_go(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    old = datetime.now(UTC) - timedelta(days=40)
    with pg.connect(world.dsn) as conn:
        conn.execute("INSERT INTO vigil_monitor.access_log (ts, tenant_id, actor_id, resource, "
                     "action, success) SELECT %s + s * interval '1 min', %s, a, 'r', 'read', "
                     "true FROM generate_series(1, 30) s, unnest(%s::text[]) a",
                     (old, world.other_tenant, [ACTOR, OTHER]))
        conn.execute("INSERT INTO vigil_monitor.phi_access_patterns (accessed_at, table_name, "
                     "tenant_id, actor_id, operation, duration_ms) SELECT %s + s * interval "
                     "'1 min', 'public.Deal', %s, a, 'read', 1 FROM generate_series(1, 5) s, "
                     "unnest(%s::text[]) a", (old, world.other_tenant, [ACTOR, OTHER]))
        conn.execute("INSERT INTO vigil_monitor.access_rollup (actor_id, bucket, requests, "
                     "failed, min_ts) SELECT a, vigil_monitor.access_bucket(%s) + s * interval "
                     "'1 min', 1, 0, %s FROM generate_series(1, 5) s, unnest(%s::text[]) a",
                     (old, old, [ACTOR, OTHER]))
    window = ["--since", (old - timedelta(hours=1)).isoformat(),
              "--until", (old + timedelta(hours=1)).isoformat()]
    code, out = run_cli(capsys, *world.cli("incident", "hold", str(world.incident), *window))
    assert code == 0 and "legal hold on incident" in out, out
    assert_no_phi(out, "incident hold")

    def old_rows() -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        with pg.connect(world.dsn) as conn:
            worker.run_once(conn)
            for table, col in (("access_log", "ts"), ("phi_access_patterns", "accessed_at"),
                               ("access_rollup", "bucket")):
                rows = conn.execute(f"SELECT actor_id, count(*) FROM vigil_monitor.{table} "
                                    f"WHERE {col} < now() - interval '30 days' GROUP BY 1")
                out[table] = {str(r[0]): int(str(r[1])) for r in rows}
        return out

    # the hold's actor is ACTOR (from the alert): its old rows stay, OTHER's (unheld) go
    kept = old_rows()
    assert kept["access_log"] == {ACTOR: 30} and kept["phi_access_patterns"] == {ACTOR: 5}
    assert set(kept["access_rollup"]) == {ACTOR}   # its buckets (the run folded the rows too)
    code, out = run_cli(capsys, "incident", "release-hold", str(world.incident),
                        "--dsn", world.dsn)
    assert code == 0 and "released" in out
    assert old_rows() == {"access_log": {}, "phi_access_patterns": {}, "access_rollup": {}}
    code, out = run_cli(capsys, "incident", "release-hold", str(world.incident),
                        "--dsn", world.dsn)
    assert code == 1 and "no legal hold" in out


def test_holding_again_with_a_narrower_scope_never_shrinks_the_hold(world: World) -> None:
    """A later `hold`/`collect --hold` for one actor must not release what was held before."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    incident = 990_001   # a hold of its own: the world's incident keeps its own
    with pg.connect(world.dsn) as conn:
        hold.hold(conn, Scope(incident, t0, t0 + timedelta(days=2), ("u1", "u2"), ("t1",)),
                  "dana", open_ended=True)
        row = hold.hold(conn, Scope(incident, t0 + timedelta(days=1), t0 + timedelta(days=3),
                                    ("u1", "u3"), ()), "dana", open_ended=False)
        assert datetime.fromisoformat(row["since"]) == t0 and row["until"] is None
        assert row["actors"] == ["u1", "u2", "u3"] and row["tenants"] == ["t1"]
        everyone = 990_002   # an all-actors hold stays all-actors
        hold.hold(conn, Scope(everyone, t0, t0 + timedelta(days=1)), "dana", open_ended=False)
        row = hold.hold(conn, Scope(everyone, t0 + timedelta(hours=1), t0 + timedelta(hours=2),
                                    ("u1",)), "dana", open_ended=False)
        assert (row["actors"], row["tenants"]) == ([], [])
        assert datetime.fromisoformat(row["until"]) == t0 + timedelta(days=1)
        conn.execute("DELETE FROM vigil_monitor.legal_holds WHERE incident_id = ANY (%s)",
                     ([incident, everyone],))
