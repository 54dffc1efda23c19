"""The small error hierarchy every vigil package builds on.

Each message is a sentence the operator can act on; library errors are
re-raised with ``raise ... from None`` so DSNs and query text don't leak
through chained tracebacks.
"""


class VigilError(Exception):
    """Base for every error vigil raises on purpose."""


class ConfigError(VigilError):
    """The configuration is invalid; ``details`` holds (yaml path, problem) pairs."""

    def __init__(self, source: str, details: list[tuple[str, str]]) -> None:
        self.source = source
        self.details = details
        lines = [f"{source}: {loc}: {err}" if loc else f"{source}: {err}" for loc, err in details]
        super().__init__("\n".join(lines))


class DatabaseUnavailable(VigilError):
    """PostgreSQL could not be reached or did not answer in time."""
