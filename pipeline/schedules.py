"""Schedule math: when an organisation's imports are due, in the organisation's own time zone.

A schedule is a set of local wall-clock times per day: either listed ("00:00, 05:00") or every N
minutes counted from local midnight ("every 3 hours" fires at 00:00, 03:00, 06:00 ...). Every
wall-clock time fires once per local day, whatever daylight saving does to that day:

- a time the clocks jump over (02:30 on the spring-forward night) fires at the moment of the jump;
- a time that happens twice (02:30 on the fall-back night) fires at its first occurrence only.

Slots are compared as UTC instants, and two wall-clock times that land on the same instant (02:00
and 03:00 on the spring-forward night) fire once. Everything here is pure: callers pass `now`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.errors import ConfigError

DEFAULT_TIMEZONE = "Europe/Brussels"
DEFAULT_TIMES = (time(0, 0), time(5, 0))
MINUTES_PER_DAY = 24 * 60

_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_INTERVAL = re.compile(r"^(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?$")


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`, or a ConfigError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"Unknown time zone {name!r}.",
            guidance="Use an IANA name such as Europe/Brussels or America/New_York.",
        ) from exc


@dataclass(frozen=True)
class Schedule:
    """When an organisation imports: fixed local times, or every `interval_minutes` from midnight."""

    timezone: str = DEFAULT_TIMEZONE
    times: tuple[time, ...] = DEFAULT_TIMES
    interval_minutes: int | None = None

    def __post_init__(self) -> None:
        zone(self.timezone)
        if self.interval_minutes is not None:
            if not 1 <= self.interval_minutes <= MINUTES_PER_DAY:
                raise ConfigError(
                    f"An interval of {self.interval_minutes} minutes is not possible; use 1 minute to 24 hours."
                )
        elif not self.times:
            raise ConfigError("A schedule needs at least one time of day, e.g. 00:00.")
        object.__setattr__(self, "times", tuple(sorted(set(self.times))))

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.timezone)

    def wall_times(self) -> tuple[time, ...]:
        """The local times of day at which this schedule fires."""
        if self.interval_minutes is None:
            return self.times
        return tuple(time(m // 60, m % 60) for m in range(0, MINUTES_PER_DAY, self.interval_minutes))

    def describe(self) -> str:
        """The schedule in words, e.g. 'every 3 hours from 00:00 (Europe/Brussels)'."""
        if self.interval_minutes is not None:
            hours, minutes = divmod(self.interval_minutes, 60)
            if minutes == 0:
                every = "every hour" if hours == 1 else f"every {hours} hours"
            elif hours == 0:
                every = "every minute" if minutes == 1 else f"every {minutes} minutes"
            else:
                every = f"every {hours} h {minutes} min"
            return f"{every} from 00:00 ({self.timezone})"
        listed = [t.strftime("%H:%M") for t in self.times]
        joined = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
        return f"at {joined} ({self.timezone})"


def parse_times(text: str) -> tuple[time, ...]:
    """'00:00, 05:00' -> (time(0), time(5)). Commas or spaces separate the times."""
    found = []
    for item in re.split(r"[,\s;]+", text.strip()):
        if not item:
            continue
        match = _TIME.match(item)
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise ConfigError(f"{item!r} is not a time of day; write times as HH:MM, e.g. 00:00,05:00.")
        found.append(time(int(match[1]), int(match[2])))
    if not found:
        raise ConfigError("No times given; write times as HH:MM, e.g. 00:00,05:00.")
    return tuple(sorted(set(found)))


def parse_interval(text: str) -> int:
    """'3h', '90m', '1h30m' or a bare number of minutes -> minutes."""
    raw = text.strip().lower().replace(" ", "")
    if raw.isdigit():
        minutes = int(raw)
    else:
        match = _INTERVAL.match(raw)
        if not raw or not match or not (match[1] or match[2]):
            raise ConfigError(f"{text!r} is not an interval; write e.g. 3h, 90m or 1h30m.")
        minutes = int(match[1] or 0) * 60 + int(match[2] or 0)
    if not 1 <= minutes <= MINUTES_PER_DAY:
        raise ConfigError(f"An interval of {text!r} is not possible; use 1 minute to 24 hours.")
    return minutes


def _local_naive(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def resolve(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The UTC instant at which the local wall-clock time `wall` of `day` happens.

    Twice (fall-back): the first occurrence. Never (spring-forward gap): the instant the clocks
    jumped, i.e. the first moment whose local reading is later than `wall`.
    """
    wanted = datetime.combine(day, wall)
    first = wanted.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _local_naive(first, tz) == wanted:
        return first
    # In a gap fold=0 reads the time with the offset before the jump, which lands after it, and
    # fold=1 with the offset after the jump, which lands before it: bisect between the two.
    lo = wanted.replace(tzinfo=tz, fold=1).astimezone(UTC)
    hi = first
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if _local_naive(mid, tz) >= wanted:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def _days(start: datetime, end: datetime, tz: ZoneInfo):
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    while day <= last:
        yield day
        day += timedelta(days=1)


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("schedule math needs time-zone-aware datetimes")
    return instant.astimezone(UTC)


@lru_cache(maxsize=8192)
def _day_slots(walls: tuple[time, ...], tz_name: str, day: date) -> tuple[datetime, ...]:
    # The scheduler asks about the same few days at every tick: resolve each day once.
    tz = zone(tz_name)
    return tuple(resolve(day, wall, tz) for wall in walls)


def slots_between(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    """The slot instants t with start < t <= end, ascending, each once (UTC)."""
    start, end = _aware(start), _aware(end)
    walls = schedule.wall_times()
    found = set()
    for day in _days(start, end, schedule.zone):
        for instant in _day_slots(walls, schedule.timezone, day):
            if start < instant <= end:
                found.add(instant)
    return sorted(found)


def latest_slot(schedule: Schedule, now: datetime) -> datetime:
    """The most recent slot at or before `now`."""
    now = _aware(now)
    window = timedelta(days=2)
    while True:
        found = slots_between(schedule, now - window, now)
        if found:
            return found[-1]
        window *= 2  # only a zone that skipped whole days gets here


def next_slots(schedule: Schedule, after: datetime, count: int = 1) -> list[datetime]:
    """The next `count` slots strictly after `after` (UTC)."""
    after = _aware(after)
    found: list[datetime] = []
    start = after
    while len(found) < count:
        end = start + timedelta(days=max(2, count // max(1, len(schedule.wall_times())) + 2))
        found.extend(slots_between(schedule, start, end))
        start = end
    return found[:count]


def next_slot(schedule: Schedule, after: datetime) -> datetime:
    """The first slot strictly after `after` (UTC)."""
    return next_slots(schedule, after, 1)[0]


def due_slot(schedule: Schedule, last_handled: datetime, now: datetime) -> datetime | None:
    """The slot to run now, or None: the latest slot after `last_handled` and at or before `now`.

    After downtime several slots may have passed; only the latest is returned, so a missed slot
    runs once, not once per missed slot.
    """
    latest = latest_slot(schedule, now)
    return latest if latest > _aware(last_handled) else None


def local_day_start(tz: ZoneInfo, now: datetime) -> datetime:
    """The instant the local day containing `now` began (UTC)."""
    return resolve(_aware(now).astimezone(tz).date(), time(0), tz)


def next_local_midnight(tz: ZoneInfo, now: datetime) -> datetime:
    """The instant the next local day begins (UTC): when a daily counter starts again."""
    return resolve(_aware(now).astimezone(tz).date() + timedelta(days=1), time(0), tz)


def format_local(instant: datetime, tz: ZoneInfo, now: datetime | None = None) -> str:
    """'14:00' when on the same local day as `now`, else '00:00 on 2024-03-11'; always with the zone."""
    local = _aware(instant).astimezone(tz)
    text = local.strftime("%H:%M")
    if now is None or local.date() != _aware(now).astimezone(tz).date():
        text += f" on {local:%Y-%m-%d}"
    return f"{text} ({tz.key})"
