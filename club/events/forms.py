"""The event form (texts per language, times in the venue's zone, capacity, audience) and the answer form."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData

from club import forms
from club.accounts.models import CITIES
from club.events.models import Event, Zone
from club.events.service import GUEST_LIMIT, EventInput
from club.forms import Errors, Invalid
from club.i18n import LANGUAGES, N_
from club.newsletters.audience import Audience

TITLE_MAX = 200
DESCRIPTION_MAX = 20_000
CAPACITY_MAX = 100_000


def form_values(form: FormData) -> dict[str, object]:
    values: dict[str, object] = {key: forms.field(form, key) for key in form.keys() if key != "csrf_token"}
    for key in ("cities", "languages", "interests"):
        values[key] = [v for v in form.getlist(key) if isinstance(v, str)]
    return values


def values_of(event: Event) -> dict[str, object]:
    """An event as the form shows it: local times in its zone."""
    zone = ZoneInfo(event.zone)
    audience = Audience.from_json(event.audience)

    def local(moment: dt.datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if moment else ""

    values: dict[str, object] = {
        "fallback": event.fallback,
        "zone": event.zone,
        "starts_at": local(event.starts_at),
        "ends_at": local(event.ends_at),
        "rsvp_deadline": local(event.rsvp_deadline),
        "venue": event.venue,
        "address": event.address,
        "capacity": "" if event.capacity is None else str(event.capacity),
        "max_guests": str(event.max_guests),
        "question": event.question,
        "public": "1" if event.public else "",
        "reminder_days": str(event.reminder_days),
        "cities": list(audience.cities),
        "languages": list(audience.languages),
        "interests": list(audience.interests),
        "ambassadors_only": "1" if audience.ambassadors_only else "",
        "joined_from": audience.joined_from.isoformat() if audience.joined_from else "",
        "joined_until": audience.joined_until.isoformat() if audience.joined_until else "",
    }
    for language in LANGUAGES:
        values[f"title_{language}"] = getattr(event, f"title_{language}")
        values[f"description_{language}"] = getattr(event, f"description_{language}")
    return values


def _moment(raw: str, zone: ZoneInfo, *, required: bool) -> dt.datetime | None:
    raw = raw.strip()
    if not raw:
        if required:
            raise Invalid(N_("This field is required."))
        return None
    try:
        local = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise Invalid(N_("Enter a date and time like 2026-04-01 09:00.")) from None
    return local.replace(tzinfo=zone).astimezone(dt.UTC)


def _date(raw: str) -> dt.date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise Invalid(N_("Enter a date like 2026-04-01.")) from None


def parse_event(form: FormData, interest_slugs: list[str]) -> tuple[EventInput | None, Errors]:
    errors = Errors()
    titles: dict[str, str] = {}
    descriptions: dict[str, str] = {}
    for language in LANGUAGES:
        try:
            titles[language] = forms.text(forms.field(form, f"title_{language}"), max_length=TITLE_MAX, required=False)
            descriptions[language] = forms.text(
                forms.field(form, f"description_{language}"), max_length=DESCRIPTION_MAX, required=False, multiline=True
            )
        except Invalid as error:
            errors.add(f"title_{language}", error)
    present = [language for language in LANGUAGES if titles.get(language)]
    fallback = forms.field(form, "fallback") or "en"
    if fallback not in LANGUAGES:
        errors.add("fallback", Invalid(N_("Choose one of the options.")))
    elif not present:
        errors.add("title_en", Invalid(N_("Write a title in at least one language.")))
    elif fallback not in present:
        fallback = present[0]
    zone_name = forms.field(form, "zone") or Zone.GHENT
    if zone_name not in tuple(Zone):
        errors.add("zone", Invalid(N_("Choose one of the options.")))
        zone_name = Zone.GHENT
    zone = ZoneInfo(zone_name)
    moments: dict[str, dt.datetime | None] = {}
    for name, required in (("starts_at", True), ("ends_at", True), ("rsvp_deadline", False)):
        try:
            moments[name] = _moment(forms.field(form, name), zone, required=required)
        except Invalid as error:
            errors.add(name, error)
    starts, ends, deadline = moments.get("starts_at"), moments.get("ends_at"), moments.get("rsvp_deadline")
    if starts and ends and ends <= starts:
        errors.add("ends_at", Invalid(N_("The end must come after the start.")))
    if starts and deadline and deadline > starts:
        errors.add("rsvp_deadline", Invalid(N_("The deadline for answers must come before the start.")))
    values: dict[str, object] = {}
    for name, limit in (("venue", 200), ("address", 300), ("question", 300)):
        try:
            values[name] = forms.text(forms.field(form, name), max_length=limit, required=name == "venue")
        except Invalid as error:
            errors.add(name, error)
    for name, minimum, maximum, required in (
        ("capacity", 1, CAPACITY_MAX, False),
        ("max_guests", 0, GUEST_LIMIT, False),
        ("reminder_days", 0, 30, False),
    ):
        try:
            values[name] = forms.integer(forms.field(form, name), minimum=minimum, maximum=maximum, required=required)
        except Invalid as error:
            errors.add(name, error)
    try:
        cities = forms.choices([v for v in form.getlist("cities") if isinstance(v, str)], CITIES)
        languages = forms.choices([v for v in form.getlist("languages") if isinstance(v, str)], LANGUAGES)
        interests = forms.choices([v for v in form.getlist("interests") if isinstance(v, str)], interest_slugs)
        joined_from, joined_until = _date(forms.field(form, "joined_from")), _date(forms.field(form, "joined_until"))
    except Invalid as error:
        errors.add("audience", error)
        cities, languages, interests, joined_from, joined_until = [], [], [], None, None
    if errors or starts is None or ends is None:
        return None, errors
    reminder = values.get("reminder_days")
    return EventInput(
        titles=titles,
        descriptions=descriptions,
        fallback=fallback,
        zone=zone_name,
        starts_at=starts,
        ends_at=ends,
        rsvp_deadline=deadline,
        venue=str(values["venue"]),
        address=str(values["address"]),
        capacity=values.get("capacity"),  # type: ignore[arg-type]
        max_guests=int(values.get("max_guests") or 0),  # type: ignore[call-overload]
        question=str(values["question"]),
        public=forms.field(form, "public") in ("1", "on", "yes"),
        audience=Audience(
            cities=tuple(cities),
            languages=tuple(languages),
            interests=tuple(interests),
            ambassadors_only=forms.field(form, "ambassadors_only") in ("1", "on", "yes"),
            joined_from=joined_from,
            joined_until=joined_until,
        ),
        reminder_days=2 if reminder is None else int(reminder),  # type: ignore[call-overload]
    ), errors


def parse_answer(form: FormData, event: Event) -> tuple[bool, int, str, Errors]:
    """coming, guests, note. Guests over the event's limit is an error, never silently cut."""
    errors = Errors()
    coming = forms.field(form, "answer") == "yes"
    guests = 0
    if coming:
        try:
            guests = forms.integer(forms.field(form, "guests") or "0", minimum=0, maximum=event.max_guests) or 0
        except Invalid as error:
            errors.add("guests", error)
    try:
        note = forms.text(forms.field(form, "note"), max_length=1000, required=False, multiline=True)
    except Invalid as error:
        errors.add("note", error)
        note = ""
    return coming, guests, note, errors
