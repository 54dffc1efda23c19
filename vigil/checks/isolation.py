"""Tenant isolation, probed on every RLS table through the probe roles (migration 011).

Runs as the monitoring login: the tenants come from ``isolation_tenants`` (tenant ids only)
and the counts from ``isolation_leaks``, which runs as the RLS probe role, i.e. as the roles
the policies apply to. The tenant column is the registered one (any name, any type).
"""

from __future__ import annotations

import psycopg

from vigil.checks.result import CheckResult

Conn = psycopg.Connection[tuple[object, ...]]


def isolation(conn: Conn, max_tenants: int = 5) -> CheckResult:
    tables = conn.execute(
        "SELECT c.oid::regclass::text, vigil_monitor.tenant_column_of(n.nspname, c.relname), "
        "c.oid::bigint "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relrowsecurity AND c.relkind IN ('r', 'p') "
        "AND n.nspname NOT IN ('vigil_monitor', 'pg_catalog', 'information_schema') "
        "ORDER BY 1").fetchall()
    leaks: list[str] = []
    unprobed: list[str] = []
    probes = 0
    probed_tables = 0
    # By oid: a name would need USAGE on the application's schema, which this login lacks.
    for rel, column, oid in tables:
        if column is None:
            unprobed.append(f"{rel} (no tenant column: vigil db tenant-column {rel} COLUMN)")
            continue
        tenants = [str(r[0]) for r in conn.execute(
            "SELECT * FROM vigil_monitor.isolation_tenants(%s::oid::regclass, %s)",
            (oid, max_tenants))]
        if not tenants:
            unprobed.append(f"{rel} (no rows to probe)")
            continue
        probed_tables += 1
        for tenant in [*tenants, ""]:
            with conn.transaction():
                row = conn.execute("SELECT vigil_monitor.isolation_leaks(%s::oid::regclass, %s)",
                                   (oid, tenant)).fetchone()
            probes += 1
            if row and row[0] is not None and int(str(row[0])) > 0:
                leaks.append(f"{rel} as tenant {tenant or '(unset)'}")
    examined = (f"{probes} probes on {probed_tables} of {len(tables)} RLS tables, "
                "as the roles the policies apply to")
    if leaks:
        return CheckResult("Tenant isolation", False, float(len(leaks)), 0.0,
                           "rows of other tenants visible: " + "; ".join(leaks))
    if unprobed:
        return CheckResult("Tenant isolation", False, None, 0.0,
                           f"{examined}; not probed: " + "; ".join(unprobed))
    if probes == 0:
        return CheckResult("Tenant isolation", False, None, 0.0, "no RLS table to probe",
                           no_data=True)
    return CheckResult("Tenant isolation", True, 0.0, 0.0, examined)
