"""vigil: the operations runbook for a multi-tenant PHI PostgreSQL, as running software."""

__version__ = "0.1.0"
