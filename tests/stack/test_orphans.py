"""A killed test run leaves no server behind.

Each test here plays a test process in a child Python: it starts a server the way tests do
(a test stack from rules.live, a throwaway Alertmanager from support.prom, a server through
support.polling.child, `vigil up --detach` through support.tether), says which, and waits to
be killed. It is SIGKILLed, as a killed pytest is: no teardown runs, so only the kernel can
end the server (PR_SET_PDEATHSIG, vigil/stack/procs.py; for a detached stack, its tether's).
One left answering once paged the next `vigil up`'s router.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import polling

from vigil.core import httpclient, pg
from vigil.stack import procs

REPO = Path(__file__).resolve().parents[2]

# The "test process": starts its server, prints {"pid", "url", ...} and blocks until killed.
TEST_PROCESS = r"""
import json, sys
from pathlib import Path

how, work, admin_dsn = sys.argv[1], Path(sys.argv[2]), sys.argv[3]


def started(**doc):
    print(json.dumps(doc), flush=True)
    sys.stdin.read()  # a test that never ends: only a signal stops it


if how == "test stack":
    from rules.live import private_stack, start

    with private_stack(admin_dsn, work, "orphan") as live:
        start(live, ("sink",))
        opts = live.stack.options
        started(pid=live.stack.records.load("sink").pid,
                url=f"http://127.0.0.1:{live.ports.sink}/-/healthy",
                databases=[opts.demo_db, opts.router_db])
elif how == "test server":
    from support import prom

    config = work / "alertmanager.yml"
    config.write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
    server = prom.start_alertmanager(config)
    started(pid=server.record.pid, url=f"{server.url}/-/ready")
elif how == "detached stack":
    from support import tether
    from support.polling import free_port
    from vigil.stack import procs

    port = free_port()
    up = tether.run([sys.executable, "-m", "vigil.cli", "up", "--detach", "--only", "sink",
                     "--state-dir", str(work / "state"), "--port", f"sink={port}"])
    assert up.returncode == 0, up.stdout
    started(pid=procs.RecordStore(work / "state" / "run").load("sink").pid,
            url=f"http://127.0.0.1:{port}/-/healthy")
else:
    from support.polling import child, free_port, wait_for
    from vigil.core import httpclient

    url = f"http://127.0.0.1:{free_port()}"
    proc = child([sys.executable, "-m", "vigil.cli", "sink", "--port", url.rsplit(":", 1)[1]])
    wait_for(lambda: httpclient.is_healthy(url + "/-/healthy"), timeout=20)
    started(pid=proc.pid, url=url + "/-/healthy")
"""


@contextlib.contextmanager
def killable_test_process(how: str, work: Path,
                          admin_dsn: str) -> Iterator[tuple[Any, dict[str, Any]]]:
    """The child "test process" with its server started, and what it said about it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    proc = polling.child([sys.executable, "-c", TEST_PROCESS, how, str(work), admin_dsn],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, cwd=REPO, env=env)
    with polling.killed_on_exit(proc):
        assert proc.stdout is not None
        out: list[str] = []
        for line in proc.stdout:  # ends when the child exits (a failed start)
            if line.startswith("{"):
                yield proc, json.loads(line)
                return
            out.append(line)
        pytest.fail(f"the test process did not start its {how}:\n{''.join(out)}")


@pytest.mark.parametrize("how", ["test stack", "test server", "test child", "detached stack"])
def test_a_server_a_killed_test_started_dies_with_it(how: str, tmp_path: Path,
                                                     admin_dsn: str) -> None:
    server: dict[str, Any] = {}
    try:
        with killable_test_process(how, tmp_path, admin_dsn) as (proc, server):
            assert procs.pid_alive(server["pid"]) and httpclient.is_healthy(server["url"])
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        polling.wait_for(lambda: not procs.pid_alive(server["pid"]), timeout=20,
                         describe=f"the {how}'s server (pid {server['pid']}) to end")
        assert not httpclient.is_healthy(server["url"])
    finally:
        if server and procs.pid_alive(server["pid"]):  # this test failed: no orphan from it
            os.kill(server["pid"], signal.SIGKILL)
        for db in server.get("databases", ()):
            pg.drop_database(admin_dsn, db)


# A test that starts a server through support.polling.child and never ends (no sleep: it waits
# on an event nobody sets), run by a pytest-xdist worker under our tests/conftest.py. It
# ignores SIGINT, as a test stuck in C code would: execnet's first try at ending an orphaned
# worker; its last, os._exit, comes 15 s after the pytest died.
XDIST_TEST = """
import json, signal, threading
from pathlib import Path
from support.polling import child, free_port, wait_for
from vigil.core import httpclient

def test_never_ends(tmp_path):
    port = free_port()
    proc = child(["{python}", "-m", "vigil.cli", "sink", "--port", str(port)])
    url = f"http://127.0.0.1:{{port}}/-/healthy"
    wait_for(lambda: httpclient.is_healthy(url), timeout=20)
    Path("{said}").write_text(json.dumps({{"pid": proc.pid, "url": url}}))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Event().wait()
"""


def test_a_killed_xdist_run_takes_its_workers_servers_at_once(tmp_path: Path) -> None:
    """SIGKILL the pytest of `pytest -n 1`: its worker ends with it (tests/conftest.py ties
    it), and so does the worker's server; not 15 s later when execnet gives up on it."""
    run, said = tmp_path / "run", tmp_path / "said.json"
    run.mkdir()
    (run / "conftest.py").write_text((REPO / "tests" / "conftest.py").read_text())
    (run / "test_never_ends.py").write_text(XDIST_TEST.format(python=sys.executable,
                                                              said=said))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    pytest_run = polling.child(
        [sys.executable, "-m", "pytest", "-q", "-n", "1", "-p", "no:cacheprovider",
         "-o", "addopts=", "--rootdir", str(run), str(run)],
        cwd=run, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server: dict[str, Any] = {}
    try:
        with polling.killed_on_exit(pytest_run):
            polling.wait_for(lambda: said.is_file() and said.read_text(), timeout=60,
                             describe="the xdist worker's test to start its server")
            server = json.loads(said.read_text())
            assert httpclient.is_healthy(server["url"])
            pytest_run.send_signal(signal.SIGKILL)
            pytest_run.wait(timeout=10)
        polling.wait_for(lambda: not procs.pid_alive(server["pid"]), timeout=10,
                         describe=f"the worker's server (pid {server['pid']}) to end")
    finally:
        if server and procs.pid_alive(server["pid"]):
            os.kill(server["pid"], signal.SIGKILL)


def test_only_the_main_thread_may_start_a_child_that_dies_with_it() -> None:
    """PR_SET_PDEATHSIG fires when the *thread* that forked the child ends: a child started
    from a worker thread would die with that thread, so it is refused, not half-tied."""
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            procs.die_with_parent_preexec()
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(10)
    assert len(errors) == 1 and "main thread" in str(errors[0])
    assert callable(procs.die_with_parent_preexec())  # the main thread may
