"""The project's one Prometheus API client: the daily report, ``vigil metrics verify``, the
router's alert context and the console's overview all read Prometheus through ``Prom``.

Kept to this one small module on purpose: it rides on the project's one internal HTTP
client (``vigil.core.httpclient``), and every way a read fails is one
``PrometheusUnavailable`` whose message says what to check.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from vigil.core import httpclient
from vigil.core.errors import VigilError

Series = list[tuple[float, float]]


class PrometheusUnavailable(VigilError):
    """Prometheus could not be read: down, too slow, or an answer we can't use."""


@dataclass(frozen=True)
class Prom:
    base_url: str
    timeout: float = 30.0

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        url = self.base_url.rstrip("/") + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            doc = httpclient.get_json(url, timeout=self.timeout)
        except httpclient.HttpError as exc:
            raise PrometheusUnavailable(
                f"Prometheus at {self.base_url} did not answer {path}: {exc}; is it running "
                f"(`vigil status`) and is --prometheus-url right?") from None
        except ValueError:
            raise PrometheusUnavailable(f"Prometheus {path}: answer is not JSON") from None
        if not isinstance(doc, dict) or doc.get("status") != "success":
            err = doc.get("error") if isinstance(doc, dict) else doc
            raise PrometheusUnavailable(f"Prometheus {path}: {err}")
        return doc["data"]

    def query(self, expr: str, at: float) -> list[tuple[dict[str, str], float]]:
        """Instant vector: (labels, value) per series."""
        data = self._get("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
        if data.get("resultType") == "scalar":
            return [({}, float(data["result"][1]))]
        return [(dict(r["metric"]), float(r["value"][1])) for r in data["result"]]

    def query_range(self, expr: str, start: float, end: float,
                    step: float) -> list[tuple[dict[str, str], Series]]:
        """Range matrix: (labels, [(t, v), ...]) per series; steps without data are absent."""
        data = self._get("/api/v1/query_range", {
            "query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"})
        return [(dict(r["metric"]), [(float(t), float(v)) for t, v in r["values"]])
                for r in data["result"]]

    def rule_groups(self) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/rules")["groups"])

    def targets(self) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/targets", {"state": "active"})["activeTargets"])

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Prometheus holds now (pending and firing), with their labels."""
        return list(self._get("/api/v1/alerts")["alerts"])

    def config_yaml(self) -> str:
        """The configuration Prometheus loaded, as the YAML it reports."""
        return str(self._get("/api/v1/status/config")["yaml"])
