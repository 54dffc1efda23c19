"""What every benchmark script shares: where the checkout is, a free port, where results go.

The scripts run as ``python bench/NAME.py``, so bench/ is sys.path[0] and this imports as
``benchlib``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def save_results(name: str, results: Any) -> Path:
    """Write ``results`` as bench/results/NAME.json (the figures docs/benchmarks.md quotes)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(results, indent=2))
    return path


@contextlib.contextmanager
def scratch_database(prefix: str, *, keep: bool = False,
                     template: str | None = None) -> Iterator[str]:
    """A new database PREFIX_<random> on the server of $VIGIL_ADMIN_DSN (a copy of
    ``template`` when given), as a DSN; dropped afterwards unless ``keep``."""
    from psycopg import sql

    from vigil.core import pg  # here: the script has put its checkout first on sys.path

    admin = pg.admin_dsn()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with pg.connect(admin) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
                     + (sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
                        if template else sql.SQL("")))
    try:
        yield pg.with_dbname(admin, name)
    finally:
        if not keep:
            pg.drop_database(admin, name)


def run_in_tmp(name: str, ap: argparse.ArgumentParser,
               run_all: Callable[[argparse.Namespace, Path], Any],
               report: Callable[[Any], None]) -> int:
    """A cluster benchmark's main: parse, run in a temp folder, print, save the results."""
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = run_all(args, Path(tmp))
    report(results)
    save_results(name, results)
    return 0
