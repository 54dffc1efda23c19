"""report.json: assembling the day's report and its place in the hash chain.

The hash is SHA-256 over the canonical JSON of the report without its ``hash`` field
(sorted keys, no whitespace, UTF-8). ``previous_hash`` is the hash of the stored day before
it (``GENESIS`` for the first), so editing any stored report, or removing one from the
middle, breaks the chain at that day.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import math
from typing import Any

FORMAT = "vigil.report/1"
GENESIS = "0" * 64

OK, ATTENTION, MISSING = "ok", "attention", "missing"


def canonical(doc: dict[str, Any]) -> bytes:
    body = {k: v for k, v in doc.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def digest(doc: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(doc)).hexdigest()


def clean(value: Any) -> Any:
    """JSON has no NaN or infinity: NaN means "no data" (None), +Inf stays visible as text."""
    if isinstance(value, decimal.Decimal):  # numeric from PostgreSQL
        value = float(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        return value
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return value


def section_status(prom: dict[str, Any]) -> dict[str, str]:
    """One word per section. Missing data is never "ok"."""
    out: dict[str, str] = {}
    for name, t in prom.get("thresholds", {}).items():
        out[f"threshold:{name}"] = ATTENTION if t["status"] == "breach" else t["status"]
    access = prom.get("access", {})
    out["access"] = MISSING if access.get("requests") is None else (
        ATTENTION if (access.get("unusual_patterns_max") or 0) > 0 else OK)
    audit = prom.get("audit", {})
    if audit.get("coverage_ratio_min") is None or audit.get("integrity_issues_max") is None:
        out["audit"] = MISSING
    else:
        bad = (audit["coverage_ratio_min"] < 1 or audit["integrity_issues_max"] > 0
               or (audit.get("gaps_max") or 0) > 0)
        out["audit"] = ATTENTION if bad else OK
    enc = prom.get("encryption", {})
    out["encryption"] = MISSING if not enc.get("keys") else (
        ATTENTION if any(k["over_policy"] for k in enc["keys"].values())
        or (enc.get("failed_operations") or 0) > 0 else OK)
    coll = prom.get("collection", {})
    states = {c["status"] for c in coll.values()}
    out["collection"] = (MISSING if not coll or MISSING in states
                         else ATTENTION if ATTENTION in states else OK)
    return out


def overall(statuses: dict[str, str]) -> str:
    values = set(statuses.values())
    return MISSING if MISSING in values else ATTENTION if ATTENTION in values else OK


def build(date: dt.date, prom: dict[str, Any], db: dict[str, Any], *, previous_hash: str,
          generated_at: dt.datetime, sources: dict[str, str]) -> dict[str, Any]:
    statuses = section_status(prom)
    router = prom.get("router", {})
    missing = sorted(set(prom.get("missing", [])) | set(db.get("missing", []))
                     | set(router.get("missing", [])))
    doc: dict[str, Any] = clean({
        "format": FORMAT,
        "date": date.isoformat(),
        "window": {"start": f"{date.isoformat()}T00:00:00Z",
                   "end": f"{(date + dt.timedelta(days=1)).isoformat()}T00:00:00Z"},
        "generated_at": generated_at.astimezone(dt.UTC).isoformat(),
        "sources": sources,
        "status": overall(statuses),
        "sections_status": statuses,
        "missing": missing,
        "thresholds": prom.get("thresholds", {}),
        "access": {"prometheus": prom.get("access", {}), "database": db.get("access", {})},
        "audit": {"prometheus": prom.get("audit", {}), "database": db.get("audit", {})},
        "encryption": {"prometheus": prom.get("encryption", {}),
                       "database_keys": db.get("encryption_keys", [])},
        "alerts": {**prom.get("alerts", {}),
                   "router": {k: v for k, v in router.items() if k != "missing"}},
        "collection": prom.get("collection", {}),
        "previous_hash": previous_hash,
    })
    doc["hash"] = digest(doc)
    return doc
