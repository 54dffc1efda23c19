"""config/oncall.yml: checked at load, every problem at its YAML path; cross-checked with
escalation.yml by router.config.load_config; the shipped files load together."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from router.config import Escalation, check_escalation, load_config
from router.oncall.handoff import due_notices
from router.oncall.load import build_oncall, check_against
from router.oncall.routing import channels, expand, resolution
from vigil.core.config import build
from vigil.core.errors import ConfigError

from .escalation_data import escalation_doc
from .oncall_data import oncall_doc

REPO = Path(__file__).resolve().parents[3]


def sched(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"time_zone": "Europe/London", "fallback": "lead",
                           "rotation": {"every": "weekly", "handoff": "09:00",
                                        "start": "2026-01-05", "people": ["alice", "bob"]}}
    return {**doc, **over}


def problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as exc:
        build_oncall(doc, "oncall.yml")
    return exc.value.details


def has(details: list[tuple[str, str]], path: str, words: str) -> bool:
    return any(loc == path and words in msg for loc, msg in details)


def test_each_mistake_is_reported_at_its_yaml_path() -> None:
    doc = oncall_doc(
        zone=sched(time_zone="Europe/Londn"),
        times=sched(rotation={"every": "weekly", "handoff": 540, "start": "05/01/2026",
                              "people": ["alice", "dave"]}),
        empty=sched(rotation={"every": "daily", "handoff": "09:00", "start": "2026-01-05",
                              "people": []}),
        inverted=sched(overrides=[{"who": "bob", "start": "2026-03-08T12:00",
                                   "end": "2026-03-08T09:00"}]),
        overlap=sched(overrides=[
            {"who": "bob", "start": "2026-03-07T00:00", "end": "2026-03-09T00:00"},
            {"who": "carol", "start": "2026-03-01T00:00", "end": "2026-03-02T00:00"},
            {"who": "alice", "start": "2026-03-08T18:00", "end": "2026-03-10T00:00"},
            {"who": "zed", "start": "soon", "end": "2026-03-10T00:00"}]))
    doc["people"]["dave/x"] = {"channels": []}
    details = problems(doc)
    assert has(details, "schedules.zone.time_zone", "unknown time zone 'Europe/Londn'")
    assert has(details, "schedules.times.rotation.handoff", '"HH:MM" in quotes')
    assert has(details, "schedules.times.rotation.start", "YYYY-MM-DD")
    assert has(details, "schedules.times.rotation.people[1]", "unknown person 'dave'")
    assert has(details, "schedules.empty.rotation.people", "empty people")
    assert has(details, "schedules.inverted.overrides[0].end", "must be after start")
    assert has(details, "schedules.overlap.overrides[2]", "overlaps schedules.overlap.overrides[0]")
    assert has(details, "schedules.overlap.overrides[3].who", "unknown person 'zed'")
    assert has(details, "schedules.overlap.overrides[3].start", "expected a date and time")
    # the shape is checked first, alone: a typo in a keyword or type
    shape = problems(oncall_doc(every=sched(rotation={
        "every": "fortnightly", "handoff": "09:00", "start": "2026-01-05", "people": ["bob"]})))
    assert has(shape, "schedules.every.rotation.every", "must be one of")
    assert has(details, "people.dave/x", "can't contain '/'")
    assert has(details, "people.dave/x.channels", "at least one channel")


def test_unquoted_yaml_dates_and_offsets_are_accepted() -> None:
    doc = oncall_doc(s=sched(rotation={"every": "daily", "handoff": "23:30",
                                       "start": datetime(2026, 1, 5).date(),
                                       "people": ["alice"]},
                             overrides=[{"who": "bob", "start": "2026-03-08T12:00+01:00",
                                         "end": datetime(2026, 3, 9, 12, tzinfo=UTC)}]))
    s = build_oncall(doc, "oncall.yml").schedules["s"]
    assert s.overrides[0].start == datetime(2026, 3, 8, 11, tzinfo=UTC)


def esc_with(**targets: dict[str, Any]) -> Escalation:
    doc = escalation_doc()
    doc["channels"]["mail"] = {"type": "email", "smtp_host": "127.0.0.1", "sender": "v@x"}
    doc["targets"]["lead"] = {"channel": "hook"}
    doc["targets"].update(targets)
    return check_escalation(build(Escalation, doc), "escalation.yml")


def test_a_target_is_a_channel_or_a_schedule_never_both() -> None:
    doc = escalation_doc()
    doc["targets"]["both"] = {"channel": "hook", "schedule": "primary"}
    doc["targets"]["neither"] = {"description": "?"}
    doc["targets"]["addressed"] = {"schedule": "primary", "to": ["x@y"]}
    with pytest.raises(ConfigError) as exc:
        check_escalation(build(Escalation, doc), "escalation.yml")
    assert has(exc.value.details, "targets.both", "exactly one of channel")
    assert has(exc.value.details, "targets.neither", "exactly one of channel")
    assert has(exc.value.details, "targets.addressed.to", "addressed by the person")


def test_cross_checks_with_escalation_yml() -> None:
    doc = oncall_doc(s=sched(fallback="nobody"), t=sched(fallback="oncall2"))
    doc["people"]["bob"]["channels"] = [{"channel": "pager"}, {"channel": "mail"}]
    oncall = build_oncall(doc, "oncall.yml")
    with pytest.raises(ConfigError) as exc:
        check_against(oncall, esc_with(oncall2={"schedule": "t"}), "escalation.yml")
    details = exc.value.details
    assert exc.value.source == "oncall.yml"
    assert has(details, "people.bob.channels[0].channel", "unknown channel 'pager'")
    assert has(details, "people.bob.channels[1].to", "email channel needs addresses")
    assert has(details, "schedules.s.fallback", "'nobody' is not a target with a channel")
    assert has(details, "schedules.t.fallback", "'oncall2' is not a target with a channel")
    ok = build_oncall(oncall_doc(s=sched()), "oncall.yml")
    with pytest.raises(ConfigError) as exc:
        check_against(ok, esc_with(primary={"schedule": "nope"}), "escalation.yml")
    assert exc.value.source == "escalation.yml"
    assert has(exc.value.details, "targets.primary.schedule", "unknown schedule 'nope'")


def test_a_schedule_target_resolves_to_the_persons_channels_or_the_fallback() -> None:
    oncall = build_oncall(oncall_doc(
        s=sched(rotation={"every": "daily", "handoff": "09:00", "start": "2026-01-05",
                          "people": ["carol"]},
                overrides=[{"who": "bob", "start": "2026-02-01T00:00",
                            "end": "2026-02-02T00:00"}]),
        empty=sched(rotation=None)), "oncall.yml")
    esc = esc_with(primary={"schedule": "s"}, spare={"schedule": "empty"})
    check_against(oncall, esc, "escalation.yml")
    at = datetime(2026, 1, 6, 12, tzinfo=UTC)
    r = resolution(esc, oncall, at)
    assert r["primary"] == {"schedule": "s", "person": "carol", "via": "rotation",
                            "deliver": ["carol/hook", "carol/mail"]}
    assert r["spare"] == {"schedule": "empty", "person": None, "via": "fallback",
                          "fallback": "lead", "deliver": ["lead"]}
    assert resolution(esc, oncall, datetime(2026, 2, 1, 12, tzinfo=UTC))["primary"][
        "deliver"] == ["bob/hook"]
    assert expand(["sec", "primary", "spare", "lead"], r) == [
        "sec", "carol/hook", "carol/mail", "lead"]
    chans = channels(esc, oncall)
    assert chans["carol/mail"] == "mail" and chans["bob/hook"] == "hook"
    assert "primary" not in chans


def test_a_handoff_notice_is_due_within_the_window_after_it_only() -> None:
    oncall = build_oncall(oncall_doc(s=sched(), e=sched(rotation=None)), "oncall.yml")
    handoff = datetime(2026, 1, 12, 9, tzinfo=UTC)            # Monday 09:00 GMT: bob
    # alice's stretch began a week ago: long announced, not again
    assert due_notices(oncall, handoff - datetime.resolution, 3600) == []
    [notice] = due_notices(oncall, handoff, 3600)
    assert (notice["schedule"], notice["person"]) == ("s", "bob")
    assert notice["since"] == handoff.isoformat()
    assert notice["targets"] == [{"target": "bob/hook", "channel": "hook"}]
    assert due_notices(oncall, handoff.replace(hour=10), 3600) == [notice]
    assert due_notices(oncall, handoff.replace(hour=10, second=1), 3600) == []


def test_the_shipped_files_load_together(write_yaml: Callable[..., Path]) -> None:
    cfg = load_config(REPO / "config" / "router.yml", env={"VIGIL_ROUTER_TOKEN": "unit-5e"})
    assert cfg.escalation.targets["on-call"].schedule == "primary"
    assert "on-call" in cfg.escalation.levels["P3"].steps[0].targets
    primary = cfg.oncall.schedules["primary"]
    assert primary.rotation is not None and len(primary.rotation.people) >= 2
    assert cfg.escalation.targets[primary.fallback].channel
    # without an oncall_file the schedule target is an error naming the file to add
    path = write_yaml({"database": {"dsn": "postgresql://r@127.0.0.1/r"},
                       "auth": {"bearer_token": "unit-5e"},
                       "escalation_file": str(REPO / "config" / "escalation.yml")},
                      "router.yml")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert has(exc.value.details, "targets.on-call.schedule", "names no oncall_file")


def test_a_handoff_notice_reads_as_one_line_and_is_its_own_pagerduty_event() -> None:
    from router.channels import Delivery, summary_text
    from router.channels.pagerduty import PagerDutyChannel
    from router.config import Channel
    from vigil.core.config import Secret

    payload = {"kind": "handoff", "target": "bob/pd", "channel": "pd",
               "oncall": {"schedule": "primary", "person": "bob", "via": "rotation",
                          "since": "2026-03-08T07:00:00+00:00",
                          "until": "2026-03-09T06:30:00+00:00"}}
    assert summary_text(payload) == ("on call: bob takes over primary until "
                                     "2026-03-09T06:30:00+00:00")
    pd = PagerDutyChannel("pd", Channel(type="pagerduty", routing_key=Secret("unit-rk")),
                          None)  # type: ignore[arg-type]  # body() sends nothing
    key = "vigil-hprimary@1772953200-handoff-bob/pd"
    body = pd.body(Delivery(key, "bob/pd", (), payload, 1))
    assert body["dedup_key"] == key and body["event_action"] == "trigger"
    assert body["payload"]["severity"] == "info"  # type: ignore[index]
