"""The ``vigil_monitor`` schema: the database side the exporter and the runbook read.

Python API::

    from vigil import schema
    schema.install(dsn)                 # apply pending SQL files; grants vigil_exporter
    schema.status(dsn)                  # Status(installed_version, pending, missing, ...)
    schema.grant_exporter(dsn, role)    # pg_monitor + read grants + probe-role membership
    schema.grant_app(dsn, role)         # EXECUTE on the SECURITY DEFINER write functions
    schema.grants_script(role)          # the GRANT script as text

See docs/monitoring-schema.md for every object.
"""

from vigil.schema.contract import (
    CONTRACT,
    DEFAULT_EXPORTER_ROLE,
    PROBE_BYPASS_ROLE,
    PROBE_RLS_ROLE,
    SCHEMA,
)
from vigil.schema.installer import (
    Status,
    apply_migrations,
    grant_app,
    grant_exporter,
    install,
    migrations,
    status,
)
from vigil.schema.roles import grants_script

__all__ = [
    "CONTRACT", "DEFAULT_EXPORTER_ROLE", "PROBE_BYPASS_ROLE", "PROBE_RLS_ROLE", "SCHEMA", "Status",
    "apply_migrations", "grant_app", "grant_exporter", "grants_script", "install", "migrations",
    "status",
]
