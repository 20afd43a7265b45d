"""The event form (texts per language, times in the venue's zone, capacity, audience) and the answer form."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationInfo, field_validator
from starlette.datastructures import FormData

from club import forms
from club.events.models import Event, Zone
from club.events.service import GUEST_LIMIT, EventInput
from club.forms import Errors, Invalid, Parsed, Switch, rule
from club.i18n import LANGUAGES, N_
from club.newsletters.audience import Audience
from club.newsletters.forms import form_values, parse_audience

__all__ = ["form_values", "parse_answer", "parse_event", "values_of"]

CAPACITY_MAX = 100_000


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


class TextInput(BaseModel):
    """An event's title and description in one language (form names title_nl, description_nl, ...)."""

    title: Annotated[str, rule(forms.text, max_length=200, required=False)]
    description: Annotated[str, rule(forms.text, max_length=20_000, required=False, multiline=True)]


class EventForm(BaseModel):
    fallback: Annotated[str, rule(lambda code: forms.choice(code or "en", LANGUAGES))]
    zone: Annotated[str, rule(lambda zone: forms.choice(zone or Zone.GHENT, tuple(Zone)))]
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    rsvp_deadline: dt.datetime | None
    venue: Annotated[str, rule(forms.text, max_length=200)]
    address: Annotated[str, rule(forms.text, max_length=300, required=False)]
    question: Annotated[str, rule(forms.text, max_length=300, required=False)]
    capacity: Annotated[int | None, rule(forms.integer, minimum=1, maximum=CAPACITY_MAX, required=False)]
    max_guests: Annotated[int | None, rule(forms.integer, minimum=0, maximum=GUEST_LIMIT, required=False)]
    reminder_days: Annotated[int | None, rule(forms.integer, minimum=0, maximum=30, required=False)]
    public: Switch

    @field_validator("starts_at", "ends_at", "rsvp_deadline", mode="before")
    @classmethod
    def _local_time(cls, raw: str, info: ValidationInfo) -> dt.datetime | None:
        """A local date and time in the venue's zone; the end after the start, the deadline before it."""
        if not raw.strip():
            if info.field_name == "rsvp_deadline":
                return None
            raise Invalid(N_("This field is required."))
        try:
            local = dt.datetime.fromisoformat(raw.strip()).replace(tzinfo=None)
        except ValueError:
            raise Invalid(N_("Enter a date and time like 2026-04-01 09:00.")) from None
        moment = local.replace(tzinfo=ZoneInfo(info.data.get("zone") or Zone.GHENT)).astimezone(dt.UTC)
        starts = info.data.get("starts_at")
        if starts and info.field_name == "ends_at" and moment <= starts:
            raise Invalid(N_("The end must come after the start."))
        if starts and info.field_name == "rsvp_deadline" and moment > starts:
            raise Invalid(N_("The deadline for answers must come before the start."))
        return moment


def parse_event(form: FormData, interest_slugs: list[str]) -> Parsed[EventInput]:
    errors = Errors()
    texts = {language: forms.parse(TextInput, form, suffix=f"_{language}") for language in LANGUAGES}
    fields = forms.parse(EventForm, form)
    for text in texts.values():
        errors.update(text.errors)
    errors.update(fields.errors)
    chosen = parse_audience(form, interest_slugs, errors)
    titled = [language for language, text in texts.items() if text.value and text.value.title]
    if not titled:
        errors.setdefault("title_en", (N_("Write a title in at least one language."), {}))
    data = fields.value
    if errors or data is None or chosen is None or data.starts_at is None or data.ends_at is None:
        return Parsed(None, errors, form_values(form))
    return Parsed(
        EventInput(
            titles={language: text.value.title for language, text in texts.items() if text.value},
            descriptions={language: text.value.description for language, text in texts.items() if text.value},
            fallback=data.fallback if data.fallback in titled else titled[0],
            zone=data.zone,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            rsvp_deadline=data.rsvp_deadline,
            venue=data.venue,
            address=data.address,
            capacity=data.capacity,
            max_guests=data.max_guests or 0,
            question=data.question,
            public=data.public,
            audience=chosen,
            reminder_days=2 if data.reminder_days is None else data.reminder_days,
        ),
        errors,
        form_values(form),
    )


class AnswerForm(BaseModel):
    answer: str
    guests: int
    note: Annotated[str, rule(forms.text, max_length=1000, required=False, multiline=True)]

    @field_validator("guests", mode="before")
    @classmethod
    def _guests(cls, raw: str, info: ValidationInfo) -> int:
        """Guests over the event's limit are an error, never silently cut; a no brings none."""
        if info.data.get("answer") != "yes":
            return 0
        return forms.integer(raw or "0", minimum=0, maximum=(info.context or {})["max_guests"]) or 0


def parse_answer(form: FormData, event: Event) -> tuple[bool, int, str, Errors]:
    """coming, guests, note."""
    parsed = forms.parse(AnswerForm, form, context={"max_guests": event.max_guests})
    if parsed.value is None:
        return forms.field(form, "answer") == "yes", 0, "", parsed.errors
    return parsed.value.answer == "yes", parsed.value.guests, parsed.value.note, parsed.errors
