"""Size, oldest row and retention of each monitoring table, for ``vigil db status``.

Cheap on any history: pg_total_relation_size reads the catalog and min(ts) is one probe of the
time index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

# table -> its time column (each has an index on it).
TIME_COLUMNS: dict[str, str] = {
    "access_log": "ts",
    "phi_access_patterns": "accessed_at",
    "encryption_ops": "ts",
    "audit_write_metrics": "timestamp",
    "access_rollup": "bucket",
}


@dataclass(frozen=True)
class TableStorage:
    table: str
    size_bytes: int
    oldest: datetime | None
    retention: str | None  # the setting as written ("30 days"); None = kept for ever


def table_storage(conn: psycopg.Connection[tuple[object, ...]]) -> list[TableStorage]:
    out: list[TableStorage] = []
    for table, col in TIME_COLUMNS.items():
        ident = sql.Identifier("vigil_monitor", table)
        if conn.execute("SELECT to_regclass(%s)", (f"vigil_monitor.{table}",)).fetchone() \
                in (None, (None,)):
            continue  # schema older than 009
        row = conn.execute(sql.SQL(
            "SELECT pg_total_relation_size({rel}::regclass), (SELECT min({col}) FROM {tbl}), "
            "(SELECT value FROM vigil_monitor.settings WHERE key = {key})").format(
                rel=sql.Literal(f"vigil_monitor.{table}"), col=sql.Identifier(col), tbl=ident,
                key=sql.Literal(f"retention_{table}"))).fetchone()
        assert row is not None
        oldest = row[1] if isinstance(row[1], datetime) else None
        out.append(TableStorage(table, int(str(row[0])), oldest,
                                None if row[2] is None else str(row[2])))
    return out


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover - loop always returns
