"""Pure logic of the maintenance worker (no database)."""

from __future__ import annotations

import psycopg
import pytest

from vigil.maintain import worker
from vigil.maintain.cli import maintain_dsn
from vigil.maintain.storage import human_bytes


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    b = worker.Backoff(initial=1.0, maximum=5.0)
    assert [b.next() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    b.reset()
    assert b.next() == 1.0


def test_error_class_is_a_sqlstate_or_a_class_name_never_the_message() -> None:
    exc = psycopg.errors.QueryCanceled("canceling statement due to timeout, value 'secret'")
    assert worker.error_class(exc) in {"57014", "QueryCanceled"}
    assert worker.error_class(ValueError("patient 42")) == "ValueError"


def test_rollup_runs_before_retention_of_the_same_table() -> None:
    # maintain_trim only deletes counted rows: rolling up first lets one pass trim them.
    assert set(worker.ROLLUP_SOURCES) <= set(worker.RETENTION_TABLES)


def test_default_dsn_is_the_admin_server_as_the_maintainer_role(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIGIL_MAINTAIN_DSN", raising=False)
    monkeypatch.setenv("VIGIL_ADMIN_DSN", "postgresql://postgres:pw@db:5433/app")
    dsn = maintain_dsn(None, "vigil_maintainer")
    assert "user=vigil_maintainer" in dsn and "pw" not in dsn and "port=5433" in dsn
    monkeypatch.setenv("VIGIL_MAINTAIN_DSN", "host=x")
    assert maintain_dsn(None, "r") == "host=x"
    assert maintain_dsn("host=y", "r") == "host=y"


def test_human_bytes() -> None:
    assert human_bytes(512) == "512 B"
    assert human_bytes(8192) == "8.0 kB"
    assert human_bytes(3 * 1024**3) == "3.0 GB"
