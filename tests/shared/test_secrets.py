"""A canary password must never reach a log line, an exception or a repr."""

from __future__ import annotations

import io
import logging
import subprocess
import sys

import pytest

from vigil.core import logs, pg, secrets
from vigil.core.config import Dsn, build
from vigil.core.errors import VigilError

CANARY = "canary-Pw-7f3a9"

DSNS = [
    f"postgresql://vigil:{CANARY}@127.0.0.1:1/db",
    f"postgres://vigil:{CANARY}@127.0.0.1:1/db?sslmode=disable",
    f"host=127.0.0.1 port=1 user=vigil password={CANARY} dbname=db",
    f"host=127.0.0.1 port=1 password='{CANARY}' dbname=db",
    f"postgresql://127.0.0.1:1/db?password={CANARY}",
    # malformed: unbalanced quote, and a URI with a bad port
    f"host=127.0.0.1 password='{CANARY} dbname=db",
    f"postgresql://vigil:{CANARY}@127.0.0.1:notaport/db",
]


@pytest.mark.parametrize("dsn", DSNS)
def test_redact_dsn_hides_the_password(dsn: str) -> None:
    assert CANARY not in secrets.redact_dsn(dsn)


@pytest.mark.parametrize("dsn", DSNS)
def test_connect_errors_never_show_the_password(dsn: str) -> None:
    with pytest.raises(VigilError) as exc:
        pg.connect(dsn, connect_timeout=1)
    assert CANARY not in str(exc.value)
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


@pytest.mark.parametrize("dsn", DSNS)
def test_dsn_repr_and_log_lines_are_scrubbed(dsn: str) -> None:
    cfg_dsn = build(_Holder, {"dsn": dsn}).dsn
    assert CANARY not in repr(cfg_dsn)
    stream = io.StringIO()
    logs.setup("debug", "json", stream)
    log = logging.getLogger("vigil.test")
    log.error("connecting to %s", dsn, extra=logs.fields(dsn=dsn))
    try:
        raise RuntimeError(f"failed: {dsn}")
    except RuntimeError:
        log.exception("boom")
    assert CANARY not in stream.getvalue()
    assert "***" in stream.getvalue()


def test_cli_output_never_shows_the_password(tmp_path: object) -> None:
    dsn = f"postgresql://vigil:{CANARY}@127.0.0.1:1/db"
    proc = subprocess.run(
        [sys.executable, "-m", "vigil.cli", "db", "status", "--dsn", dsn],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode != 0
    assert CANARY not in proc.stdout + proc.stderr


import dataclasses  # noqa: E402


@dataclasses.dataclass(frozen=True)
class _Holder:
    dsn: Dsn
