"""A study's time zone: times are stored in UTC and entered and shown in the study's zone.

Names are IANA zone names checked with ``zoneinfo``; a console time entered without a
zone is read as the study's local time (a time that does not exist, in a spring-forward
gap, is refused rather than guessed).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .models import DomainError


def zone(name: str) -> tzinfo:
    """The zone called ``name``; UTC for a name this machine does not know.

    Not cached here: ``ZoneInfo`` keeps its own cache of the zones it has read."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


@functools.cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone name this machine knows, sorted (for the console's list).

    Cached once per process: listing them reads the zone database from disk. Key: none
    (no arguments), so one value, the same for every study, facilitator and language;
    bound: that one tuple of about 600 names; invalidation: none while the process runs
    (a new tzdata release is read at the next restart)."""
    return tuple(sorted(available_timezones() | {"UTC"}))


def check_zone(name: str) -> str:
    """``name`` if it is a known IANA zone, else a DomainError naming it."""
    name = (name or "").strip()
    if not name or len(name) > 64 or "\x00" in name or name not in zone_names():
        raise DomainError("study.time_zone_unknown",
                          "{name!r} is not a time zone name such as Europe/London or "
                          "America/New_York.", name=name[:64])
    return name


def to_utc(local: datetime | None, name: str) -> datetime | None:
    """A naive local time in zone ``name`` as an aware UTC time (None stays None)."""
    if local is None:
        return None
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    tz = zone(name)
    aware = local.replace(tzinfo=tz)
    # A time that the clocks skip (the spring-forward hour) does not round-trip.
    if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local:
        raise DomainError("study.time_not_in_zone",
                          "{time} does not exist in {zone} (the clocks skip it); choose "
                          "another time.", time=local.strftime("%Y-%m-%d %H:%M"), zone=name)
    return aware.astimezone(UTC)


def local(when: datetime | None, name: str) -> datetime | None:
    """A UTC time in zone ``name`` (aware)."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(zone(name))


def offset(when: datetime) -> str:
    """``UTC+01:00`` style offset of an aware time."""
    delta = when.utcoffset()
    minutes = int(delta.total_seconds() // 60) if delta is not None else 0
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def shown(when: datetime | None, name: str, fmt: str = "%d %B %Y at %H:%M") -> str:
    """A UTC time as people read it in the study's zone, with the zone and its offset:
    ``14 March 2027 at 17:00 Europe/London (UTC+00:00)``."""
    if when is None:
        return ""
    here = local(when, name)
    assert here is not None
    if name == "UTC":  # the zone is its own offset (and the texts stay as they were)
        return f"{here.strftime(fmt)} UTC"
    return f"{here.strftime(fmt)} {name} ({offset(here)})"


def input_value(when: datetime | None, name: str) -> str:
    """A UTC time as the value of a ``datetime-local`` input in the study's zone."""
    here = local(when, name)
    return here.strftime("%Y-%m-%dT%H:%M") if here else ""
