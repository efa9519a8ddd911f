"""Freeze windows in time: when a window covers, when the next one starts, which ones overlap.

A one-off window is two instants. A weekly window is wall-clock times in its time zone ("Friday
16:00 to Monday 08:00, Europe/Berlin"), so it follows that zone's daylight saving changes: each
occurrence is computed from the local date with zoneinfo, never by adding 7 × 24 hours.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.db.models import Q

from projects.models import FreezeWindow

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
HORIZON = timedelta(days=371)  # a year of weekly occurrences, and a week more
# A one-off window ends within this: its overlap with a weekly window is looked for week by
# week over its span, and the calendar ends at year 9999.
FURTHEST = timedelta(days=3653)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def zone_names() -> list[str]:
    return sorted(available_timezones())


def weekly_days(window) -> int:
    """Days from the start's weekday to the end's: 0 to 7 (7: the end is a week on)."""
    days = (window.end_weekday - window.start_weekday) % 7
    if days == 0 and window.end_time <= window.start_time:
        days = 7
    return days


def occurrences(window, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The spans `window` covers that meet [start, end), earliest first, as aware datetimes."""
    if not window.weekly:
        if window.starts_at < end and window.ends_at > start:
            return [(window.starts_at, window.ends_at)]
        return []
    tz = zone(window.time_zone)
    local = start.astimezone(tz).date()
    day = local - timedelta(days=local.weekday() + 7 - window.start_weekday)
    length = timedelta(days=weekly_days(window))
    found = []
    while (begins := datetime.combine(day, window.start_time, tzinfo=tz)) < end:
        ends = datetime.combine(day + length, window.end_time, tzinfo=tz)
        if ends > start:
            found.append((begins, ends))
        day += timedelta(days=7)
    return found


def windows_for(environment):
    """The project's windows that cover `environment`: its own and the project-wide ones."""
    mine = Q(environment__isnull=True) | Q(environment_id=environment.pk)
    return FreezeWindow.objects.filter(mine, project_id=environment.project_id)


def covering(windows, at: datetime):
    """(window, until) of the window covering `at` that ends last, or (None, None)."""
    best = (None, None)
    for window in windows:
        for begins, ends in occurrences(window, at, at + timedelta(microseconds=1)):
            if begins <= at < ends and (best[1] is None or ends > best[1]):
                best = (window, ends)
    return best


def next_start(windows, at: datetime):
    """(window, starts, ends) of the next window to start after `at`, or (None, None, None)."""
    best = (None, None, None)
    for window in windows:
        for begins, ends in occurrences(window, at, at + HORIZON):
            if begins > at and (best[1] is None or begins < best[1]):
                best = (window, begins, ends)
                break
    return best


def describe(window) -> str:
    """When the window is, as its form said it: "Friday 16:00 to Monday 08:00 every week
    (Europe/Berlin)" or "2026-12-24 00:00 to 2026-12-27 00:00 (Europe/Berlin)"."""
    if window.weekly:
        start = f"{WEEKDAYS[window.start_weekday]} {window.start_time:%H:%M}"
        end = f"{WEEKDAYS[window.end_weekday]} {window.end_time:%H:%M}"
        return f"{start} to {end} every week ({window.time_zone})"
    tz = zone(window.time_zone)
    start, end = window.starts_at.astimezone(tz), window.ends_at.astimezone(tz)
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} ({window.time_zone})"


def moment(value: datetime, zone_name: str) -> str:
    """An instant in a window's zone, as pages say it: "Mon 8 Dec 2026 18:00 CET"."""
    local = value.astimezone(zone(zone_name))
    return f"{local:%a} {local.day} {local:%b %Y %H:%M} {local.tzname()}"


def problems(window, others, now: datetime) -> list[str]:
    """Why `window` cannot be saved beside `others` (the project's windows), in the user's
    words: it ends before it starts, is over already, lasts the whole week, or overlaps one."""
    if window.weekly:
        if weekly_days(window) == 7 and window.end_time == window.start_time:
            return ["A weekly window cannot last the whole week: nothing could ever deploy."]
    else:
        if window.ends_at <= window.starts_at:
            return ["The window ends before it starts: the end must come after the start."]
        if window.ends_at <= now:
            return ["This window is over already: its end is in the past."]
        if window.ends_at > now + FURTHEST:
            return ["A window ends within 10 years: choose an earlier end."]
    clash = overlap(window, others, now)
    return [clash] if clash else []


def overlap(window, others, now: datetime) -> str:
    """Why `window` overlaps one of `others` covering the same environments ("" when none)."""
    for other in others:
        if other.pk == window.pk or not _same_scope(window, other):
            continue
        at = _first_clash(window, other, now)
        if at is not None:
            return (
                f"It overlaps “{other.title}” ({describe(other)}) from "
                f"{moment(at, window.time_zone)}: change the times, or change or delete that "
                "window."
            )
    return ""


def _first_clash(one, other, now: datetime) -> datetime | None:
    """When `one` and `other` first cover the same time: within a one-off window's span, or
    for two weekly ones within the next year (their zones' daylight saving may differ)."""
    if not one.weekly:
        start, end = one.starts_at, one.ends_at
    elif not other.weekly:
        start, end = other.starts_at, other.ends_at
    else:
        start, end = now, now + HORIZON
    for begins, ends in occurrences(one, start, end):
        hit = next(iter(occurrences(other, begins, ends)), None)
        if hit is not None:
            return max(begins, hit[0], start)
    return None


def _same_scope(one, other) -> bool:
    return one.environment_id is None or other.environment_id in (None, one.environment_id)
