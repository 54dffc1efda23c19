"""The scope of an incident: its time window, and the actors and tenants it concerns.

The incident and its alerts live in the router (fetched through its API); the records live in
the monitored database. The window runs from the earliest linked alert's start (the incident's
creation when it has none) minus a lookback, to the incident's close or now. Actors and tenants
come from the alerts' ``actor``/``actor_id`` and ``tenant``/``tenant_id`` labels, plus the
responder's ``--actor``/``--tenant``; explicit ``--since``/``--until`` replace the window's
ends. No actor and no tenant means every actor of the window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from vigil.core.errors import VigilError

ACTOR_LABELS = ("actor", "actor_id")
# A label value is payload data (anything Prometheus put there): it joins the scope, and so
# the output, only when it looks like an id; a value with spaces or an @ (a name, an email)
# never does.
_ID = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
TENANT_LABELS = ("tenant", "tenant_id")
DEFAULT_LOOKBACK = 3600.0


class Router(Protocol):
    def get(self, path: str) -> Any: ...


@dataclass(frozen=True)
class Scope:
    incident_id: int
    since: datetime
    until: datetime
    actors: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()
    closed: bool = False          # the incident is closed: the window ends at its close
    ignored_labels: int = 0       # actor/tenant label values left out: not id-shaped

    @property
    def everyone(self) -> bool:
        return not self.actors and not self.tenants

    def as_dict(self) -> dict[str, Any]:
        return {"incident_id": self.incident_id, "since": self.since.isoformat(),
                "until": self.until.isoformat(), "actors": list(self.actors),
                "tenants": list(self.tenants), "closed": self.closed,
                "ignored_labels": self.ignored_labels}


@dataclass(frozen=True)
class IncidentDocs:
    """What the router says about the incident: the record, its timeline, its alerts."""
    incident: dict[str, Any]
    timeline: list[dict[str, Any]]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    alert_timelines: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


def fetch(router: Router, incident_id: int, *, timelines: bool = True) -> IncidentDocs:
    incident = router.get(f"/api/v1/incidents/{incident_id}")
    timeline = router.get(f"/api/v1/incidents/{incident_id}/timeline")["events"] \
        if timelines else []
    alerts, alert_timelines = [], {}
    for aid in incident.get("alert_ids") or []:
        alerts.append(router.get(f"/api/v1/alerts/{int(aid)}"))
        if timelines:
            alert_timelines[int(aid)] = router.get(f"/api/v1/alerts/{int(aid)}/timeline")["events"]
    return IncidentDocs(incident, timeline, alerts, alert_timelines)


def _time(value: Any, what: str) -> datetime:
    try:
        ts = datetime.fromisoformat(str(value))
    except ValueError:
        raise VigilError(f"the router sent a {what} that is not an ISO timestamp") from None
    if ts.tzinfo is None:
        raise VigilError(f"the router sent a {what} without a time zone")
    return ts


def build(docs: IncidentDocs, now: datetime, *, lookback: float = DEFAULT_LOOKBACK,
          actors: tuple[str, ...] = (), tenants: tuple[str, ...] = (),
          since: datetime | None = None, until: datetime | None = None) -> Scope:
    inc = docs.incident
    starts = [_time(a["starts_at"], "starts_at") for a in docs.alerts if a.get("starts_at")]
    start = min(starts) if starts else _time(inc["created_at"], "created_at")
    closed = inc.get("status") == "closed"
    end = now
    # A closed incident's end: closed_at if the router has one, else when its status last
    # moved (router schema 0007's status_changed_at: the move to closed is final).
    closed_field = next((f for f in ("closed_at", "status_changed_at") if inc.get(f)), None)
    if closed and closed_field:
        end = _time(inc[closed_field], closed_field)
    found_actors, found_tenants = list(actors), list(tenants)
    ignored = 0
    for alert in docs.alerts:
        labels = alert.get("labels") or {}
        for names, found in ((ACTOR_LABELS, found_actors), (TENANT_LABELS, found_tenants)):
            values = [str(labels[k]) for k in names if labels.get(k)]
            found += [v for v in values if _ID.match(v)]
            ignored += sum(1 for v in values if not _ID.match(v))
    lo = since or start - timedelta(seconds=lookback)
    hi = until or end
    if hi < lo:
        raise VigilError("--until: the window ends before it starts (check --since/--until)")
    return Scope(int(inc["id"]), lo, hi, tuple(sorted(set(found_actors))),
                 tuple(sorted(set(found_tenants))), closed, ignored)
