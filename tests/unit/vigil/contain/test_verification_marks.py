"""What `vigil incident contain|release` prints for its verification: a check that measured
nothing (a released actor whose containment had no refused-writes counter) is not a ✓."""

from __future__ import annotations

from vigil.checks.result import CheckResult
from vigil.contain import Target, Verification
from vigil.contain.cli import _show_check
from vigil.contain.verifier import _counted


def test_a_released_actor_without_a_counter_is_shown_as_unmeasured_not_passed() -> None:
    check = _counted(None, contained=False)
    assert check.no_data and check.ok
    lines = _show_check(Verification(Target("actor", "u-1"), "released", (check,)))
    assert lines[1].startswith("  ⚠ refused writes counted: none recorded")


def test_a_counted_release_and_a_missing_counter_while_contained_keep_their_marks() -> None:
    released = _counted(3, contained=False)
    broken = _counted(None, contained=True)
    lines = _show_check(Verification(Target("actor", "u-1"), "contained", (
        released, broken, CheckResult("policies", True, detail="as planned"))))
    assert lines[1] == "  ✓ refused writes counted: 3 write(s) refused while it was contained"
    assert lines[2].startswith("  ✗ refused writes counted: no counter")
    assert lines[3] == "  ✓ policies: as planned"
