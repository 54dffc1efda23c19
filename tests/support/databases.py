"""A throwaway database for a module's fixture: created, optionally migrated, dropped after."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator

from vigil.core import pg


@contextlib.contextmanager
def scratch_database(admin_dsn: str, prefix: str,
                     prepare: Callable[[str], object] | None = None) -> Iterator[str]:
    """``with scratch_database(admin, "console", migrate) as dsn:`` a database of its own
    (xdist-safe name), ``prepare(dsn)`` run first; dropped WITH (FORCE) on the way out, which
    ends any session a test left open."""
    name = f"vigil_{prefix}_{uuid.uuid4().hex[:10]}"
    pg.ensure_database(admin_dsn, name)
    dsn = pg.with_dbname(admin_dsn, name)
    try:
        if prepare is not None:
            prepare(dsn)
        yield dsn
    finally:
        pg.drop_database(admin_dsn, name)
