"""What a containment is: a target, the planned statements and their effect, the check."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from vigil.checks.result import CheckResult
from vigil.core.errors import VigilError

Kind = Literal["role", "actor", "tenant"]
KINDS: tuple[Kind, ...] = ("role", "actor", "tenant")
# The name of the restrictive policy on each RLS table while an actor or tenant is contained.
POLICY = "vigil_contain"


class TargetError(VigilError):
    """A target that can't be contained as given (the CLI exits 2 and names the flag)."""

    def __init__(self, kind: str, message: str) -> None:
        self.field = f"--{kind}"
        super().__init__(f"{self.field}: {message}")


@dataclasses.dataclass(frozen=True)
class Target:
    kind: Kind
    value: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise TargetError("target", f"unknown kind {self.kind!r}; use role, actor or tenant")
        if not self.value or not self.value.strip() or "\x00" in self.value:
            raise TargetError(self.kind, "must be a non-empty name")

    @property
    def label(self) -> str:
        """``role:R``: how the CLI and the router name a containment action."""
        return f"{self.kind}:{self.value}"

    @classmethod
    def parse(cls, label: str) -> Target:
        kind, sep, value = label.partition(":")
        if not sep or kind not in KINDS:
            raise TargetError("action", f"{label!r}: expected role:NAME, actor:ID or tenant:ID")
        return cls(kind, value)


@dataclasses.dataclass(frozen=True)
class Step:
    """One statement, exactly as it will run, and what it does. ``after`` steps run once the
    transaction holding the others committed (terminating sessions after NOLOGIN is visible,
    so a terminated client can't log straight back in)."""
    sql: str
    effect: str
    after: bool = False


@dataclasses.dataclass(frozen=True)
class Plan:
    action: Literal["contain", "release"]
    target: Target
    database: str
    incident_id: int | None
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()
    # The active containments the plan was made from: the executor refuses to run it when
    # they changed meanwhile (another responder's policy statements would be overwritten).
    basis: str = ""

    @property
    def noop(self) -> bool:
        """Already in the wanted state: contain and release are idempotent."""
        return not self.steps

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "kind": self.target.kind, "target": self.target.value,
                "database": self.database, "incident_id": self.incident_id,
                "noop": self.noop, "notes": list(self.notes),
                "steps": [{"sql": s.sql, "effect": s.effect, "after_commit": s.after}
                          for s in self.steps]}


@dataclasses.dataclass(frozen=True)
class Verification:
    target: Target
    state: Literal["contained", "released"]
    checks: tuple[CheckResult, ...]
    # An actor's writes refused by its containment (the active one, else the last released),
    # counted by schema 020; None for roles and tenants, or a containment that had no counter.
    refused_writes: int | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "state": self.state, "refused_writes": self.refused_writes,
                "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail}
                           for c in self.checks]}
