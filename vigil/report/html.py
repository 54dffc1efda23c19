"""report.html: one self-contained page rendered from report.json.

The Content-Security-Policy forbids every fetch (``default-src 'none'``) and allows only
the inline stylesheet; the plots are inline SVG. The page works offline and from a mail
attachment, and cannot leak the report to another host.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

from vigil.report.svg import line_plot

CSP = "default-src 'none'; style-src 'unsafe-inline'"
STYLE = """
body{font-family:sans-serif;margin:2em;color:#222;max-width:70em}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 8px;
text-align:left;font-size:13px}.ok{color:#2ca02c}.attention{color:#d62728;font-weight:bold}
.missing,.breach{color:#d62728;font-weight:bold;background:#fee}code{font-size:12px}
"""


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if v is None:
        return '<span class="missing">no data</span>'
    return escape(str(v))


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in columns) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def kv(d: dict[str, Any]) -> str:
    return table([{"name": k, "value": v} for k, v in d.items()
                  if not isinstance(v, (dict, list))], ["name", "value"])


def _status(word: str) -> str:
    return f'<span class="{escape(word)}">{escape(word)}</span>'


def _time(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%H:%M")


def _gaps(gaps: list[list[float]]) -> str:
    if not gaps:
        return "none"
    shown = ", ".join(f"{_time(a)}-{_time(b)}" for a, b in gaps[:6])
    return shown + (f" (+{len(gaps) - 6} more)" if len(gaps) > 6 else "")


def render(doc: dict[str, Any]) -> str:
    start = dt.datetime.fromisoformat(doc["window"]["start"].replace("Z", "+00:00")).timestamp()
    out = [f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
           f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
           f"<title>vigil security report {escape(doc['date'])}</title>"
           f"<style>{STYLE}</style></head><body>",
           f"<h1>Security report {escape(doc['date'])} (UTC)</h1>",
           f"<p>Overall: {_status(doc['status'])}. Generated {escape(doc['generated_at'])}. "
           f"Hash <code>{escape(doc['hash'])}</code>, previous "
           f"<code>{escape(doc['previous_hash'])}</code>.</p>"]
    out.append("<table><tr><th>section</th><th>status</th></tr>" + "".join(
        f"<tr><td>{escape(k)}</td><td>{_status(v)}</td></tr>"
        for k, v in doc["sections_status"].items()) + "</table>")
    if doc["missing"]:
        out.append("<h2 class='missing'>Missing data</h2><ul>" + "".join(
            f"<li>{escape(m)}</li>" for m in doc["missing"]) + "</ul>")
    out.append("<h2>Performance thresholds</h2>")
    for name, t in doc["thresholds"].items():
        out.append(f"<h3>{escape(name)} ({escape(t['metric'])}, threshold "
                   f"{t['threshold_seconds'] * 1000:g} ms): {_status(t['status'])}</h3>")
        plots = {k: s.get("plot", []) for k, s in t["series"].items()}
        out.append(line_plot(f"{name}: {t['statistic']}", plots, start, start + 86400,
                             t["threshold_seconds"]))
        rows = [{"series": k, **{c: s.get(c) for c in ("p50", "p95", "p99", "observations",
                                                        "seconds_over_threshold",
                                                        "coverage_ratio")},
                 "gaps": _gaps(s.get("gaps", []))} for k, s in t["series"].items()]
        if t["statistic"] == "value":  # a gauge: no observation count to show
            for r in rows:
                r["observations"] = "n/a"
        out.append(table(rows, ["series", "p50", "p95", "p99", "observations",
                                "seconds_over_threshold", "coverage_ratio", "gaps"]))
    acc = doc["access"]
    out.append("<h2>Access review</h2>" + kv(acc["prometheus"]) + kv(acc["database"]))
    db = acc["database"]
    for key, cols in (("by_tenant_actor", ["tenant", "actor", "requests", "failed"]),
                      ("top_phi_readers", ["actor", "rows_read", "queries"]),
                      ("off_hours_phi_access", ["actor", "table", "queries", "rows_read"]),
                      ("unusual_at_day_end", ["actor", "window_requests", "window_failed",
                                              "baseline_per_window", "rule"])):
        out.append(f"<h3>{escape(key.replace('_', ' '))}</h3>" + table(db.get(key, []), cols))
    audit = doc["audit"]
    out.append("<h2>Audit</h2>" + kv(audit["prometheus"]))
    for key in ("metrics", "chain", "buffer"):
        value = audit["database"].get(key)
        out.append(f"<h3>{key}</h3>" + (kv(value) if value else _status("missing")))
    out.append("<h3>sealers</h3>" + table(audit["database"].get("sealers", []), [
        "sealer_id", "alive", "heartbeat_age_seconds", "seal_lag_seconds", "rows_sealed_total",
        "last_error"]))
    enc = doc["encryption"]["prometheus"]
    out.append("<h2>Encryption</h2>" + kv(enc) + table(
        [{"key": k, **v} for k, v in enc.get("keys", {}).items()],
        ["key", "age_seconds_max", "over_policy"]))
    al = doc["alerts"]
    out.append("<h2>Alerts and incidents</h2>" + table(
        [{"severity": k, **v} for k, v in al.get("by_severity", {}).items()],
        ["severity", "received", "time_to_ack_p50_seconds", "time_to_ack_p95_seconds",
         "ack_sla_seconds", "sla_breaches", "escalations"]) + table(
        [{"alert": k, **v} for k, v in al.get("firing", {}).items()],
        ["alert", "severity", "firing_seconds"]))
    router = al.get("router", {})
    out.append("<h3>Response times (router)</h3>" + (table(
        [{"severity": k, **v} for k, v in router.get("by_severity", {}).items()],
        ["severity", "received", "acked", "time_to_ack_p50_seconds", "time_to_ack_max_seconds",
         "resolved", "time_to_resolve_p50_seconds", "time_to_resolve_max_seconds",
         "response_time_seconds", "ack_late", "resolve_late", "sla_breaches", "escalations"])
        + "<h3>Incidents</h3>" + table(router.get("incidents", []), [
            "severity", "opened", "responded", "time_to_respond_max_seconds"])
        if router else _status("missing")))
    if al.get("not_collected"):
        out.append("<p>Not collected by this report: "
                   + escape(", ".join(al["not_collected"])) + "</p>")
    out.append("<h2>Collection health</h2>" + table(
        [{**c, "gaps": _gaps(c["gaps"])} for c in doc["collection"].values()],
        ["target", "collector", "status", "success_ratio", "coverage_ratio", "gaps"]))
    out.append("</body></html>\n")
    return "".join(out)
