"""The audit_pipeline and maintenance collectors (issue #16) over fakes of the status
functions with the shared interface's signatures (tests/exporter/status_fakes.py)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

import status_fakes as standins
from exporter_helpers import exposition, missing_objects, run, value

from exporter.config import ExporterConfig
from exporter.scheduler import Exporter

MakeConfig = Callable[..., ExporterConfig]
Start = Callable[[ExporterConfig], Awaitable[Exporter]]
BOTH = ("audit_pipeline", "maintenance")


async def test_buffer_sealer_and_chain_status_become_metrics(
        fresh_db: str, make_config: MakeConfig, started: Start) -> None:
    standins.install(fresh_db)
    standins.set_rows(fresh_db, "buffer", [(1200, 3.5, 81920)])
    standins.set_rows(fresh_db, "sealer", [
        ("seal-a", True, 0.4, 1.25, 5000, 180.0, None),
        ("seal-b", False, 900.0, 900.0, 70, 0.0, "OperationalError")])
    standins.set_rows(fresh_db, "chain", [(5070, 5000, 42.0, 0, None)])
    exp = await started(make_config(fresh_db, builtins=BOTH))
    assert await run(exp, "audit_pipeline")
    s = exposition(exp)
    assert value(s, "vigil_audit_buffer_rows") == 1200
    assert value(s, "vigil_audit_buffer_oldest_age_seconds") == 3.5
    assert value(s, "vigil_audit_buffer_size_bytes") == 81920
    assert value(s, "vigil_audit_sealers_alive") == 1
    assert value(s, "vigil_audit_sealer_up", sealer="seal-a") == 1
    assert value(s, "vigil_audit_sealer_up", sealer="seal-b") == 0
    assert value(s, "vigil_audit_seal_lag_seconds", sealer="seal-a") == 1.25
    assert value(s, "vigil_audit_sealer_heartbeat_age_seconds", sealer="seal-b") == 900
    assert value(s, "vigil_audit_sealed_rows_total", sealer="seal-a") == 5000
    assert value(s, "vigil_audit_sealer_last_error_info", sealer="seal-b",
                 error="OperationalError") == 1
    assert value(s, "vigil_audit_sealer_last_error_info", sealer="seal-a") is None
    assert value(s, "vigil_audit_chain_head_seq") == 5070
    assert value(s, "vigil_audit_chain_verified_through_seq") == 5000
    assert value(s, "vigil_audit_chain_verified_age_seconds") == 42
    assert value(s, "vigil_collector_success", collector="audit_pipeline") == 1


async def test_no_sealer_ever_run_exports_zero_alive_instead_of_nothing(
        fresh_db: str, make_config: MakeConfig, started: Start) -> None:
    standins.install(fresh_db)
    standins.set_rows(fresh_db, "buffer", [(0, 0.0, 8192)])
    exp = await started(make_config(fresh_db, builtins=BOTH))
    assert await run(exp, "audit_pipeline")
    s = exposition(exp)
    assert value(s, "vigil_audit_sealers_alive") == 0
    assert value(s, "vigil_audit_buffer_rows") == 0
    assert not any(n == "vigil_audit_sealer_up" for n, _ in s)


async def test_a_sealer_error_that_is_not_a_class_name_is_exported_as_other(
        fresh_db: str, make_config: MakeConfig, started: Start) -> None:
    """The label must never carry a message (which could hold a value): only a class."""
    standins.install(fresh_db)
    standins.set_rows(fresh_db, "sealer", [
        ("seal-a", True, 0.1, 0.1, 1, 1.0, "duplicate key (id)=(4711) for patient 'Smith'")])
    exp = await started(make_config(fresh_db, builtins=BOTH))
    assert await run(exp, "audit_pipeline")
    s = exposition(exp)
    assert value(s, "vigil_audit_sealer_last_error_info", sealer="seal-a", error="other") == 1
    assert not any("Smith" in v for _, lv in s for _, v in lv)


async def test_maintenance_status_and_a_maintainer_that_never_ran(
        fresh_db: str, make_config: MakeConfig, started: Start) -> None:
    standins.install(fresh_db)
    exp = await started(make_config(fresh_db, builtins=BOTH))
    assert await run(exp, "maintenance")  # no row yet: never ran
    s = exposition(exp)
    assert value(s, "vigil_maintenance_last_run_age_seconds") == math.inf
    assert value(s, "vigil_maintenance_rollup_lag_seconds") == math.inf
    assert value(s, "vigil_maintenance_trimmed_rows_total") == 0
    standins.set_rows(fresh_db, "maintenance", [(30.0, 75.0, 12345, None)])
    assert await run(exp, "maintenance")
    s = exposition(exp)
    assert value(s, "vigil_maintenance_last_run_age_seconds") == 30
    assert value(s, "vigil_maintenance_rollup_lag_seconds") == 75
    assert value(s, "vigil_maintenance_trimmed_rows_total") == 12345


async def test_an_older_schema_is_a_missing_object_error_per_collector(
        fresh_db: str, make_config: MakeConfig, started: Start) -> None:
    """Schema 008 installed, 009 not: maintenance fails alone, audit_pipeline still works."""
    standins.install(fresh_db, functions=("audit_buffer_status", "audit_sealer_status",
                                          "audit_chain_status"))
    exp = await started(make_config(fresh_db, builtins=BOTH))
    assert not await run(exp, "maintenance")
    assert await run(exp, "audit_pipeline")
    s = exposition(exp)
    assert missing_objects(s, "maintenance") == 1
    assert [value(s, "vigil_collector_success", collector=c)
            for c in ("maintenance", "audit_pipeline")] == [0, 1]


async def test_no_audit_pipeline_schema_is_a_missing_object_error(
        fresh_db: str, make_config: MakeConfig, started: Start) -> None:
    exp = await started(make_config(fresh_db, builtins=BOTH))
    assert not await run(exp, "audit_pipeline")
    assert await run(exp, "ping")  # the exporter carries on
    s = exposition(exp)
    assert missing_objects(s, "audit_pipeline") == 1
