"""Schedule math on a simulated clock: a year of ticks across both daylight-saving changes."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from pipeline.errors import ConfigError
from pipeline.schedules import (
    Schedule,
    due_slot,
    latest_slot,
    next_local_midnight,
    next_slots,
    parse_interval,
    parse_times,
    resolve,
)

BRUSSELS = ZoneInfo("Europe/Brussels")
# The local year 2026 in Brussels, so that every local day of it is inside the range.
YEAR_START = datetime(2026, 1, 1, tzinfo=BRUSSELS).astimezone(UTC) - timedelta(seconds=1)
YEAR_END = datetime(2027, 1, 1, tzinfo=BRUSSELS).astimezone(UTC) - timedelta(seconds=1)
SPRING = date(2026, 3, 29)  # Europe: 02:00 CET -> 03:00 CEST
AUTUMN = date(2026, 10, 25)  # Europe: 03:00 CEST -> 02:00 CET


def tick_through(schedule: Schedule, start: datetime, end: datetime, steps) -> list[datetime]:
    """What a scheduler ticking at the given intervals fires: the slot due at each tick, once."""
    last = latest_slot(schedule, start)
    fired = []
    now = start
    for step in steps:
        now += step
        if now > end:
            break
        slot = due_slot(schedule, last, now)
        if slot is not None:
            fired.append(slot)
            last = slot
    return fired


def wall_clock_oracle(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    """Minute by minute: a wall time fires at the first minute its local day reaches it, once per day.

    Written without the module's own resolution so the two can disagree.
    """
    tz = schedule.zone
    walls = sorted(schedule.wall_times())
    fired: set[datetime] = set()
    minute = start.replace(second=0, microsecond=0)
    local = minute.astimezone(tz)
    day, index = local.date(), sum(1 for w in walls if w <= local.time().replace(tzinfo=None))
    while minute + timedelta(minutes=1) <= end:
        minute += timedelta(minutes=1)
        local = minute.astimezone(tz)
        if local.date() != day:
            # The day ended: walls it never reached (a clock jump over midnight, or a day the zone
            # skipped altogether) fire now, at the jump.
            if index < len(walls) or local.date() > day + timedelta(days=1):
                fired.add(minute)
            day, index = local.date(), 0
        while index < len(walls) and walls[index] <= local.time().replace(tzinfo=None):
            fired.add(minute)
            index += 1
    return sorted(fired)


def local_readings(fired: list[datetime], tz=BRUSSELS) -> dict[date, list[str]]:
    out: dict[date, list[str]] = {}
    for instant in fired:
        local = instant.astimezone(tz)
        out.setdefault(local.date(), []).append(local.strftime("%H:%M%z"))
    return out


@pytest.mark.parametrize(
    "schedule",
    [
        Schedule(),  # the default: 00:00 and 05:00 in Europe/Brussels
        Schedule(times=(time(2, 30), time(3, 0))),  # inside both DST transitions
        Schedule(interval_minutes=180),  # every 3 hours, the seed's cycle
        Schedule(interval_minutes=60),
    ],
    ids=["default", "02:30+03:00", "every-3h", "every-hour"],
)
def test_a_year_of_ticks_fires_each_slot_once_like_the_wall_clock(schedule):
    steps = [timedelta(minutes=10)] * (366 * 24 * 6)
    fired = tick_through(schedule, YEAR_START, YEAR_END, steps)

    assert fired == wall_clock_oracle(schedule, YEAR_START, YEAR_END)
    assert len(fired) == len(set(fired))
    per_day = local_readings(fired)
    walls = len(schedule.wall_times())
    ordinary = [d for d in per_day if d not in (SPRING, AUTUMN)]
    assert len(per_day) == 365 and all(len(per_day[d]) == walls for d in ordinary)


def test_a_time_the_clocks_skip_fires_at_the_jump_and_a_doubled_time_fires_once():
    schedule = Schedule(times=(time(2, 30), time(3, 0)))
    fired = tick_through(schedule, YEAR_START, YEAR_END, [timedelta(minutes=10)] * (366 * 144))
    per_day = local_readings(fired)

    # Spring: 02:30 does not exist; it fires when the clock jumps to 03:00, together with 03:00.
    assert per_day[SPRING] == ["03:00+0200"]
    # Autumn: 02:30 happens twice; only the first (summer time) fires. 03:00 happens once.
    assert per_day[AUTUMN] == ["02:30+0200", "03:00+0100"]
    assert per_day[date(2026, 3, 30)] == ["02:30+0200", "03:00+0200"]


def test_every_hour_on_the_two_transition_nights():
    schedule = Schedule(interval_minutes=60)
    fired = tick_through(schedule, YEAR_START, YEAR_END, [timedelta(minutes=7)] * (366 * 24 * 9))
    per_day = local_readings(fired)

    assert per_day[SPRING][:4] == ["00:00+0100", "01:00+0100", "03:00+0200", "04:00+0200"]
    assert len(per_day[SPRING]) == 23  # 02:00 never happens; it is not run twice at 03:00
    assert per_day[AUTUMN][:5] == ["00:00+0200", "01:00+0200", "02:00+0200", "03:00+0100", "04:00+0100"]
    assert len(per_day[AUTUMN]) == 24  # the second 02:00 (winter time) is the same slot: not run again


def test_irregular_ticks_in_another_zone_fire_the_same_slots():
    schedule = Schedule(timezone="America/New_York", times=(time(1, 30), time(2, 15), time(23, 45)))
    rng = random.Random(5)
    # Ticks are irregular but closer together than any two slots (30 min on the spring night);
    # sparser ticks would merge slots the way downtime does, by design.
    steps = [timedelta(seconds=rng.randint(30, 25 * 60)) for _ in range(60_000)]
    fired = tick_through(schedule, YEAR_START, YEAR_END, steps)

    assert fired == wall_clock_oracle(schedule, YEAR_START, YEAR_END)
    per_day = local_readings(fired, ZoneInfo("America/New_York"))
    assert per_day[date(2026, 3, 8)] == [
        "01:30-0500",
        "03:00-0400",
        "23:45-0400",
    ]  # 02:15 skipped by the clock
    assert per_day[date(2026, 11, 1)] == ["01:30-0400", "02:15-0500", "23:45-0500"]  # 01:30 twice, fired once


def test_after_downtime_a_missed_slot_runs_once_on_start():
    schedule = Schedule()  # 00:00 and 05:00 Brussels (CET in February: UTC+1)
    last = datetime(2026, 2, 1, 4, 0, tzinfo=UTC)  # 05:00 local on 1 Feb
    restart = datetime(2026, 2, 4, 12, 0, tzinfo=UTC)  # down for three days and six missed slots

    assert due_slot(schedule, last, restart) == datetime(2026, 2, 4, 4, 0, tzinfo=UTC)
    caught_up = due_slot(schedule, last, restart)
    assert due_slot(schedule, caught_up, restart + timedelta(hours=10)) is None
    assert due_slot(schedule, caught_up, datetime(2026, 2, 4, 23, 0, tzinfo=UTC)) == datetime(
        2026, 2, 4, 23, 0, tzinfo=UTC
    )


def test_next_slots_and_local_midnight_follow_the_zone():
    schedule = Schedule(interval_minutes=180)
    now = datetime(2026, 3, 28, 22, 30, tzinfo=UTC)  # 23:30 CET, the evening before spring forward

    local = [s.astimezone(BRUSSELS).strftime("%H:%M%z") for s in next_slots(schedule, now, 3)]
    assert local == ["00:00+0100", "03:00+0200", "06:00+0200"]
    assert next_local_midnight(BRUSSELS, now) == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert next_local_midnight(BRUSSELS, datetime(2026, 3, 29, 12, tzinfo=UTC)) == datetime(
        2026, 3, 29, 22, 0, tzinfo=UTC
    )
    assert schedule.describe() == "every 3 hours from 00:00 (Europe/Brussels)"
    assert Schedule().describe() == "at 00:00 and 05:00 (Europe/Brussels)"


def test_a_day_a_zone_skipped_entirely_still_fires_its_slots_once():
    # Samoa skipped 30 December 2011: every slot of that day fires once, when the day was jumped.
    apia = ZoneInfo("Pacific/Apia")
    assert resolve(date(2011, 12, 30), time(5), apia) == datetime(2011, 12, 30, 10, 0, tzinfo=UTC)
    schedule = Schedule(timezone="Pacific/Apia", times=(time(5),))
    start = datetime(2011, 12, 27, tzinfo=UTC)
    fired = tick_through(schedule, start, start + timedelta(days=7), [timedelta(minutes=15)] * 700)
    assert fired == wall_clock_oracle(schedule, start, start + timedelta(days=7))
    local = [f.astimezone(apia) for f in fired]
    # Eight local days in seven real ones: 30 December fires once, at the jump into the 31st.
    assert len(fired) == 8 and datetime(2011, 12, 30, 10, 0, tzinfo=UTC) in fired
    assert [t.strftime("%d %H:%M") for t in local[3:5]] == ["31 00:00", "31 05:00"]


def test_schedule_input_is_checked_with_a_clear_message():
    assert parse_times("0:00, 05:00 13:30") == (time(0), time(5), time(13, 30))
    assert parse_interval("3h") == 180 and parse_interval("1h30m") == 90 and parse_interval("45") == 45
    with pytest.raises(ConfigError, match="'25:00' is not a time of day"):
        parse_times("00:00,25:00")
    with pytest.raises(ConfigError, match="'3x' is not an interval"):
        parse_interval("3x")
    with pytest.raises(ConfigError, match="1 minute to 24 hours"):
        parse_interval("25h")
    with pytest.raises(ConfigError, match="Unknown time zone 'Europe/Brusel'"):
        Schedule(timezone="Europe/Brusel")
