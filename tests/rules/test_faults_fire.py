"""Each injected demo fault makes its alert fire in a real Prometheus, and healing clears it.

The stack (rules.live): the demo workload on its own database, `vigil exporter` collecting
every 1-2 s, and a real Prometheus on the compressed-timing overlay of prometheus/rules
(``for:`` capped at 2 s, windows at 15 s), so the real rules run in seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import polling, prom

from vigil.stack import ruleoverlay
from vigil.stack.ruleoverlay import RULES_DIR

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

# fault -> the alerts it must fire (docs/CONTRACTS.md's fault table).
FAULTS: dict[str, tuple[str, ...]] = {
    "slow-rls": ("VigilRlsOverheadHigh",),
    "slow-audit": ("VigilAuditWriteSlow",),
    "slow-encryption": ("VigilEncryptionSlow",),
    "failed-access": ("VigilFailedAccessSpike", "VigilUnusualAccessPatterns"),
    "audit-tamper": ("VigilAuditIntegrityViolation",),
    # The controls themselves (issue #9 point 7). Disabling Deal's audit trigger also makes
    # the workload's writes unaudited (and coverage incomplete); only its own alert is required.
    "rls-disabled": ("VigilControlRlsDisabled",),
    "policy-dropped": ("VigilControlPolicyChanged",),
    "audit-trigger-disabled": ("VigilControlAuditTriggerDisabled",),
    "unaudited-writes": ("VigilControlUnauditedWrites",),
}
FIRE_TIMEOUT = 60
CLEAR_TIMEOUT = 60


@pytest.fixture(scope="module")
def live(admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from rules.live import COLLECTOR_INTERVALS, live_stack

    work = tmp_path_factory.mktemp("faults")
    rules = ruleoverlay.compressed_rules(RULES_DIR, work / "rules", for_="2s", window="15s",
                                       collector_intervals=COLLECTOR_INTERVALS)
    # unusual_window_seconds: the database's own "unusual pattern" window, shortened like the
    # rules' windows so a healed failed-access clears within the test.
    with live_stack(admin_dsn, work, rule_files=rules, with_router=False,
                    demo_settings={"unusual_window_seconds": "10"}) as stack:
        # a few collection rounds so every histogram has a rate
        polling.wait_for(
            lambda: prom.query(stack.prom.url,
                               "target:vigil_audit_write_duration_seconds:p95_rate5m"),
            timeout=60, describe="the audit p95 to be recorded", retry_on=(prom.PromToolsError,))
        yield stack


def _firing(url: str) -> set[str]:
    return {a["labels"]["alertname"] for a in prom.alerts(url) if a["state"] == "firing"}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_fires_its_alert_and_healing_clears_it(live: object, fault: str) -> None:
    from vigil.demo import faults

    url = live.prom.url  # type: ignore[attr-defined]
    explain = live.explain  # type: ignore[attr-defined]
    admin = live.demo_admin_dsn  # type: ignore[attr-defined]
    expected = FAULTS[fault]
    # a clean start: none of this fault's alerts active before it is injected
    for name in expected:
        prom.wait_for_alert_cleared(url, name, timeout=CLEAR_TIMEOUT)
    started = time.monotonic()
    faults.inject(admin, fault)
    try:
        for name in expected:
            try:
                alert = prom.wait_for_alert(url, name, timeout=FIRE_TIMEOUT)
            except (prom.PromToolsError, polling.WaitTimeout) as exc:
                raise AssertionError(f"{fault}: {exc}\n{explain()}") from None
            assert alert["labels"]["target"] == "demo"
            assert str(alert["value"]) not in ("", "0")
    finally:
        faults.heal(admin, fault)
    fired_after = time.monotonic() - started
    for name in expected:
        try:
            prom.wait_for_alert_cleared(url, name, timeout=CLEAR_TIMEOUT)
        except (prom.PromToolsError, polling.WaitTimeout) as exc:
            raise AssertionError(f"{fault} healed: {exc}\n{explain()}") from None
    assert fired_after < FIRE_TIMEOUT * len(expected)


def test_no_integrity_or_performance_alert_fires_on_the_healed_demo(live: object) -> None:
    """After every fault is healed the demo is clean again (security and performance)."""
    url = live.prom.url  # type: ignore[attr-defined]
    noisy = {n for names in FAULTS.values() for n in names} & _firing(url)
    assert noisy == set(), noisy


def test_overlay_is_generated_not_copied(tmp_path: Path) -> None:
    rules = ruleoverlay.compressed_rules(RULES_DIR, tmp_path, for_="2s", window="15s")
    assert [p.name for p in rules] == sorted(p.name for p in RULES_DIR.glob("*.yml"))
