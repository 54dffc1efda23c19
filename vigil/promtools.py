"""The real Prometheus tools, for tests and the demo stack.

Three things live here, shared by several test suites:

- **Rule overlays.** ``compressed_rules(src, dst, for_="5s", window="30s")`` rewrites the
  real rule files so ``for:`` durations, range windows and offsets are capped, and
  policy recording rules can be overridden. The overlay is generated from
  ``prometheus/rules`` every time, so it cannot drift from the rules it compresses.
- **Throwaway servers.** ``start_prometheus(config)`` and ``start_alertmanager(config)``
  run the Debian binaries on free ports with their own temporary storage, wait until
  ``/-/ready`` answers and return a ``ManagedProcess`` that stops them and removes the
  storage (also at interpreter exit). Failures quote the tail of the server's log.
- **Polling helpers.** ``query``, ``wait_for_alert``, ``wait_for_targets_up``: deadlines,
  never sleep-and-hope.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import yaml

from vigil.errors import VigilError

REPO_ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = REPO_ROOT / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"

PROMETHEUS_BIN = os.environ.get("VIGIL_PROMETHEUS_BIN", "/usr/bin/prometheus")
PROMTOOL_BIN = os.environ.get("VIGIL_PROMTOOL_BIN", "/usr/bin/promtool")
ALERTMANAGER_BIN = os.environ.get("VIGIL_ALERTMANAGER_BIN", "/usr/bin/prometheus-alertmanager")
AMTOOL_BIN = os.environ.get("VIGIL_AMTOOL_BIN", "/usr/bin/amtool")

T = TypeVar("T")


class PromToolsError(VigilError):
    """A Prometheus tool failed to start, answer or agree; the message says which and why."""


# --------------------------------------------------------------------------- durations

_UNITS: dict[str, float] = {
    "y": 365 * 86400.0, "w": 7 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0,
    "ms": 0.001,
}
_DURATION = r"(?:\d+(?:ms|[smhdwy]))+"
_DURATION_PART = re.compile(r"(\d+)(ms|[smhdwy])")
_DURATION_FULL = re.compile(rf"^{_DURATION}$")


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as ``5m``, ``1h30m``, ``500ms`` or ``0s``."""
    text = str(text).strip()
    if not _DURATION_FULL.match(text):
        raise PromToolsError(f"{text!r} is not a Prometheus duration (e.g. 30s, 5m, 1h30m)")
    return sum(int(n) * _UNITS[u] for n, u in _DURATION_PART.findall(text))


def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration for ``seconds`` (whole milliseconds)."""
    ms = round(seconds * 1000)
    if ms <= 0:
        return "0s"
    out = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000),
                       ("ms", 1)):
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(out)


# --------------------------------------------------------------------------- overlay

# String literals are copied untouched so a regex matcher like "[0-9]5m" is never rewritten.
_PROMQL_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_RANGE = re.compile(rf"\[(\s*)({_DURATION})(\s*)(?::(\s*)({_DURATION})?(\s*))?\]")
_OFFSET = re.compile(rf"(\boffset\s+)(-?)({_DURATION})")


def compress_expr(expr: str, window: str) -> str:
    """Cap every range window, subquery range and offset in a PromQL expression at ``window``.

    Windows already shorter are kept, so relative order survives where it matters
    (a 1m rate stays shorter than a 1h baseline only if both are under the cap).
    """
    cap = parse_duration(window)

    def capped(text: str) -> str:
        return format_duration(min(parse_duration(text), cap))

    def range_sub(m: re.Match[str]) -> str:
        rng = capped(m.group(2))
        if m.group(4) is None:  # a plain range selector
            return f"[{rng}]"
        res = m.group(5)
        if res is None:
            return f"[{rng}:]"
        res_s = min(parse_duration(res), parse_duration(rng) / 5)
        return f"[{rng}:{format_duration(max(res_s, 0.001))}]"

    def offset_sub(m: re.Match[str]) -> str:
        return f"{m.group(1)}{m.group(2)}{capped(m.group(3))}"

    out: list[str] = []
    pos = 0
    for lit in _PROMQL_STRING.finditer(expr):
        code = expr[pos:lit.start()]
        out.append(_OFFSET.sub(offset_sub, _RANGE.sub(range_sub, code)))
        out.append(lit.group(0))
        pos = lit.end()
    out.append(_OFFSET.sub(offset_sub, _RANGE.sub(range_sub, expr[pos:])))
    return "".join(out)


def load_rule_files(src_dir: Path | str = RULES_DIR) -> dict[Path, dict[str, Any]]:
    """Every ``*.yml``/``*.yaml`` rule file in ``src_dir``, parsed, sorted by name."""
    src = Path(src_dir)
    files = sorted([*src.glob("*.yml"), *src.glob("*.yaml")])
    if not files:
        raise PromToolsError(f"no rule files (*.yml) in {src}")
    out: dict[Path, dict[str, Any]] = {}
    for path in files:
        doc = yaml.safe_load(path.read_text())
        if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
            raise PromToolsError(f"{path}: a rule file needs a top-level 'groups' list")
        out[path] = doc
    return out


def iter_rules(src_dir: Path | str = RULES_DIR) -> Iterable[tuple[Path, str, dict[str, Any]]]:
    """(file, group name, rule) for every rule in ``src_dir``."""
    for path, doc in load_rule_files(src_dir).items():
        for group in doc["groups"]:
            for rule in group.get("rules") or []:
                yield path, str(group.get("name")), rule


def compressed_rules(src_dir: Path | str, dst_dir: Path | str, *, for_: str = "5s",
                     window: str = "30s",
                     policy: Mapping[str, float] | None = None,
                     collector_intervals: Mapping[str, float] | None = None) -> list[Path]:
    """Write a compressed-timing copy of the rule files in ``src_dir`` into ``dst_dir``.

    - every ``for:`` longer than ``for_`` becomes ``for_``;
    - every range window, subquery range and ``offset`` longer than ``window`` becomes
      ``window`` (``rate(x[5m])`` -> ``rate(x[30s])``);
    - ``policy`` maps a recording rule name (e.g. ``vigil:policy:encryption_key_max_age_seconds``)
      to a constant that replaces its expression.

    A window is never capped below ``rulefloor.FACTOR`` x the longest interval of the
    exporter collectors the rule reads (``collector_intervals`` by collector name, default
    the built-in defaults), so a rate over a slow collector doesn't flap (vigil/rulefloor.py).

    Recorded series keep their names (``..._rate5m`` still says 5m); only timing changes.
    Returns the written paths, in the same order as the sources.
    """
    from vigil import rulefloor

    cap_for = parse_duration(for_)
    cap = parse_duration(window)  # fail early on a typo
    remaining = dict(policy or {})
    dst = Path(dst_dir)
    dst.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    docs = load_rule_files(src_dir)
    every = [r for doc in docs.values() for g in doc["groups"] for r in g.get("rules") or []]
    floor = rulefloor.floors(every, rulefloor.metric_intervals(collector_intervals))
    for path, doc in docs.items():
        for group in doc["groups"]:
            for rule in group.get("rules") or []:
                if "for" in rule:
                    rule["for"] = format_duration(min(parse_duration(rule["for"]), cap_for))
                name = rule.get("record")
                if name in remaining:
                    rule["expr"] = f"vector({float(remaining.pop(name))!r})"
                else:
                    at_least = format_duration(max(cap, floor[id(rule)]))
                    rule["expr"] = compress_expr(str(rule["expr"]), at_least)
        out = dst / path.name
        out.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
        written.append(out)
    if remaining:
        raise PromToolsError(f"policy names no recording rule in {src_dir}: {sorted(remaining)}")
    return written


# --------------------------------------------------------------------------- configs

def prometheus_test_config(dst: Path | str, *, targets: Mapping[str, Sequence[str]],
                           rule_files: Sequence[Path | str] = (),
                           alertmanagers: Sequence[str] = (),
                           scrape_interval: str = "1s", evaluation_interval: str = "1s",
                           src: Path | str = PROMETHEUS_DIR / "prometheus.yml") -> Path:
    """Rewrite the real ``prometheus.yml`` for a test: new targets per job, fast intervals.

    ``targets`` maps a job name of the real config (``vigil-exporter``, ``vigil-router``)
    to ``host:port`` strings; jobs not named are dropped. Limits (``sample_limit`` ...)
    are kept, so tests exercise them too. ``scrape_timeout`` is capped at the interval.
    """
    doc = yaml.safe_load(Path(src).read_text())
    interval = parse_duration(scrape_interval)
    glob = doc.setdefault("global", {})
    glob["scrape_interval"] = scrape_interval
    glob["evaluation_interval"] = evaluation_interval
    glob["scrape_timeout"] = format_duration(
        min(parse_duration(glob.get("scrape_timeout", "10s")), interval))
    jobs = []
    known = {job["job_name"] for job in doc.get("scrape_configs", [])}
    unknown = set(targets) - known
    if unknown:
        raise PromToolsError(
            f"{src} has no scrape job(s) {sorted(unknown)}; known: {sorted(known)}")
    for job in doc.get("scrape_configs", []):
        if job["job_name"] not in targets:
            continue
        job["static_configs"] = [{"targets": list(targets[job["job_name"]])}]
        job.pop("scrape_interval", None)
        if "scrape_timeout" in job:
            job["scrape_timeout"] = format_duration(
                min(parse_duration(job["scrape_timeout"]), interval))
        jobs.append(job)
    doc["scrape_configs"] = jobs
    doc["rule_files"] = [str(Path(p).resolve()) for p in rule_files]
    if alertmanagers:
        static = [{"targets": list(alertmanagers)}]
        doc["alerting"] = {"alertmanagers": [{"static_configs": static}]}
    else:
        doc.pop("alerting", None)
    out = Path(dst)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def alertmanager_test_config(dst: Path | str, *, webhook_url: str,
                             credentials_file: Path | str | None = None,
                             group_wait: str | None = None, group_interval: str | None = None,
                             src: Path | str = PROMETHEUS_DIR / "alertmanager.yml") -> Path:
    """Rewrite the real ``alertmanager.yml``: every webhook to ``webhook_url``, optionally
    another token file, and optionally shorter group timings on every route.

    With ``credentials_file=None`` the real relative path is kept, so it resolves next to
    ``dst`` exactly as it would next to the real file.
    """
    doc = yaml.safe_load(Path(src).read_text())
    for receiver in doc.get("receivers", []):
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook_url
            if credentials_file is not None:
                auth = hook.setdefault("http_config", {}).setdefault("authorization", {})
                auth["credentials_file"] = str(Path(credentials_file).resolve())

    def retime(route: dict[str, Any]) -> None:
        if group_wait is not None and "group_wait" in route:
            route["group_wait"] = group_wait
        if group_interval is not None and "group_interval" in route:
            route["group_interval"] = group_interval
        for child in route.get("routes", []):
            retime(child)

    retime(doc["route"])
    out = Path(dst)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


# --------------------------------------------------------------------------- CLI tools

def run_tool(binary: str, *args: str, timeout: float = 60, cwd: Path | str | None = None,
             input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool, capturing output; a missing binary or a hang is a readable error."""
    if not Path(binary).exists() and shutil.which(binary) is None:
        raise PromToolsError(f"{binary} is not installed (apt-get install prometheus "
                             "prometheus-alertmanager, or run scripts/bootstrap.sh)")
    try:
        return subprocess.run(  # noqa: S603 - fixed binaries, arguments from our own code
            [binary, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
            input=input_text, check=False)
    except subprocess.TimeoutExpired:
        raise PromToolsError(f"{Path(binary).name} {' '.join(args)} did not finish "
                             f"within {timeout:.0f}s") from None


def promtool(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_tool(PROMTOOL_BIN, *args, timeout=timeout)


def amtool(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_tool(AMTOOL_BIN, *args, timeout=timeout)


# --------------------------------------------------------------------------- processes

def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_LIVE: set[ManagedProcess] = set()
_LIVE_LOCK = threading.Lock()


@dataclass(eq=False)
class ManagedProcess:
    """A server started by this module. ``stop()`` (or leaving the ``with``) ends it."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    workdir: Path
    log_path: Path
    keep_workdir: bool = False
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL; remove the temp dir. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ManagedProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for proc in live:
        with contextlib.suppress(Exception):
            proc.stop(timeout=5)


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    """GET ``url``; returns (status, body). Connection errors raise ``OSError``."""
    req = urllib.request.Request(url, method="GET")  # noqa: S310 - our own http:// URLs
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())


def _spawn(name: str, argv_for: Callable[[int, Path], list[str]], port: int | None, *,
           ready_timeout: float, workdir: Path | None, attempts: int = 3) -> ManagedProcess:
    """Start a server, retrying on another free port if ours was taken in the meantime."""
    last_error = ""
    for _ in range(attempts if port is None else 1):
        use_port = port if port is not None else free_port()
        wd = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"vigil-{name}-"))
        wd.mkdir(parents=True, exist_ok=True)
        log_path = wd / f"{name}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(  # noqa: S603 - fixed binaries
                argv_for(use_port, wd), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=wd)
        managed = ManagedProcess(name, proc, use_port, wd, log_path,
                                 keep_workdir=workdir is not None)
        with _LIVE_LOCK:
            _LIVE.add(managed)
        try:
            wait_ready(managed, timeout=ready_timeout)
            return managed
        except PromToolsError as exc:
            tail = managed.log_tail()
            managed.stop()
            last_error = str(exc)
            if "address already in use" in tail and port is None:
                continue
            raise
    raise PromToolsError(f"{name} could not get a free port: {last_error}")


def wait_ready(managed: ManagedProcess, timeout: float = 30) -> None:
    """Poll ``/-/ready`` until 200; raise with the log tail if the server dies or times out."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if not managed.alive():
            raise PromToolsError(
                f"{managed.name} exited with code {managed.process.returncode} before it was "
                f"ready; last log lines:\n{managed.log_tail()}")
        try:
            status, body = http_get(f"{managed.url}/-/ready", timeout=2)
            if status == 200:
                return
            last = f"HTTP {status}: {body[:200]!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise PromToolsError(f"{managed.name} on {managed.address} not ready after {timeout:.0f}s "
                         f"({last}); last log lines:\n{managed.log_tail()}")


def start_prometheus(config_path: Path | str, port: int | None = None, *,
                     ready_timeout: float = 30, workdir: Path | str | None = None,
                     extra_args: Sequence[str] = ()) -> ManagedProcess:
    """Start the real Prometheus on ``config_path``, with throwaway TSDB storage.

    ``port=None`` picks a free port (and retries if another test grabs it first).
    Lifecycle API is on, so ``reload(proc)`` can re-read a changed config.
    """
    config = Path(config_path).resolve()
    if not config.is_file():
        raise PromToolsError(f"no Prometheus config at {config}")

    def argv(p: int, wd: Path) -> list[str]:
        return [PROMETHEUS_BIN, f"--config.file={config}", f"--storage.tsdb.path={wd / 'data'}",
                f"--web.listen-address=127.0.0.1:{p}", "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=1d", "--log.level=info", *extra_args]

    return _spawn("prometheus", argv, port, ready_timeout=ready_timeout,
                  workdir=Path(workdir) if workdir else None)


def start_alertmanager(config_path: Path | str, port: int | None = None, *,
                       ready_timeout: float = 30, workdir: Path | str | None = None,
                       extra_args: Sequence[str] = ()) -> ManagedProcess:
    """Start the real Alertmanager on ``config_path``; clustering off, throwaway storage."""
    config = Path(config_path).resolve()
    if not config.is_file():
        raise PromToolsError(f"no Alertmanager config at {config}")

    def argv(p: int, wd: Path) -> list[str]:
        return [ALERTMANAGER_BIN, f"--config.file={config}", f"--storage.path={wd / 'data'}",
                f"--web.listen-address=127.0.0.1:{p}", "--cluster.listen-address=",
                "--log.level=info", *extra_args]

    return _spawn("alertmanager", argv, port, ready_timeout=ready_timeout,
                  workdir=Path(workdir) if workdir else None)


# --------------------------------------------------------------------------- HTTP API

def api_get(base_url: str, path: str, params: Mapping[str, str] | None = None,
            timeout: float = 10) -> Any:
    """GET a Prometheus/Alertmanager JSON API path and return ``data`` (or the body)."""
    url = f"{base_url}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    try:
        status, body = http_get(url, timeout=timeout)
    except OSError as exc:
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
    result = data["result"]
    if data.get("resultType") in ("scalar", "string"):
        return [{"metric": {}, "value": result}]
    return list(result)


def wait_for(check: Callable[[], T | None], *, timeout: float, interval: float = 0.5,
             describe: str = "condition", on_timeout: Callable[[], str] | None = None) -> T:
    """Call ``check`` until it returns something truthy; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except PromToolsError as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            extra = on_timeout() if on_timeout else ""
            err = f" (last error: {last_error})" if last_error else ""
            raise PromToolsError(f"timed out after {timeout:.0f}s waiting for {describe}{err}"
                                 + (f"\n{extra}" if extra else ""))
        time.sleep(interval)


def alerts(base_url: str) -> list[dict[str, Any]]:
    """Prometheus's active alerts (pending and firing)."""
    return list(api_get(base_url, "/api/v1/alerts")["alerts"])


def _matches(alert: Mapping[str, Any], name: str, state: str | None,
             labels: Mapping[str, str] | None) -> bool:
    lbl = alert.get("labels", {})
    return (lbl.get("alertname") == name and (state is None or alert.get("state") == state)
            and all(lbl.get(k) == v for k, v in (labels or {}).items()))


def wait_for_alert(base_url: str, name: str, *, state: str = "firing",
                   labels: Mapping[str, str] | None = None, timeout: float = 60,
                   interval: float = 0.5) -> dict[str, Any]:
    """Wait until ``name`` is active in ``state`` (with ``labels``); return that alert."""
    def check() -> dict[str, Any] | None:
        return next((a for a in alerts(base_url) if _matches(a, name, state, labels)), None)

    def summary() -> str:
        try:
            active = [(a["labels"].get("alertname"), a.get("state")) for a in alerts(base_url)]
        except PromToolsError as exc:
            return f"active alerts unknown: {exc}"
        return f"active alerts: {active}"

    return wait_for(check, timeout=timeout, interval=interval,
                    describe=f"alert {name} to be {state}", on_timeout=summary)


def wait_for_alert_cleared(base_url: str, name: str, *,
                           labels: Mapping[str, str] | None = None, timeout: float = 60,
                           interval: float = 0.5) -> None:
    """Wait until no alert ``name`` (with ``labels``) is pending or firing."""
    def check() -> bool:
        return not any(_matches(a, name, None, labels) for a in alerts(base_url))

    wait_for(check, timeout=timeout, interval=interval, describe=f"alert {name} to clear")


def wait_for_targets_up(base_url: str, jobs: Iterable[str], *, timeout: float = 30) -> None:
    """Wait until every active target of each job has been scraped successfully."""
    wanted = set(jobs)

    def check() -> bool:
        targets = api_get(base_url, "/api/v1/targets", {"state": "active"})["activeTargets"]
        up = {t["labels"].get("job") for t in targets if t.get("health") == "up"}
        return wanted <= up

    def summary() -> str:
        try:
            targets = api_get(base_url, "/api/v1/targets", {"state": "active"})["activeTargets"]
        except PromToolsError as exc:
            return str(exc)
        return "targets: " + "; ".join(
            f"{t['labels'].get('job')} {t.get('scrapeUrl')} {t.get('health')} "
            f"{t.get('lastError')}" for t in targets)

    wait_for(check, timeout=timeout, describe=f"targets of {sorted(wanted)} to be up",
             on_timeout=summary)


def reload(managed: ManagedProcess, timeout: float = 10) -> None:
    """Ask a Prometheus/Alertmanager started here to re-read its config."""
    req = urllib.request.Request(f"{managed.url}/-/reload", method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            if resp.status != 200:
                raise PromToolsError(f"{managed.name} reload: HTTP {resp.status}")
    except urllib.error.HTTPError as exc:
        raise PromToolsError(f"{managed.name} reload failed: HTTP {exc.code}: "
                             f"{exc.read()[:300]!r}") from None
    except OSError as exc:
        raise PromToolsError(f"{managed.name} reload failed: {exc}") from None


# --------------------------------------------------------------------------- rule lint

SEVERITIES = ("P1", "P2", "P3", "P4")
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url")
_TEMPLATE = re.compile(r"\{\{.*\}\}", re.S)


def _test_files(tests_dir: Path) -> list[Path]:
    return sorted([*tests_dir.glob("*.yml"), *tests_dir.glob("*.yaml")])


def lint_rules(rules_dir: Path | str = RULES_DIR,
               tests_dir: Path | str = PROMETHEUS_DIR / "tests") -> list[str]:
    """Problems with the alerting rules and their unit tests, one sentence each.

    Every alert must have: a ``severity`` label P1..P4 (or a template, whose values the unit
    tests then pin down), a ``for:``, ``summary``/``description``/``runbook_url``
    annotations, a summary or description that quotes ``$value``, and unit tests in
    ``tests_dir`` both expecting it to fire and expecting it silent. Every rule file must be
    loaded by some unit test file. An empty list means all is well.
    """
    rules_path, tests_path = Path(rules_dir).resolve(), Path(tests_dir).resolve()
    problems: list[str] = []
    alerts_by_name: dict[str, Path] = {}
    for path, group, rule in iter_rules(rules_path):
        name = rule.get("alert")
        if not name:
            continue
        where = f"{path.name}: group {group}: alert {name}"
        if name in alerts_by_name:
            problems.append(f"{where}: alert name also used in {alerts_by_name[name].name}")
        alerts_by_name[name] = path
        labels = rule.get("labels") or {}
        annotations = rule.get("annotations") or {}
        severity = str(labels.get("severity", ""))
        if severity not in SEVERITIES and not _TEMPLATE.search(severity):
            problems.append(f"{where}: severity label must be one of {', '.join(SEVERITIES)} "
                            f"(got {severity or 'none'})")
        if "for" not in rule:
            problems.append(f"{where}: no 'for:' duration")
        for key in REQUIRED_ANNOTATIONS:
            if not str(annotations.get(key, "")).strip():
                problems.append(f"{where}: no {key} annotation")
        text = f"{annotations.get('summary', '')} {annotations.get('description', '')}"
        if "$value" not in text:
            problems.append(f"{where}: neither summary nor description quotes {{{{ $value }}}}")
        url = str(annotations.get("runbook_url", ""))
        if url and "#" not in url:
            problems.append(f"{where}: runbook_url {url!r} has no #section anchor")

    fires: set[str] = set()
    silent: set[str] = set()
    loaded: set[Path] = set()
    files = _test_files(tests_path)
    if not files:
        problems.append(f"no unit test files (*.yml) in {tests_path}")
    for tfile in files:
        doc = yaml.safe_load(tfile.read_text()) or {}
        for rf in doc.get("rule_files") or []:
            loaded.add((tfile.parent / rf).resolve())
        for case in doc.get("tests") or []:
            for art in case.get("alert_rule_test") or []:
                name = art.get("alertname")
                if name not in alerts_by_name:
                    problems.append(f"{tfile.name}: tests unknown alert {name}")
                (fires if art.get("exp_alerts") else silent).add(name)
    for name, path in sorted(alerts_by_name.items()):
        if name not in fires:
            problems.append(f"{path.name}: alert {name} has no unit test where it fires")
        if name not in silent:
            problems.append(f"{path.name}: alert {name} has no unit test where it stays silent")
    for path in sorted({p.resolve() for p in load_rule_files(rules_path)}):
        if path not in loaded:
            problems.append(f"{path.name}: no unit test file loads it (rule_files)")
    return problems


def runbook_anchors(markdown: str) -> set[str]:
    """GitHub-style anchors of every heading in a Markdown text."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    in_fence = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if in_fence or not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors
