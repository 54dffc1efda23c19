"""router/payload.py and router/validate.py: the webhook body, refused per alert, never
naming a label or a value (payload data can be PHI)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from router.payload import fallback_fingerprint, parse_payload, parse_time
from router.validate import MAX_DEPTH, PayloadError, is_id, loads, problem_in


def alert(**over: Any) -> dict[str, Any]:
    return {"status": "firing", "labels": {"alertname": "VigilX", "severity": "P2"},
            "annotations": {"summary": "s"}, "startsAt": "2026-11-30T03:00:00.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph",
            "fingerprint": "abc123", **over}


def body(*alerts: dict[str, Any], **over: Any) -> bytes:
    doc = {"version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "vigil",
           "alerts": list(alerts), **over}
    return json.dumps(doc).encode()


def test_a_valid_body_becomes_alerts_and_is_stored_as_sent() -> None:
    raw = body(alert(), alert(status="resolved", fingerprint="def456",
                              endsAt="2026-11-30T04:00:00+01:00"))
    parsed = parse_payload(raw)
    assert parsed.refused == [] and parsed.body is raw
    first, second = parsed.alerts
    assert first.starts_at == datetime(2026, 11, 30, 3, 0, 0, 123456, tzinfo=UTC)
    assert first.ends_at is None                      # Go's zero time means "not set"
    assert (first.index, first.fingerprint, first.labels["severity"]) == (0, "abc123", "P2")
    assert second.ends_at == datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    assert second.status == "resolved"


def test_one_bad_alert_is_refused_alone_and_the_stored_copy_leaves_it_out() -> None:
    parsed = parse_payload(body(alert(fingerprint="p1"), alert(status="weird"),
                                alert(fingerprint="p3", labels={"patient": "a\x00b"})))
    assert [a.fingerprint for a in parsed.alerts] == ["p1"]
    assert [str(e) for e in parsed.refused] == [
        "alerts[1].status: expected firing or resolved",
        "alerts[2].labels: a value contains NUL (\\u0000), which PostgreSQL can't store"]
    stored = json.loads(parsed.body)
    assert [a["fingerprint"] for a in stored["alerts"]] == ["p1"]
    assert stored["receiver"] == "vigil"


def test_errors_never_name_a_label_or_show_a_value() -> None:
    parsed = parse_payload(body(alert(labels={"patient_name": "Jane\x00Doe"}),
                                alert(labels={"patient_name": 42})))
    for error in parsed.refused:
        assert "patient_name" not in str(error) and "Jane" not in str(error)
        assert "42" not in str(error)


def test_an_unstorable_top_level_field_is_dropped_from_the_stored_copy() -> None:
    parsed = parse_payload(body(alert(), commonLabels={"x": "\ud800"}, externalURL="ok"))
    assert [a.fingerprint for a in parsed.alerts] == ["abc123"]
    assert str(parsed.refused[0]) == "commonLabels: a value contains a lone surrogate (not UTF-8)"
    assert "commonLabels" not in json.loads(parsed.body)


def test_an_alert_without_a_fingerprint_gets_a_stable_one_from_its_labels() -> None:
    labels = {"alertname": "VigilX", "table": "t"}
    one = parse_payload(body(alert(fingerprint=None, labels=labels))).alerts[0]
    two = parse_payload(body(alert(fingerprint=None, labels=dict(reversed(labels.items())))
                             )).alerts[0]
    assert one.fingerprint == two.fingerprint == fallback_fingerprint(labels)


@pytest.mark.parametrize(("raw", "field", "words"), [
    (b"\xff\xfe", "body", "not valid UTF-8"),
    (b"{not json", "body", "not valid JSON"),
    (b"[]", "body", "expected a JSON object"),
    (json.dumps({"version": "3", "alerts": []}).encode(), "version", "expected \"4\""),
    (json.dumps({"version": "4", "alerts": {}}).encode(), "alerts", "expected a list"),
    (b'{"version": "4", "alerts": []' + b"," + b'"x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
     "body", "nested deeper than"),
])
def test_an_unusable_body_is_refused_whole(raw: bytes, field: str, words: str) -> None:
    with pytest.raises(PayloadError) as exc:
        parse_payload(raw)
    assert exc.value.field == field and words in str(exc.value)


@pytest.mark.parametrize(("over", "field", "words"), [
    ({"startsAt": "2026-11-30T03:00:00"}, "alerts[0].startsAt", "needs a time zone"),
    ({"startsAt": "yesterday"}, "alerts[0].startsAt", "invalid RFC 3339"),
    ({"startsAt": None}, "alerts[0].startsAt", "expected an RFC 3339 timestamp string"),
    ({"startsAt": "0001-01-01T00:00:00+01:00"}, "alerts[0].startsAt", "out of range"),
    ({"labels": None}, "alerts[0].labels", "expected an object of string values"),
    ({"annotations": {"a": 1}}, "alerts[0].annotations", "expected string values"),
    ({"fingerprint": ""}, "alerts[0].fingerprint", "non-empty string"),
    ({"generatorURL": 5}, "alerts[0].generatorURL", "expected a string"),
])
def test_a_malformed_alert_names_its_field(over: dict[str, Any], field: str,
                                           words: str) -> None:
    refused = parse_payload(body(alert(**over))).refused
    assert len(refused) == 1
    assert refused[0].field == field and words in str(refused[0])


def test_an_alert_that_is_not_an_object_is_refused() -> None:
    parsed = parse_payload(body("oops", alert()))  # type: ignore[arg-type]
    assert str(parsed.refused[0]) == "alerts[0]: expected an object"
    assert parsed.alerts[0].index == 0              # its index in the stored copy


def test_nan_and_infinity_are_placed_at_their_field() -> None:
    raw = (b'{"version": "4", "alerts": [{"status": "firing", "labels": {},'
           b' "startsAt": "2026-11-30T03:00:00Z", "extra": {"n": NaN}}, '
           b'{"status": "firing", "labels": {}, "startsAt": "2026-11-30T03:00:00Z",'
           b' "v": 1e999}]}')
    refused = parse_payload(raw).refused
    assert [e.field for e in refused] == ["alerts[0]", "alerts[1]"]
    assert all("NaN, Infinity" in str(e) for e in refused)


def test_loads_refuses_the_whole_body_for_any_unstorable_value() -> None:
    assert loads(b'{"note": "fine"}') == {"note": "fine"}
    with pytest.raises(PayloadError) as exc:
        loads(b'{"note": "a\\u0000b"}')
    assert str(exc.value) == "note: a value contains NUL (\\u0000), which PostgreSQL can't store"
    with pytest.raises(PayloadError, match="a key contains NUL"):
        loads(b'{"a\\u0000": 1}')


def test_nesting_is_checked_without_recursion() -> None:
    doc: Any = "leaf"
    for _ in range(MAX_DEPTH + 1):
        doc = [doc]
    problem = problem_in(doc, "body")
    assert problem is not None and "nested deeper than 32 levels" in str(problem)
    assert problem_in([[["ok"]]], "body") is None


@pytest.mark.parametrize(("value", "ok"), [
    (1, True), (2**63 - 1, True), (2**63, False), (-(2**63), True), (True, False),
    ("1", False), (1.0, False),
])
def test_an_id_is_a_bigint_and_not_a_boolean(value: Any, ok: bool) -> None:
    assert is_id(value) is ok


def test_parse_time_converts_offsets_to_utc() -> None:
    assert parse_time("2026-11-30T05:00:00+02:00", "x") == datetime(2026, 11, 30, 3, tzinfo=UTC)
