"""router/console/explain.py: how the timeline words a containment approval, so a reader can
tell a console user (authenticated) from a name given to the API (taken on trust)."""

from __future__ import annotations

from router.config import Escalation, check_escalation
from router.console.explain import event_text
from router.matrix import Matrix
from vigil.core.config import build

from .escalation_data import escalation_doc

MATRIX = Matrix(check_escalation(build(Escalation, escalation_doc()), "escalation.yml"))
ABOUT = {"containment_id": 3, "database": "appdb", "kind": "role", "target": "app_writer",
         "requested_by": "carol"}


def test_a_console_approval_says_it_came_from_a_logged_in_user() -> None:
    assert event_text(MATRIX, "P1", "containment_approved", {**ABOUT, "via": "console"}) == (
        "approved containment of role app_writer on appdb, requested by carol, via console "
        "(logged-in user)")


def test_an_api_approval_and_one_recorded_before_via_existed_read_as_not_verified() -> None:
    api = event_text(MATRIX, "P1", "containment_approved", {**ABOUT, "via": "api"})
    assert api.endswith("via API (name as given with the shared token, not verified)")
    assert event_text(MATRIX, "P1", "containment_approved", ABOUT) == api


def test_a_request_says_how_many_statements_and_approvals() -> None:
    assert event_text(MATRIX, "P1", "containment_requested",
                      {**ABOUT, "statements": 3, "approvals_needed": 1}) == (
        "requested containment of role app_writer on appdb: 3 statement(s), 1 approval(s) "
        "needed")


def test_values_are_escaped() -> None:
    text = event_text(MATRIX, "P1", "containment_approved", {**ABOUT, "target": "<b>x</b>"})
    assert "<b>" not in text and "&lt;b&gt;x&lt;/b&gt;" in text


def test_a_personal_token_reads_as_authenticated_for_the_approver_and_the_requester() -> None:
    approved = event_text(MATRIX, "P1", "containment_approved", {**ABOUT, "via": "api-token"})
    assert approved.endswith("via API (personal token: authenticated)")
    asked = event_text(MATRIX, "P1", "containment_requested",
                       {**ABOUT, "statements": 1, "approvals_needed": 1, "via": "api-token"})
    assert asked.endswith("1 approval(s) needed, requester authenticated by a personal token")
    acked = event_text(MATRIX, "P1", "acked", {"via": "api-token", "note": None})
    assert acked.startswith("acknowledged through the API (personal token)")
