"""A throwaway PostgreSQL 15 cluster for benchmarks (Debian postgresql-common tools).

``throwaway_cluster(preload=...)`` creates a cluster on a free port with
``pg_createcluster``, starts it with ``pg_ctlcluster --skip-systemctl-redirect`` and drops it
on exit, also after a failure or SIGTERM. The main cluster (5432) is never touched: every
command names the throwaway cluster. The superuser gets a random password (TCP login on
127.0.0.1 only), kept in a temporary file and never printed. Needs root (Debian's cluster tools
and the postgres user's files).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from benchlib import free_port

VERSION = "15"


def ensure_apt_package(package: str, probe: Path) -> None:
    """Install a Debian package if ``probe`` (a file it ships) is missing."""
    if probe.exists():
        return
    print(f"installing {package} (apt-get)", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", package], check=True,
                   stdout=subprocess.DEVNULL)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally that drops the cluster


@contextlib.contextmanager
def throwaway_cluster(*, preload: str = "", settings: dict[str, str] | None = None
                      ) -> Iterator[str]:
    """Yield the superuser DSN (database ``postgres``) of a new, running cluster."""
    if os.geteuid() != 0:  # pg_createcluster, apt-get and the password file need root
        raise SystemExit("run this benchmark as root: it creates a throwaway cluster")
    name = f"vigil_bench_{uuid.uuid4().hex[:8]}"
    port = free_port()
    password = secrets.token_urlsafe(24)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    opts = {"listen_addresses": "127.0.0.1", **(settings or {})}
    if preload:
        opts["shared_preload_libraries"] = preload
    with tempfile.TemporaryDirectory() as tmp:
        pwfile = Path(tmp) / "pw"
        pwfile.write_text(password + "\n")
        pg_user = pwd.getpwnam("postgres")
        os.chown(tmp, pg_user.pw_uid, pg_user.pw_gid)
        os.chown(pwfile, pg_user.pw_uid, pg_user.pw_gid)
        pwfile.chmod(0o600)
        created = False
        conf_dir = Path(f"/etc/postgresql/{VERSION}/{name}")
        ctl = ["pg_ctlcluster", "--skip-systemctl-redirect", VERSION, name]
        try:
            created = True  # a half-made cluster is dropped too
            subprocess.run(["pg_createcluster", VERSION, name, "-p", str(port), "--",
                            "--auth-local=peer", "--auth-host=scram-sha-256",
                            f"--pwfile={pwfile}"], check=True, stdout=subprocess.DEVNULL)
            # Settings go to the cluster's own conf.d (Debian includes it), quoted properly.
            (conf_dir / "conf.d" / "bench.conf").write_text(
                "".join(f"{k} = '{v}'\n" for k, v in opts.items()))
            subprocess.run([*ctl, "start"], check=True)
            yield f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
        finally:
            if created:
                for cmd in ([*ctl, "stop", "-m", "fast"],
                            ["pg_dropcluster", "--stop", VERSION, name]):
                    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
                # pg_dropcluster leaves the emptied conf.d behind (it held our bench.conf)
                shutil.rmtree(conf_dir, ignore_errors=True)
            signal.signal(signal.SIGTERM, previous)
