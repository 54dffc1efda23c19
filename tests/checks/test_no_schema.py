"""A command pointed at a database without vigil's schema says so, instead of a traceback."""

from __future__ import annotations

import pytest

from vigil import cli
from vigil.core import pg


@pytest.mark.parametrize("command", [
    ("audit", "buffer-status"),
    ("audit", "async-health"),
    ("check", "security"),
    ("check", "health"),
    ("check", "verify"),
    ("phi", "metrics"),
])
def test_a_database_without_the_schema_gets_an_actionable_error(
        fresh_db: str, command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*command, "--dsn", fresh_db]) == 1
    err = capsys.readouterr().err
    assert "no vigil_monitor schema" in err and "vigil db install" in err
    assert "SELECT" not in err  # the statement (which can quote values) is not echoed


def test_audit_commands_default_to_the_database_vigil_check_reads() -> None:
    from vigil.audit.cli import _conn_dsn

    class Args:
        dsn = None

    assert pg.dbname_of(_conn_dsn(Args())) == pg.DEFAULT_DEMO_DB  # type: ignore[arg-type]
