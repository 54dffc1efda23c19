"""Sealing for the demo when no sealer runs (the stack runs `vigil audit seal`)."""

from __future__ import annotations

import time

from vigil.audit import keys, sealer
from vigil.core import pg


def seal_for_demo(dsn: str, timeout: float = 15.0) -> int:
    """Seal what is settled now with the configured key (else the demo key), so the demo's
    audit-tamper fault has sealed rows to tamper with. When a sealer is running it does the
    work: wait until the rows settled now have left the buffer."""
    key = keys.load_or_demo()
    with pg.connect(dsn, application_name="vigil-demo-seal") as conn:
        if sealer.try_lock(conn):
            try:
                return sealer.seal_pending(conn, key)
            finally:
                sealer.unlock(conn)
        row = conn.execute("SELECT vigil_monitor.audit_settled_horizon()").fetchone()
        horizon = int(str(row[0])) if row else 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = conn.execute("SELECT 1 FROM vigil_monitor.audit_buffer WHERE txid < %s "
                                "LIMIT 1", (horizon,)).fetchone()
            if left is None:
                break
            time.sleep(0.1)
        return 0
