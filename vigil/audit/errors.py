"""The audit package's errors."""

from vigil.core.errors import VigilError


class AuditError(VigilError):
    """Base for audit-chain errors."""


class KeyMissing(AuditError):
    """No HMAC key was given (flag, file or environment)."""


class ChainForked(AuditError):
    """Another sealer appended the same seq first (the unique key held)."""
