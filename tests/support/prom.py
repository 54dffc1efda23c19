"""The real Prometheus and Alertmanager, for tests.

- **Configs and tools** (support.promconfig, re-exported here): ``fast_prometheus``,
  ``fast_alertmanager``, ``*_test_config``, ``promtool``, ``amtool``.
- **Throwaway servers.** ``start_prometheus(config)``/``start_alertmanager(config)`` run the
  Debian binaries on free ports under vigil.stack.procs (their own process group, ended if
  the test process dies), wait for ``/-/ready`` and return a ``Server``.
- **The HTTP API.** ``query``, ``alerts``, ``wait_for_alert``, ``wait_for_targets_up``: with
  deadlines (support.polling), never sleep-and-hope.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from support.polling import free_port, wait_for
from support.promconfig import (
    PromToolsError,
    alertmanager_test_config,
    amtool,
    fast_alertmanager,
    fast_prometheus,
    prometheus_test_config,
    promtool,
)
from vigil.core import httpclient
from vigil.stack import procs
from vigil.stack.plan import ALERTMANAGER_BIN, PROMETHEUS_BIN
from vigil.stack.ruleoverlay import PROMETHEUS_DIR, RULES_DIR

__all__ = ["PROMETHEUS_DIR", "RULES_DIR", "PromToolsError", "alertmanager_test_config", "amtool",
           "fast_alertmanager", "fast_prometheus", "prometheus_test_config", "promtool"]

# --------------------------------------------------------------------------- servers

@dataclasses.dataclass(eq=False)
class Server:
    """A Prometheus or Alertmanager run by vigil.stack.procs; ``stop()`` (or leaving the
    ``with``) ends its process group and removes a temporary ``workdir``."""

    name: str
    record: procs.ProcessRecord
    port: int
    workdir: Path | None = None   # removed on stop (None: someone else's folder)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return "http://" + self.address

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = Path(self.record.log_path).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return procs.is_running(self.record)

    def stop(self, timeout: float = 10) -> None:
        procs.stop(self.record, timeout=timeout)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def wait_ready(server: Server, timeout: float = 30) -> None:
    """Poll ``/-/ready`` until 200; raise with the log tail if the server dies or times out."""
    def ready() -> bool:
        if not server.alive():
            raise PromToolsError(f"{server.name} exited before it was ready; last log lines:"
                                 f"\n{server.log_tail()}")
        return httpclient.request(f"{server.url}/-/ready", timeout=2, check=False)[0] == 200

    wait_for(ready, timeout=timeout, describe=f"{server.name} on {server.address} to be ready",
             explain=server.log_tail, retry_on=(httpclient.HttpError,))


def _start(name: str, argv_for: Callable[[int, Path], list[str]], *,
           ready_timeout: float, workdir: Path | None = None, attempts: int = 3) -> Server:
    """Start a server, retrying on another free port if ours was taken in the meantime.
    Its storage is a temporary folder, or ``workdir`` (kept: e.g. a prepared TSDB)."""
    for attempt in range(attempts):
        port = free_port()
        wd = workdir or Path(tempfile.mkdtemp(prefix=f"vigil-{name}-"))
        record = procs.spawn(name, argv_for(port, wd), wd / f"{name}.log",
                             cwd=wd, die_with_parent=True)
        server = Server(name, record, port, None if workdir else wd)
        try:
            wait_ready(server, timeout=ready_timeout)
            return server
        except (PromToolsError, AssertionError):
            taken = "address already in use" in server.log_tail()
            server.stop()
            if not taken or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


# How each server runs on port ``p`` with its config and storage under ``wd``.
_ARGV: dict[str, Callable[[Path, int, Path], list[str]]] = {
    "prometheus": lambda config, p, wd: [
        PROMETHEUS_BIN, f"--config.file={config}", f"--storage.tsdb.path={wd / 'data'}",
        f"--web.listen-address=127.0.0.1:{p}", "--web.enable-lifecycle",
        "--storage.tsdb.retention.time=1d", "--log.level=info"],
    "alertmanager": lambda config, p, wd: [
        ALERTMANAGER_BIN, f"--config.file={config}", f"--storage.path={wd / 'data'}",
        f"--web.listen-address=127.0.0.1:{p}", "--cluster.listen-address=",  # no gossip
        "--log.level=info"],
}


def start_server(name: str, config_path: Path | str, *, ready_timeout: float = 30,
                 workdir: Path | None = None, extra_args: Sequence[str] = ()) -> Server:
    """The real ``prometheus`` (lifecycle API on, so ``reload`` re-reads a changed config) or
    ``alertmanager`` on ``config_path`` and a free port, with throwaway storage (or its
    storage under ``workdir``/data, kept)."""
    config = Path(config_path).resolve()
    if not config.is_file():
        raise PromToolsError(f"no {name} config at {config}")
    return _start(name, lambda p, wd: [*_ARGV[name](config, p, wd), *extra_args],
                  ready_timeout=ready_timeout, workdir=workdir)


def start_prometheus(config_path: Path | str, **kwargs: Any) -> Server:
    return start_server("prometheus", config_path, **kwargs)


def start_alertmanager(config_path: Path | str, **kwargs: Any) -> Server:
    return start_server("alertmanager", config_path, **kwargs)


# --------------------------------------------------------------------------- HTTP API

def api_get(base_url: str, path: str, params: Mapping[str, str] | None = None,
            timeout: float = 10) -> Any:
    """GET a Prometheus/Alertmanager JSON API path and return ``data`` (or the body)."""
    url = f"{base_url}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    try:
        status, body = httpclient.request(url, timeout=timeout, check=False)
    except httpclient.HttpError as exc:
        raise PromToolsError(f"GET {path} on {base_url} failed: {exc}") from None
    try:
        doc = json.loads(body)
    except ValueError:
        raise PromToolsError(f"GET {path}: HTTP {status}, not JSON: {body[:300]!r}") from None
    if isinstance(doc, dict) and doc.get("status") == "error":
        raise PromToolsError(f"GET {path} params={dict(params or {})}: "
                             f"{doc.get('errorType')}: {doc.get('error')}")
    if status != 200:
        raise PromToolsError(f"GET {path}: HTTP {status}: {body[:300]!r}")
    return doc.get("data", doc) if isinstance(doc, dict) else doc


def query(base_url: str, promql: str, at: float | None = None) -> list[dict[str, Any]]:
    """Instant query; returns the result list (vector), or [scalar] for scalars."""
    params = {"query": promql}
    if at is not None:
        params["time"] = f"{at:.3f}"
    data = api_get(base_url, "/api/v1/query", params)
    if data.get("resultType") in ("scalar", "string"):
        return [{"metric": {}, "value": data["result"]}]
    return list(data["result"])


def alerts(base_url: str) -> list[dict[str, Any]]:
    """Prometheus's active alerts (pending and firing)."""
    return list(api_get(base_url, "/api/v1/alerts")["alerts"])


def _matches(alert: Mapping[str, Any], name: str, state: str | None,
             labels: Mapping[str, str] | None) -> bool:
    lbl = alert.get("labels", {})
    return (lbl.get("alertname") == name and (state is None or alert.get("state") == state)
            and all(lbl.get(k) == v for k, v in (labels or {}).items()))


def _active_summary(base_url: str) -> str:
    try:
        return "active alerts: " + repr(
            [(a["labels"].get("alertname"), a.get("state")) for a in alerts(base_url)])
    except PromToolsError as exc:
        return f"active alerts unknown: {exc}"


def wait_for_alert(base_url: str, name: str, *, state: str = "firing",
                   labels: Mapping[str, str] | None = None, timeout: float = 60,
                   interval: float = 0.5) -> dict[str, Any]:
    """Wait until ``name`` is active in ``state`` (with ``labels``); return that alert."""
    found: dict[str, Any] = wait_for(
        lambda: next((a for a in alerts(base_url) if _matches(a, name, state, labels)), None),
        timeout=timeout, interval=interval, describe=f"alert {name} to be {state}",
        explain=lambda: _active_summary(base_url), retry_on=(PromToolsError,))
    return found


def wait_for_alert_cleared(base_url: str, name: str, *,
                           labels: Mapping[str, str] | None = None, timeout: float = 60,
                           interval: float = 0.5) -> None:
    """Wait until no alert ``name`` (with ``labels``) is pending or firing."""
    wait_for(lambda: not any(_matches(a, name, None, labels) for a in alerts(base_url)),
             timeout=timeout, interval=interval, describe=f"alert {name} to clear",
             explain=lambda: _active_summary(base_url), retry_on=(PromToolsError,))


def wait_for_targets_up(base_url: str, jobs: Iterable[str], *, timeout: float = 30) -> None:
    """Wait until every active target of each job has been scraped successfully."""
    wanted = set(jobs)

    def targets() -> list[dict[str, Any]]:
        return list(api_get(base_url, "/api/v1/targets", {"state": "active"})["activeTargets"])

    def summary() -> str:
        try:
            return "targets: " + "; ".join(
                f"{t['labels'].get('job')} {t.get('scrapeUrl')} {t.get('health')} "
                f"{t.get('lastError')}" for t in targets())
        except PromToolsError as exc:
            return str(exc)

    wait_for(lambda: wanted <= {t["labels"].get("job") for t in targets()
                                if t.get("health") == "up"},
             timeout=timeout, describe=f"targets of {sorted(wanted)} to be up",
             explain=summary, retry_on=(PromToolsError,))


def reload(base_url: str, timeout: float = 10) -> None:
    """Ask a Prometheus/Alertmanager with the lifecycle API to re-read its config."""
    try:
        httpclient.request(f"{base_url}/-/reload", method="POST", timeout=timeout)
    except httpclient.HttpError as exc:
        raise PromToolsError(f"reload of {base_url} failed: {exc}") from None
