"""Every contract object: plausible under the demo load, past the threshold under its fault,
back after heal. All numbers come from real work in PostgreSQL."""

from __future__ import annotations

from pghelpers import one, query, wait_for

from vigil import demo

MEDIAN = "percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms)"


def _rls(info: demo.DemoInfo) -> dict[str, tuple[float, int]]:
    rows = query(info.exporter_dsn, "SELECT table_name, avg_overhead_ms, samples "
                 "FROM vigil_monitor.monitor_rls_overhead(3, 1500)")
    return {r[0]: (r[1], r[2]) for r in rows}


def test_slow_rls_pushes_measured_overhead_past_50ms_and_heal_restores(
        demo_db: demo.DemoInfo) -> None:
    healthy = _rls(demo_db)
    assert set(healthy) == {"Deal", "Contact", "tenants"}  # discovered from the catalog
    assert all(0 <= ms < 50 and n >= 1 for ms, n in healthy.values())
    demo.inject(demo_db.admin_dsn, "slow-rls")
    assert _rls(demo_db)["Deal"][0] > 50
    detail = query(demo_db.exporter_dsn, "SELECT policy_name, has_subquery FROM "
                   "vigil_monitor.monitor_rls_performance() WHERE table_name = 'Deal'")
    assert ("vigil_fault_slow_rls", True) in detail
    assert demo.heal(demo_db.admin_dsn, "slow-rls") == ["slow-rls"]
    assert _rls(demo_db)["Deal"][0] < 50


def _audit_ms(info: demo.DemoInfo, since: object) -> tuple[float, float]:
    """(min, median) audit write time in ms since the watermark; the median keeps a healthy
    run robust against CPU contention from parallel tests."""
    row = one(info.exporter_dsn, "SELECT min(ms), percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), "
              "count(*) FROM (SELECT extract(epoch FROM duration) * 1000 AS ms "
              "FROM vigil_monitor.audit_write_metrics WHERE id > %s) s", (since,))
    assert row[2] > 0
    return float(row[0]), float(row[1])


def _last_id(dsn: str, table: str) -> int:
    return int(one(dsn, f"SELECT coalesce(max(id), 0) FROM vigil_monitor.{table}")[0])


def test_slow_audit_pushes_audit_writes_past_10ms_and_heal_restores(
        demo_db: demo.DemoInfo) -> None:
    mark = _last_id(demo_db.admin_dsn, "audit_write_metrics")
    demo.run_load(demo_db, duration=1.0, rate=30)
    assert 0 < _audit_ms(demo_db, mark)[1] < 10
    demo.inject(demo_db.admin_dsn, "slow-audit")
    mark = _last_id(demo_db.admin_dsn, "audit_write_metrics")
    demo.run_load(demo_db, duration=1.0, rate=30)
    assert _audit_ms(demo_db, mark)[0] > 10  # every single audit write is slow
    demo.heal(demo_db.admin_dsn, "slow-audit")
    mark = _last_id(demo_db.admin_dsn, "audit_write_metrics")
    demo.run_load(demo_db, duration=1.0, rate=30)
    assert _audit_ms(demo_db, mark)[1] < 10


def _enc_and_phi(info: demo.DemoInfo, enc_mark: int, phi_mark: int,
                 stat: str = "max(duration_ms)") -> tuple[float, float]:
    enc = one(info.exporter_dsn, f"SELECT {stat}, count(*) FROM "
              "vigil_monitor.monitor_encryption_performance(%s, 10000)", (enc_mark,))
    phi = one(info.exporter_dsn, f"SELECT {stat}, count(*) FROM "
              "vigil_monitor.phi_access_patterns WHERE id > %s", (phi_mark,))
    assert enc[1] > 0 and phi[1] > 0
    return float(enc[0]), float(phi[0])


def test_slow_encryption_pushes_pgcrypto_and_phi_queries_past_100ms_and_heal_restores(
        demo_db: demo.DemoInfo) -> None:
    marks = (_last_id(demo_db.admin_dsn, "encryption_ops"),
             _last_id(demo_db.admin_dsn, "phi_access_patterns"))
    demo.run_load(demo_db, duration=1.0, rate=30, rotate_every=60)
    enc, phi = _enc_and_phi(demo_db, *marks, stat=MEDIAN)
    assert 0 < enc < 100 and 0 < phi < 100
    demo.inject(demo_db.admin_dsn, "slow-encryption")
    marks = (_last_id(demo_db.admin_dsn, "encryption_ops"),
             _last_id(demo_db.admin_dsn, "phi_access_patterns"))
    demo.run_load(demo_db, duration=1.5, rate=10, rotate_every=0.1)  # rotation must not heal it
    enc, phi = _enc_and_phi(demo_db, *marks)
    assert enc > 100 and phi > 100
    demo.heal(demo_db.admin_dsn, "slow-encryption")
    status = one(demo_db.exporter_dsn, "SELECT * FROM vigil_monitor.security_encryption_status()")
    assert status[1:] == ("complete", 1.0)
    marks = (_last_id(demo_db.admin_dsn, "encryption_ops"),
             _last_id(demo_db.admin_dsn, "phi_access_patterns"))
    demo.run_load(demo_db, duration=1.0, rate=30, rotate_every=60)
    enc, phi = _enc_and_phi(demo_db, *marks, stat=MEDIAN)
    assert enc < 100 and phi < 100


def test_failed_access_burst_counts_attempts_and_flags_unusual_pattern_until_window_passes(
        demo_db: demo.DemoInfo) -> None:
    demo.run_load(demo_db, duration=1.0, rate=30)
    total, failed, unusual = one(demo_db.exporter_dsn,
                                 "SELECT * FROM vigil_monitor.security_access_metrics()")
    assert total > 10 and unusual == 0
    query(demo_db.admin_dsn, "UPDATE vigil_monitor.settings SET value = '3' "
          "WHERE key = 'unusual_window_seconds'")
    done = demo.inject(demo_db.admin_dsn, "failed-access")
    after = one(demo_db.exporter_dsn, "SELECT * FROM vigil_monitor.security_access_metrics()")
    assert after[1] >= failed + 10 and after[2] >= 1
    flagged = query(demo_db.exporter_dsn, "SELECT actor_id, rule FROM "
                    "vigil_monitor.unusual_access_patterns()")
    assert (done["actor"], "failed_attempts") in flagged
    demo.heal(demo_db.admin_dsn, "failed-access")
    wait_for(lambda: one(demo_db.exporter_dsn,
                         "SELECT unusual_patterns FROM vigil_monitor.security_access_metrics()"),
             lambda row: row[0] == 0, timeout=15)


def test_audit_tamper_is_named_by_the_verifier_and_heal_restores_the_chain(
        demo_db: demo.DemoInfo) -> None:
    demo.run_load(demo_db, duration=0.5, rate=30)
    metrics = "SELECT integrity_issues, first_broken_id FROM vigil_monitor.security_audit_metrics()"
    assert one(demo_db.exporter_dsn, metrics) == (0, None)
    done = demo.inject(demo_db.admin_dsn, "audit-tamper")
    assert one(demo_db.exporter_dsn, metrics) == (1, done["audit_id"])
    checked, broken, reason = one(demo_db.exporter_dsn,
                                  "SELECT * FROM vigil_monitor.verify_audit_chain()")
    assert broken == done["audit_id"] and "altered" in reason and checked > 10
    demo.heal(demo_db.admin_dsn)
    assert one(demo_db.exporter_dsn, metrics) == (0, None)


def test_coverage_keys_rotation_and_unused_indexes_are_real(demo_db: demo.DemoInfo) -> None:
    audit = one(demo_db.exporter_dsn, "SELECT coverage_ratio, phi_tables, audited_tables, gaps "
                "FROM vigil_monitor.security_audit_metrics()")
    assert audit == (1.0, 2, 2, 0)
    query(demo_db.admin_dsn, 'ALTER TABLE "Contact" DISABLE TRIGGER vigil_audit')
    audit = one(demo_db.exporter_dsn, "SELECT coverage_ratio, audited_tables, gaps "
                "FROM vigil_monitor.security_audit_metrics()")
    assert audit == (0.5, 1, 3)
    query(demo_db.admin_dsn, 'ALTER TABLE "Contact" ENABLE TRIGGER vigil_audit')
    stats = demo.run_load(demo_db, duration=1.0, rate=20, rotate_every=0.3)
    assert stats.rotations >= 1 and stats.errors == 0
    keys = query(demo_db.exporter_dsn, "SELECT * FROM vigil_monitor.security_encryption_metrics()")
    assert [k for k in keys if k[2]] and all(0 <= k[1] < 600 for k in keys)
    status = one(demo_db.exporter_dsn, "SELECT * FROM vigil_monitor.security_encryption_status()")
    assert status == (0, "complete", 1.0)
    unused = {r[0] for r in query(demo_db.exporter_dsn,
                                  "SELECT index_name FROM vigil_monitor.unused_indexes")}
    assert "deal_amount" in unused


def test_load_runs_in_a_background_thread(demo_db: demo.DemoInfo) -> None:
    thread = demo.LoadThread(demo_db, rate=20)
    thread.start()
    wait_for(lambda: one(demo_db.exporter_dsn, "SELECT count(*) FROM "
                         "vigil_monitor.phi_access_patterns")[0], lambda n: n >= 3)
    stats = thread.stop()
    assert stats is not None and stats.ops > 0 and stats.errors == 0
