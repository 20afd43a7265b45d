"""iCalendar (RFC 5545) for events: one event for an invitation or "add to calendar", and the feed of public events.

Times are written in the venue's zone with its TZID and VTIMEZONE; the UID stays the same across updates and
SEQUENCE says which version is newer, so a calendar updates the event it already has instead of adding a second."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from icalendar import Calendar, Timezone, vCalAddress, vText
from icalendar import Event as VEvent

from club.events.models import Event
from club.events.text import plain_description

PRODID = "-//Ghent-Kanazawa Supporters Club//Events//EN"


def _calendar(method: str | None) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    if method:
        calendar.add("method", method)
    return calendar


def _vevent(event: Event, language: str, url: str, organizer: str | None, cancelled: bool = False) -> VEvent:
    zone = ZoneInfo(event.zone)
    item = VEvent()
    item.add("uid", event.uid)
    item.add("sequence", event.sequence)
    item.add("dtstamp", dt.datetime.now(dt.UTC))
    item.add("dtstart", event.starts_at.astimezone(zone))
    item.add("dtend", event.ends_at.astimezone(zone))
    item.add("summary", event.title(language))
    description = plain_description(event, language)
    item.add("description", f"{description}\n\n{url}".strip())
    location = ", ".join(part for part in (event.venue, event.address) if part)
    if location:
        item.add("location", location)
    item.add("url", url)
    if organizer:
        item.add("organizer", vCalAddress(f"mailto:{organizer}"))
    item.add("status", "CANCELLED" if cancelled or event.status == "cancelled" else "CONFIRMED")
    return item


def _timezones(calendar: Calendar, events: Iterable[Event]) -> None:
    for name in sorted({event.zone for event in events}):
        calendar.add_component(Timezone.from_tzid(name))


def invitation(event: Event, language: str, url: str, organizer: str, *, cancelled: bool = False) -> str:
    """The .ics attached to an invitation, an update or a cancellation (METHOD:REQUEST or CANCEL)."""
    calendar = _calendar("CANCEL" if cancelled else "REQUEST")
    _timezones(calendar, [event])
    calendar.add_component(_vevent(event, language, url, organizer, cancelled))
    return calendar.to_ical().decode("utf-8")


def single(event: Event, language: str, url: str) -> str:
    """ "Add to calendar" from the public page: no method, no organizer."""
    calendar = _calendar("PUBLISH")
    _timezones(calendar, [event])
    calendar.add_component(_vevent(event, language, url, None))
    return calendar.to_ical().decode("utf-8")


def feed(events: list[Event], language: str, url_of: dict[int, str], name: str) -> str:
    calendar = _calendar("PUBLISH")
    calendar.add("x-wr-calname", vText(name))
    _timezones(calendar, events)
    for event in events:
        calendar.add_component(_vevent(event, language, url_of[event.id], None))
    return calendar.to_ical().decode("utf-8")
