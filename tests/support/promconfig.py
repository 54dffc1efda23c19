"""Configs and command-line tools of the real Prometheus and Alertmanager, for tests.

``fast_prometheus(...)`` and ``fast_alertmanager(...)`` edit a parsed copy of the project's own
``prometheus.yml``/``alertmanager.yml`` (fast intervals, only the named jobs, short group
timings); vigil.stack takes them as overrides, and ``prometheus_test_config``/
``alertmanager_test_config`` write a file for a lone server. ``promtool``/``amtool`` run the
Debian tools. Re-exported by support.prom.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from vigil.core import durations
from vigil.stack.ruleoverlay import PROMETHEUS_DIR

PROMTOOL_BIN = os.environ.get("VIGIL_PROMTOOL_BIN", "/usr/bin/promtool")
AMTOOL_BIN = os.environ.get("VIGIL_AMTOOL_BIN", "/usr/bin/amtool")


class PromToolsError(Exception):
    """A Prometheus tool failed to start, answer or agree; the message says which and why."""


# --------------------------------------------------------------------------- configs

def fast_prometheus(jobs: Iterable[str], *, alertmanagers: Sequence[str] | None = None,
                    scrape_interval: str = "1s", evaluation_interval: str = "1s",
                    ) -> Callable[[dict[str, Any]], None]:
    """An override for a parsed ``prometheus.yml``: only ``jobs`` (job names of the real
    config), fast intervals with ``scrape_timeout`` capped at the interval, and
    ``alertmanagers`` (None: keep the config's, []: no alerting). Limits (``sample_limit``
    ...) are kept, so tests exercise them too."""
    wanted = list(jobs)

    def override(doc: dict[str, Any]) -> None:
        interval = durations.parse_prometheus(scrape_interval)

        def capped(value: str) -> str:
            return durations.format(min(durations.parse_prometheus(value), interval))

        glob = doc.setdefault("global", {})
        glob["scrape_interval"] = scrape_interval
        glob["evaluation_interval"] = evaluation_interval
        glob["scrape_timeout"] = capped(glob.get("scrape_timeout", "10s"))
        known = {job["job_name"] for job in doc.get("scrape_configs", [])}
        if unknown := set(wanted) - known:
            raise PromToolsError(f"no scrape job(s) {sorted(unknown)}; known: {sorted(known)}")
        kept = []
        for job in doc.get("scrape_configs", []):
            if job["job_name"] in wanted:
                job.pop("scrape_interval", None)
                if "scrape_timeout" in job:
                    job["scrape_timeout"] = capped(job["scrape_timeout"])
                kept.append(job)
        doc["scrape_configs"] = kept
        if alertmanagers:
            doc["alerting"] = {"alertmanagers": [{"static_configs": [
                {"targets": list(alertmanagers)}]}]}
        elif alertmanagers is not None:
            doc.pop("alerting", None)

    return override


def prometheus_test_config(dst: Path | str, *, targets: Mapping[str, Sequence[str]],
                           rule_files: Sequence[Path | str] = (),
                           alertmanagers: Sequence[str] = (),
                           scrape_interval: str = "1s", evaluation_interval: str = "1s",
                           src: Path | str = PROMETHEUS_DIR / "prometheus.yml") -> Path:
    """The real ``prometheus.yml`` for a lone test server: ``targets`` per job name."""
    doc = yaml.safe_load(Path(src).read_text())
    fast_prometheus(targets, alertmanagers=list(alertmanagers), scrape_interval=scrape_interval,
                    evaluation_interval=evaluation_interval)(doc)
    for job in doc["scrape_configs"]:
        job["static_configs"] = [{"targets": list(targets[job["job_name"]])}]
    doc["rule_files"] = [str(Path(p).resolve()) for p in rule_files]
    out = Path(dst)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def fast_alertmanager(group_wait: str | None = None, group_interval: str | None = None,
                      ) -> Callable[[dict[str, Any]], None]:
    """An override for a parsed ``alertmanager.yml``: shorter group timings on every route."""
    def retime(route: dict[str, Any]) -> None:
        if group_wait is not None and "group_wait" in route:
            route["group_wait"] = group_wait
        if group_interval is not None and "group_interval" in route:
            route["group_interval"] = group_interval
        for child in route.get("routes", []):
            retime(child)

    return lambda doc: retime(doc["route"])


def alertmanager_test_config(dst: Path | str, *, webhook_url: str,
                             credentials_file: Path | str | None = None,
                             group_wait: str | None = None, group_interval: str | None = None,
                             src: Path | str = PROMETHEUS_DIR / "alertmanager.yml") -> Path:
    """The real ``alertmanager.yml``: every webhook to ``webhook_url``, optionally another
    token file (None keeps the real relative path, resolved next to ``dst``)."""
    doc = yaml.safe_load(Path(src).read_text())
    for receiver in doc.get("receivers", []):
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook_url
            if credentials_file is not None:
                auth = hook.setdefault("http_config", {}).setdefault("authorization", {})
                auth["credentials_file"] = str(Path(credentials_file).resolve())
    fast_alertmanager(group_wait, group_interval)(doc)
    out = Path(dst)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


# --------------------------------------------------------------------------- CLI tools

def run_tool(binary: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a tool, capturing output; a missing binary or a hang is a readable error."""
    if not Path(binary).exists() and shutil.which(binary) is None:
        raise PromToolsError(f"{binary} is not installed (apt-get install prometheus "
                             "prometheus-alertmanager, or run scripts/bootstrap.sh)")
    try:
        return subprocess.run(
            [binary, *args], capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise PromToolsError(f"{Path(binary).name} {' '.join(args)} did not finish "
                             f"within {timeout:.0f}s") from None


def promtool(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_tool(PROMTOOL_BIN, *args, timeout=timeout)


def amtool(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_tool(AMTOOL_BIN, *args, timeout=timeout)
