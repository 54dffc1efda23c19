"""Which rule timings the running Prometheus uses: ``vigil up --fast``'s or the real ones.

Asked of Prometheus itself (the config it loaded, ``/api/v1/status/config``), not of the
generated file: ``vigil up --fast`` regenerates the file but keeps a Prometheus that is
already running, with whatever timings it was started with.
"""

from __future__ import annotations

import dataclasses

import yaml

from vigil.core.prom import Prom, PrometheusUnavailable

# The folder (under the state folder's config/) that holds the --fast rule overlay.
FAST_RULES_DIR = "rules-fast"


@dataclasses.dataclass(frozen=True)
class Timings:
    fast: bool
    evaluation_interval: str

    def describe(self) -> str:
        if self.fast:
            return (f"FAST demo timings (--fast): rules' for: and windows compressed, "
                    f"evaluated every {self.evaluation_interval}; not for production")
        return f"real: the rules' own for: and windows, evaluated every {self.evaluation_interval}"


def running(prometheus_url: str, timeout: float = 3.0) -> Timings | None:
    """The loaded config's timings; None when Prometheus does not answer."""
    try:
        loaded = yaml.safe_load(Prom(prometheus_url, timeout=timeout).config_yaml()) or {}
    except (PrometheusUnavailable, KeyError, TypeError, yaml.YAMLError):
        return None
    files = [str(f) for f in loaded.get("rule_files") or []]
    interval = str((loaded.get("global") or {}).get("evaluation_interval", "1m"))
    return Timings(fast=any(f"/{FAST_RULES_DIR}/" in f for f in files),
                   evaluation_interval=interval)
