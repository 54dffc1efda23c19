"""router/oncall/resolve.py: who is on call at each instant, across the 2026 daylight-saving
changes of America/New_York (03-08, 11-01) and Europe/London (03-29, 10-25).

The clock is the argument: every instant below is UTC, and the expected local reading is in
the comment. The rule under test (docs/runbook.md, "Who is paged"): a hand-off happens at the
first instant the local clock reads the hand-off time or later.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from router.oncall.resolve import now_and_next, on_call

from .oncall_data import schedule

NY, LONDON = "America/New_York", "Europe/London"
SECOND = timedelta(seconds=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def who(s: object, at: datetime) -> str | None:
    return on_call(s, at).person  # type: ignore[arg-type]


# --- New York ---------------------------------------------------------------------------------

def test_new_york_spring_forward_a_handoff_in_the_skipped_hour_happens_at_the_jump() -> None:
    # Daily at 02:30, alice from 2026-03-06: 03-06 alice, 03-07 bob, 03-08 alice, 03-09 bob.
    s = schedule(NY, handoff="02:30", start="2026-03-06")
    assert who(s, utc(2026, 3, 7, 7, 30)) == "bob"             # 03-07 02:30 EST
    # 03-08: the clock jumps 02:00 EST -> 03:00 EDT (07:00 UTC); 02:30 is never read.
    assert who(s, utc(2026, 3, 8, 7, 0) - SECOND) == "bob"     # 01:59:59 EST
    stretch = on_call(s, utc(2026, 3, 8, 7, 0))               # 03:00 EDT: alice
    assert (stretch.person, stretch.via) == ("alice", "rotation")
    assert stretch.since == utc(2026, 3, 8, 7, 0)
    assert stretch.until == utc(2026, 3, 9, 6, 30)             # 03-09 02:30 EDT, on time again
    # bob's shift before the jump was 23.5 hours, alice's after it 23.5 hours too
    assert on_call(s, utc(2026, 3, 8, 6)).since == utc(2026, 3, 7, 7, 30)
    assert who(s, utc(2026, 3, 9, 6, 30)) == "bob"


def test_new_york_fall_back_a_handoff_read_twice_happens_at_the_first_reading() -> None:
    # Daily at 01:30: 10-31 alice (start), 11-01 bob, 11-02 alice.
    s = schedule(NY, handoff="01:30", start="2026-10-31")
    # 11-01: 01:30 EDT (05:30 UTC) is read first, then 01:30 EST (06:30 UTC) again.
    assert who(s, utc(2026, 11, 1, 5, 30) - SECOND) == "alice"
    stretch = on_call(s, utc(2026, 11, 1, 5, 30))
    assert (stretch.person, stretch.since) == ("bob", utc(2026, 11, 1, 5, 30))
    assert who(s, utc(2026, 11, 1, 6, 45)) == "bob"            # the second 01:45: no new hand-off
    assert stretch.until == utc(2026, 11, 2, 6, 30)            # 11-02 01:30 EST: a 25-hour shift


def test_new_york_weekly_handoff_keeps_its_local_time_across_both_changes() -> None:
    # Sundays at 09:00 from 2026-03-01: alice, bob (03-08, the spring-forward day), alice...
    s = schedule(NY, every="weekly", start="2026-03-01")
    assert on_call(s, utc(2026, 3, 1, 14)).until == utc(2026, 3, 8, 13)   # 09:00 EST -> EDT
    assert who(s, utc(2026, 3, 8, 13) - SECOND) == "alice"
    assert who(s, utc(2026, 3, 8, 13)) == "bob"
    # Fall back: 2026-11-01 is a Sunday too, 35 weeks on: odd week -> bob.
    before = on_call(s, utc(2026, 11, 1, 13))                  # 08:00 EST: still the last shift
    assert before.person == "alice" and before.since == utc(2026, 10, 25, 13)
    assert before.until == utc(2026, 11, 1, 14)                # 09:00 EST: a 169-hour shift
    assert who(s, utc(2026, 11, 1, 14)) == "bob"


# --- London -----------------------------------------------------------------------------------

def test_london_spring_forward_and_fall_back_at_a_handoff_in_the_changing_hour() -> None:
    # Daily at 01:30 from 2026-03-28: 03-28 alice, 03-29 bob, 03-30 alice.
    s = schedule(LONDON, handoff="01:30", start="2026-03-28")
    # 03-29: 01:00 GMT -> 02:00 BST at 01:00 UTC; 01:30 is skipped: the hand-off is at the jump.
    assert who(s, utc(2026, 3, 29, 1) - SECOND) == "alice"
    assert on_call(s, utc(2026, 3, 29, 1)).since == utc(2026, 3, 29, 1)
    assert who(s, utc(2026, 3, 29, 1)) == "bob"
    assert on_call(s, utc(2026, 3, 29, 1)).until == utc(2026, 3, 30, 0, 30)  # 01:30 BST
    # 10-25: 02:00 BST -> 01:00 GMT at 01:00 UTC; 01:30 is read at 00:30 UTC and 01:30 UTC.
    s = schedule(LONDON, handoff="01:30", start="2026-10-24")
    assert who(s, utc(2026, 10, 25, 0, 30) - SECOND) == "alice"
    assert who(s, utc(2026, 10, 25, 0, 30)) == "bob"           # the first reading
    assert who(s, utc(2026, 10, 25, 1, 30)) == "bob"           # the second: no hand-off
    assert on_call(s, utc(2026, 10, 25, 1)).until == utc(2026, 10, 26, 1, 30)  # 01:30 GMT


def test_london_daily_nine_oclock_moves_in_utc_with_the_clocks() -> None:
    s = schedule(LONDON, start="2026-03-28")
    assert on_call(s, utc(2026, 3, 28, 12)).since == utc(2026, 3, 28, 9)      # 09:00 GMT
    assert on_call(s, utc(2026, 3, 28, 12)).until == utc(2026, 3, 29, 8)      # 09:00 BST
    assert who(s, utc(2026, 3, 29, 8)) == "bob"
    s = schedule(LONDON, start="2026-10-24")
    assert on_call(s, utc(2026, 10, 24, 12)).until == utc(2026, 10, 25, 9)    # 09:00 GMT
    assert who(s, utc(2026, 10, 25, 8, 59)) == "alice"


# --- overrides and the fallback ---------------------------------------------------------------

def test_an_override_wins_over_the_rotation_for_its_period_in_local_time() -> None:
    # Daily 09:00 New York; carol covers the spring-forward weekend, bounds in local time.
    s = schedule(NY, start="2026-03-06", overrides=[
        {"who": "carol", "start": "2026-03-07T18:00", "end": "2026-03-08T12:00"}])
    assert who(s, utc(2026, 3, 7, 23) - SECOND) == "bob"       # 17:59:59 EST
    stretch = on_call(s, utc(2026, 3, 8, 3))
    assert (stretch.person, stretch.via) == ("carol", "override")
    # through the 03-08 09:00 EDT hand-off (13:00 UTC is after the end): start EST, end EDT
    assert (stretch.since, stretch.until) == (utc(2026, 3, 7, 23), utc(2026, 3, 8, 16))
    after = on_call(s, utc(2026, 3, 8, 16))                   # back to the rotation: alice
    assert (after.person, after.via, after.since) == ("alice", "rotation", utc(2026, 3, 8, 16))
    assert after.until == utc(2026, 3, 9, 13)


def test_an_override_for_the_person_already_on_call_is_no_handoff() -> None:
    s = schedule(NY, start="2026-03-06", overrides=[
        {"who": "alice", "start": "2026-03-06T12:00Z", "end": "2026-03-07T20:00Z"}])
    stretch = on_call(s, utc(2026, 3, 6, 16))
    # alice from her override's start (before the first hand-off, 09:00 EST) through its
    # end, which outlasts her shift: one stretch, no hand-off at 03-06 09:00
    assert (stretch.since, stretch.until) == (utc(2026, 3, 6, 12), utc(2026, 3, 7, 20))
    assert who(s, utc(2026, 3, 7, 20)) == "bob"


def test_an_empty_schedule_pages_the_fallback() -> None:
    empty = schedule(LONDON, rotation=False)
    stretch = on_call(empty, utc(2026, 10, 25, 1))
    assert (stretch.person, stretch.via, stretch.pages) == (None, "fallback", "lead")
    assert (stretch.since, stretch.until) == (None, None)
    # overrides only: the fallback outside them
    holiday = schedule(LONDON, rotation=False, overrides=[
        {"who": "bob", "start": "2026-12-24T17:00", "end": "2026-12-27T09:00"}])
    assert on_call(holiday, utc(2026, 12, 24, 16)).pages == "lead"
    assert on_call(holiday, utc(2026, 12, 24, 16)).until == utc(2026, 12, 24, 17)
    assert on_call(holiday, utc(2026, 12, 25, 12)).pages == "bob"
    assert on_call(holiday, utc(2026, 12, 27, 9)).pages == "lead"
    # before the rotation's first hand-off nobody is on call either
    later = schedule(NY, start="2026-11-01")
    early = on_call(later, utc(2026, 10, 31))
    assert (early.pages, early.until) == ("lead", utc(2026, 11, 1, 14))


def test_now_and_next_names_the_incoming_person_and_when() -> None:
    s = schedule(NY, every="weekly", start="2026-03-01", people=["alice", "bob", "carol"])
    [row] = now_and_next({"s": s}, utc(2026, 3, 8, 12))
    assert row.now.person == "alice" and row.next is not None
    assert (row.next.person, row.next.since) == ("bob", utc(2026, 3, 8, 13))
    assert row.now.as_dict()["until"] == "2026-03-08T13:00:00+00:00"
    # one person: the hand-offs are to herself, so there is no next (bounded, not endless)
    solo = schedule(NY, people=["alice"])
    [row] = now_and_next([solo], utc(2026, 6, 1))
    assert (row.now.person, row.now.until, row.next) == ("alice", None, None)
    assert row.now.since == utc(2026, 3, 1, 14)               # the first hand-off
    assert now_and_next([schedule(NY, rotation=False)], utc(2026, 6, 1))[0].next is None


@pytest.mark.parametrize("zone", [NY, LONDON])
def test_every_instant_of_2026_has_exactly_the_rotation_person(zone: str) -> None:
    # Hourly over the year, both zones, a hand-off at 01:30 (in the changing hour in London,
    # and in New York's repeated hour): each stretch starts where the previous one ends.
    s = schedule(zone, handoff="01:30", start="2026-01-01", people=["alice", "bob", "carol"])
    at = utc(2026, 1, 2)
    stretch = on_call(s, at)
    while at < utc(2027, 1, 1):
        assert stretch.until is not None
        nxt = on_call(s, stretch.until)
        assert nxt.since == stretch.until and nxt.person != stretch.person
        assert on_call(s, stretch.until - SECOND).person == stretch.person
        length = (stretch.until - stretch.since).total_seconds() / 3600 if stretch.since else 24
        assert length in (23, 23.5, 24, 24.5, 25)
        stretch, at = nxt, stretch.until
