"""schemathesis against the router's own OpenAPI document, on a live router and PostgreSQL:
every operation, positive and negative examples (25 each, derandomized, so this stays well
under two minutes), fails on any 5xx, any status the document doesn't list, or a response that
doesn't match its schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from router_helpers import TOKEN, am_alert, am_payload, write_router_yml
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from support.databases import scratch_database
from support.threaded_router import ThreadedRouter

from router import openapi
from router.config import load_config
from router.migrate import migrate

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def live_router(admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with scratch_database(admin_dsn, "oas", migrate) as dsn:
        tmp: Path = tmp_path_factory.mktemp("oas")
        config = load_config(write_router_yml(tmp, dsn),
                             env={"VIGIL_SINK_URL": "http://127.0.0.1:9"})
        server = ThreadedRouter(config).start()
        try:
            import requests
            requests.post(f"{server.base}/api/v1/alertmanager", json=am_payload(
                am_alert("Seed", "P2")), headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=10).raise_for_status()
            requests.post(f"{server.base}/api/v1/incidents", json={
                "type": "seed", "severity": "P3", "description": "seed"},
                headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).raise_for_status()
            yield server.base
        finally:
            server.stop()


SCHEMA = schemathesis.openapi.from_dict(openapi.document())   # no I/O: the document only
LABELS = [op.ok().label for op in SCHEMA.get_all_operations()]


# schemathesis's pytest plugin does not run under pytest 9 (it reads Function._nodeid), so the
# operations are driven through hypothesis directly: one test per operation and mode.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("label", LABELS)
def test_every_operation_answers_only_documented_statuses_and_never_5xx(
        live_router: str, label: str, mode: GenerationMode) -> None:
    operation = SCHEMA.find_operation_by_label(label)
    assert operation is not None

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        case.call_and_validate(base_url=live_router,
                               headers={"Authorization": f"Bearer {TOKEN}"},
                               checks=[not_a_server_error, status_code_conformance,
                                       content_type_conformance, response_schema_conformance])

    check()
