"""Every SQL block of the runbooks, exactly as printed, answers under the fault it is for.

The blocks are extracted from docs/runbook.md and from the operations runbook vigil was
built for (tests/checks/data/OPERATIONS_RUNBOOK.md, a verbatim copy: its queries name
vigil's objects without their schema). Each statement is keyed to the scenario it diagnoses
and what its rows must show there; a statement the table below does not know fails the test,
so a query added to the docs gets a check. Sessions are fresh connections with the database's
defaults, as a responder's psql (superuser) or the monitoring login (vigil_exporter) has.
"""

from __future__ import annotations

import re
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from support.polling import wait_for

from vigil import demo, schema
from vigil.core import pg

REPO = Path(__file__).resolve().parents[2]
DOCS = (REPO / "docs" / "runbook.md", Path(__file__).parent / "data" / "OPERATIONS_RUNBOOK.md")
Rows = list[dict[str, Any]]
Check = Callable[[Rows], bool]


def _norm(statement: str) -> str:
    lines = [re.sub(r"--.*$", "", line) for line in statement.splitlines()]
    return " ".join(" ".join(lines).split()).rstrip(";").strip()


def blocks(markdown: str) -> list[list[str]]:
    """The ```sql blocks (indented ones too), each as its statements, comments removed."""
    found = re.findall(r"^([ \t]*)```sql\n(.*?)^[ \t]*```", markdown, re.S | re.M)
    out = []
    for _indent, body in found:
        text = "\n".join(re.sub(r"--.*$", "", line) for line in textwrap.dedent(body).splitlines())
        out.append([_norm(s) for s in text.split(";") if _norm(s)])
    return out


def _some(rows: Rows) -> bool:
    return len(rows) > 0


def _none(rows: Rows) -> bool:
    return rows == []


def _done(rows: Rows) -> bool:   # DDL and maintenance: it ran, no rows expected
    return rows == []


def _deal_slow(rows: Rows) -> bool:
    return any(r["table_name"] == "Deal" and r["avg_overhead_ms"] > 50 for r in rows)


def _slow_ops(rows: Rows) -> bool:
    return bool(rows) and all(r["duration_ms"] > 100 for r in rows) and any(
        str(r["key_id"]).startswith("k-slow-") for r in rows)


SHIPPED_TRIGGERS = {"audit_buffer_guard", "audit_buffer_no_truncate"}
# statement (normalized) -> (scenario, what its rows show there, logins that run it)
BOTH = ("admin", "monitor")
ADMIN = ("admin",)
EXPECTED: dict[str, tuple[str, Check, tuple[str, ...]]] = {
    # Operations runbook, names without schema (017 puts vigil_monitor on the search_path).
    "SELECT * FROM monitor_rls_overhead() WHERE avg_overhead_ms > 50 ORDER BY avg_overhead_ms "
    "DESC": ("slow-rls", _deal_slow, BOTH),
    "SELECT * FROM monitor_encryption_performance() WHERE duration_ms > 100 ORDER BY "
    "duration_ms DESC": ("slow-encryption", _slow_ops, BOTH),
    "EXPLAIN ANALYZE SELECT * FROM monitor_rls_performance()": ("slow-rls", _some, BOTH),
    "SELECT * FROM pg_stat_user_indexes WHERE idx_scan = 0": ("healthy", _some, BOTH),
    "SELECT current_setting('app.current_tenant_id', true)": (
        "healthy", lambda rows: len(rows) == 1, BOTH),
    "SELECT * FROM phi_access_patterns WHERE duration_ms > 100": (
        "slow-encryption", lambda rows: bool(rows) and all(r["duration_ms"] > 100 for r in rows),
        BOTH),
    'REINDEX TABLE "Deal"': ("healthy", _done, ADMIN),
    'ANALYZE "Deal"': ("healthy", _done, ADMIN),
    "SELECT avg(extract(epoch from duration)) FROM audit_write_metrics WHERE timestamp > now() "
    "- interval '1 hour'": ("slow-audit", lambda rows: rows[0]["avg"] > 0.01, BOTH),
    # docs/runbook.md, qualified names.
    "SELECT * FROM vigil_monitor.monitor_rls_overhead() WHERE avg_overhead_ms > 50 ORDER BY "
    "avg_overhead_ms DESC": ("slow-rls", _deal_slow, BOTH),
    "SET lock_timeout = '1s'": ("locked-table", _done, BOTH),
    "SELECT schema_name, table_name, error FROM vigil_monitor.monitor_rls_overhead() WHERE "
    "error IS NOT NULL": ("locked-table", lambda rows: any(
        r["table_name"] == "Deal" and r["error"] == "lock_not_available" for r in rows), BOTH),
    "SELECT * FROM vigil_monitor.monitor_encryption_performance() WHERE duration_ms > 100 "
    "ORDER BY duration_ms DESC": ("slow-encryption", _slow_ops, BOTH),
    "EXPLAIN ANALYZE SELECT * FROM vigil_monitor.monitor_rls_performance()": (
        "slow-rls", _some, BOTH),
    "SELECT * FROM vigil_monitor.unused_indexes": ("healthy", _some, BOTH),
    "SELECT * FROM vigil_monitor.phi_access_patterns WHERE duration_ms > 100 ORDER BY "
    "accessed_at DESC LIMIT 50": ("slow-encryption", lambda rows: bool(rows) and all(
        r["duration_ms"] > 100 for r in rows), BOTH),
    "SELECT avg(extract(epoch from duration)) FROM vigil_monitor.audit_write_metrics WHERE "
    "timestamp > now() - interval '1 hour'": ("slow-audit", lambda rows: rows[0]["avg"] > 0.01,
                                               BOTH),
    "SELECT tgname FROM pg_trigger WHERE tgrelid = 'vigil_monitor.audit_buffer'::regclass AND "
    "NOT tgisinternal": ("slow-audit", lambda rows: {r["tgname"] for r in rows} - SHIPPED_TRIGGERS
                         == {"vigil_fault_slow_audit"}, BOTH),
    "SELECT operation, key_id, avg(duration_ms), count(*) FROM "
    "vigil_monitor.monitor_encryption_performance() WHERE ts > now() - interval '15 minutes' "
    "GROUP BY 1, 2 ORDER BY 3 DESC": ("slow-encryption", lambda rows: str(
        rows[0]["key_id"]).startswith("k-slow-") and rows[0]["avg"] > 100, BOTH),
    "SELECT * FROM vigil_monitor.unusual_access_patterns()": ("failed-access", _some, BOTH),
    "SELECT * FROM vigil_monitor.monitor_encryption_performance() WHERE NOT success ORDER BY "
    "ts DESC LIMIT 20": ("encryption-failure", lambda rows: len(rows) == 1 and not rows[0][
        "success"], BOTH),
    "SELECT * FROM vigil_monitor.audit_chain_status()": (
        "audit-tamper", lambda rows: rows[0]["integrity_issues"] > 0, BOTH),
    "SELECT * FROM vigil_monitor.verify_audit_chain()": (
        "audit-tamper", lambda rows: rows[0]["first_broken_id"] is not None, BOTH),
    'ALTER TABLE public."Contact" ENABLE ROW LEVEL SECURITY': ("rls-disabled", _done, ADMIN),
    'ALTER TABLE public."Deal" ENABLE TRIGGER vigil_audit': (
        "audit-trigger-disabled", _done, ADMIN),
}
# After the DDL the runbook prescribes, the control it restores is back.
RESTORED: dict[str, str] = {
    "rls-disabled": "SELECT relrowsecurity FROM pg_class "
                    "WHERE oid = 'public.\"Contact\"'::regclass",
    "audit-trigger-disabled": "SELECT tgenabled = 'O' FROM pg_trigger "
                              "WHERE tgrelid = 'public.\"Deal\"'::regclass "
                              "AND tgname = 'vigil_audit'",
}
SCENARIOS = ("healthy", "slow-audit", "slow-rls", "locked-table", "slow-encryption",
             "failed-access", "encryption-failure", "audit-tamper", "rls-disabled",
             "audit-trigger-disabled")


def all_blocks() -> list[list[str]]:
    return [b for doc in DOCS for b in blocks(doc.read_text())]


def test_every_printed_statement_has_an_expectation() -> None:
    printed = {s for b in all_blocks() for s in b}
    assert len(all_blocks()) >= 15
    assert printed - set(EXPECTED) == set(), "a runbook query without a check"
    assert set(EXPECTED) - printed == set(), "a check for a query the runbooks no longer show"
    assert {scenario for scenario, _, _ in EXPECTED.values()} <= set(SCENARIOS)


@pytest.fixture(scope="module")
def runbook_demo(admin_dsn: str) -> Iterator[demo.DemoInfo]:
    name = f"vigil_rbsql_{uuid.uuid4().hex[:10]}"
    pg.ensure_database(admin_dsn, name)
    try:
        info = demo.setup(admin_dsn, name, tenants=3)
        # More than the 10,000 operations monitor_encryption_performance() reads: old, fast
        # ones, so a slow operation is only found by reading the most recent window.
        with pg.connect(info.admin_dsn) as conn:
            conn.execute("INSERT INTO vigil_monitor.encryption_ops (ts, operation, key_id, "
                         "duration_ms, success) SELECT now() - interval '2 hours', 'decrypt', "
                         "'k-old', 1.0, true FROM generate_series(1, 10050)")
        yield info
    finally:
        pg.drop_database(admin_dsn, name)


def _run(dsn: str, statements: list[str]) -> dict[str, Rows]:
    """One fresh session per block, as a responder pasting it into psql."""
    out: dict[str, Rows] = {}
    with psycopg.connect(dsn, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
        conn.execute("SET statement_timeout = '60s'")  # a hang fails the test, not the suite
        for statement in statements:
            cur = conn.execute(statement.encode())
            out[statement] = list(cur.fetchall()) if cur.description else []
    return out


def _prepare(info: demo.DemoInfo, scenario: str) -> Callable[[], None]:
    """Put the scenario in place; returns how to undo what is not a demo fault."""
    if scenario == "locked-table":
        locker = psycopg.connect(info.admin_dsn)
        locker.execute('LOCK TABLE public."Deal" IN ACCESS EXCLUSIVE MODE')
        return locker.close
    if scenario == "encryption-failure":  # what the application records on a pgcrypto error
        with pg.connect(info.app_dsn) as conn:
            conn.execute("SELECT vigil_monitor.record_encryption_op('decrypt', 'k-gone', 2.0, "
                         "false)")
        return lambda: None
    if scenario == "slow-audit":
        # The writes of the set-up and earlier scenarios happened "before the incident": out
        # of the hour the runbook's average reads, so it reads the fault's writes.
        with pg.connect(info.admin_dsn) as conn:
            conn.execute('UPDATE vigil_monitor.audit_write_metrics '
                         'SET "timestamp" = "timestamp" - interval \'2 hours\'')
    if scenario in demo.FAULTS:
        if scenario == "audit-tamper":
            from vigil.audit.demo import seal_for_demo

            demo.run_load(info, duration=0.5, rate=30)
            seal_for_demo(info.admin_dsn)
        demo.inject(info.admin_dsn, scenario)
    if scenario in {"slow-audit", "slow-encryption", "failed-access"}:
        demo.run_load(info, duration=2.0, rate=20)
    return lambda: None


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_runbook_queries_as_printed_show_the_fault(
        runbook_demo: demo.DemoInfo, scenario: str) -> None:
    info = runbook_demo
    logins = {"admin": info.admin_dsn, "monitor": info.exporter_dsn}
    undo = _prepare(info, scenario)
    checked = 0
    try:
        for login, dsn in logins.items():
            for block in all_blocks():
                mine = [s for s in block if EXPECTED[s][0] == scenario
                        and login in EXPECTED[s][2]]
                if not mine:
                    continue
                results = _run(dsn, mine)
                for statement in mine:
                    rows = results[statement]
                    assert EXPECTED[statement][1](rows), (login, statement, rows[:5])
                    checked += 1
        if scenario in RESTORED:  # the DDL the runbook prescribes restored the control
            assert list(_run(info.admin_dsn, [RESTORED[scenario]])[RESTORED[scenario]][0]
                        .values()) == [True]
    finally:
        undo()
        demo.heal(info.admin_dsn)
    assert checked > 0


def test_the_documented_search_path_serves_a_role_with_its_own(
        runbook_demo: demo.DemoInfo) -> None:
    """A role whose own search_path hides vigil_monitor: the runbook's SET makes the printed
    queries resolve in its session."""
    documented = re.findall(r"`(SET search_path = [^`;]+;)`", DOCS[0].read_text())
    assert len(set(documented)) == 1, documented
    name = pg.dbname_of(runbook_demo.admin_dsn)
    with pg.connect(runbook_demo.admin_dsn) as conn:
        conn.execute(sql.SQL("ALTER ROLE vigil_exporter IN DATABASE {} SET search_path = public")
                     .format(sql.Identifier(name)))
    try:
        query = "SELECT * FROM monitor_rls_performance()"
        with pytest.raises(psycopg.errors.UndefinedFunction):
            _run(runbook_demo.exporter_dsn, [query])
        assert _run(runbook_demo.exporter_dsn, [documented[0], query])[query]
    finally:
        with pg.connect(runbook_demo.admin_dsn) as conn:
            conn.execute(sql.SQL("ALTER ROLE vigil_exporter IN DATABASE {} RESET search_path")
                         .format(sql.Identifier(name)))


def test_the_recent_window_is_read_through_the_primary_key(
        runbook_demo: demo.DemoInfo) -> None:
    """monitor_encryption_performance() without arguments reads the newest rows by a backward
    scan of the primary key: no sequential scan, so its cost does not grow with the table."""
    stats = ("SELECT seq_scan, idx_scan FROM pg_stat_user_tables "
             "WHERE relid = 'vigil_monitor.encryption_ops'::regclass")

    def counters(conn: psycopg.Connection[tuple[Any, ...]]) -> tuple[int, int]:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(stats).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    with psycopg.connect(runbook_demo.admin_dsn, autocommit=True) as conn:
        # A table much larger than the window (on a small one a sequential scan is cheaper).
        conn.execute("INSERT INTO vigil_monitor.encryption_ops (ts, operation, key_id, "
                     "duration_ms, success) SELECT now() - interval '3 hours', 'decrypt', "
                     "'k-older', 1.0, true FROM generate_series(1, 300000)")
        conn.execute("ANALYZE vigil_monitor.encryption_ops")
        conn.execute("SELECT pg_stat_force_next_flush()")
        seq, idx = counters(conn)
        rows = conn.execute("SELECT count(*) FROM monitor_encryption_performance()").fetchone()
        assert rows is not None and rows[0] == 10_000
        conn.execute("SELECT pg_stat_force_next_flush()")
        wait_for(lambda: counters(conn)[1] > idx, timeout=10, interval=0.1,
                 describe="the index scan to be counted")
        assert counters(conn)[0] == seq


def test_a_database_whose_search_path_is_empty_gets_vigil_monitor_alone(fresh_db: str) -> None:
    """search_path = '' is stored as "": 017 must not build `"", vigil_monitor` (rejected)."""
    text = (Path(schema.__file__).parent / "sql" / "017_runbook_queries.sql").read_text()
    [block] = re.findall(r"^DO \$\$.*?^END \$\$;", text, re.S | re.M)
    name = pg.dbname_of(fresh_db)
    setting = ("SELECT c FROM pg_db_role_setting s, unnest(s.setconfig) c WHERE s.setrole = 0 "
               "AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = %s) "
               "AND c LIKE 'search_path=%%'")
    with pg.connect(fresh_db) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET search_path = ''").format(
            sql.Identifier(name)))
        for _ in range(2):   # idempotent: the second run adds nothing
            conn.execute(block.encode())
            assert [r[0] for r in conn.execute(setting, (name,))] == [
                "search_path=vigil_monitor"]
