"""The newsletter's forms: compose (variants, fallback, audience), schedule and test send."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ValidationInfo, field_validator
from starlette.datastructures import FormData

from club import forms
from club.accounts.models import CITIES
from club.db import utcnow
from club.forms import Context, Errors, Invalid, Parsed, Switch, rule
from club.i18n import LANGUAGES, N_
from club.newsletters.audience import Audience
from club.newsletters.render import UNSAFE_MARKUP, unsafe_markup

SUBJECT_MAX = 200
PREHEADER_MAX = 200
BODY_MAX = 100_000
TEST_ADDRESSES_MAX = 5
SCHEDULE_ZONES = ("Europe/Brussels", "Asia/Tokyo")


def _safe(body: str) -> str:
    if unsafe_markup(body):
        raise Invalid(UNSAFE_MARKUP)
    return body


class VariantInput(BaseModel):
    subject: Annotated[str, rule(forms.text, max_length=SUBJECT_MAX)]
    preheader: Annotated[str, rule(forms.text, max_length=PREHEADER_MAX, required=False)]
    body: Annotated[str, rule(forms.text, max_length=BODY_MAX, multiline=True), AfterValidator(_safe)]


def _date(value: str) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid(N_("Enter a date like 2026-04-01.")) from None


class AudienceInput(BaseModel):
    cities: Annotated[list[str], rule(forms.choices, allowed=CITIES)]
    languages: Annotated[list[str], rule(forms.choices, allowed=LANGUAGES)]
    interests: Annotated[list[str], rule(forms.choices, allowed=Context("interests"))]
    ambassadors_only: Switch
    joined_from: Annotated[dt.date | None, rule(_date)]
    joined_until: Annotated[dt.date | None, rule(_date)]

    @field_validator("joined_until")
    @classmethod
    def _after_start(cls, until: dt.date | None, info: ValidationInfo) -> dt.date | None:
        start = info.data.get("joined_from")
        if start and until and until < start:
            raise Invalid(N_("The end date comes before the start date."))
        return until


def parse_audience(form: FormData, interest_slugs: list[str], errors: Errors) -> Audience | None:
    """The audience part of a newsletter's or an event's form; its errors go into `errors`, one message for the
    three lists under the audience's heading."""
    parsed = forms.parse(AudienceInput, form, context={"interests": interest_slugs})
    for name, message in parsed.errors.items():
        errors.setdefault("audience" if name in ("cities", "languages", "interests") else name, message)
    if (chosen := parsed.value) is None:
        return None
    return Audience(
        tuple(chosen.cities),
        tuple(chosen.languages),
        tuple(chosen.interests),
        chosen.ambassadors_only,
        chosen.joined_from,
        chosen.joined_until,
    )


@dataclass
class Draft:
    variants: dict[str, VariantInput] = field(default_factory=dict)
    fallback_language: str = "en"
    private: bool = False
    audience: Audience = field(default_factory=Audience)


def form_values(form: FormData) -> dict[str, object]:
    """What the admin typed, to show the form again after an error."""
    values: dict[str, object] = {key: forms.field(form, key) for key in form.keys() if key != "csrf_token"}
    for key in ("cities", "languages", "interests"):
        values[key] = [v for v in form.getlist(key) if isinstance(v, str)]
    return values


def parse_draft(form: FormData, interest_slugs: list[str]) -> Parsed[Draft]:
    """Variants in the languages that have a subject or a text; the fallback must be one of them."""
    errors = Errors()
    draft = Draft(private=forms.field(form, "private") in ("1", "on", "yes"))
    present = [
        lang
        for lang in LANGUAGES
        if forms.field(form, f"subject_{lang}").strip() or forms.field(form, f"body_{lang}").strip()
    ]
    for language in present:
        variant = forms.parse(VariantInput, form, suffix=f"_{language}", echo=BODY_MAX + 100)
        errors.update(variant.errors)
        if variant.value is not None:
            draft.variants[language] = variant.value
    try:
        draft.fallback_language = forms.choice(forms.field(form, "fallback_language") or "en", LANGUAGES)
    except Invalid as error:
        errors.add("fallback_language", error)
    if not present:
        errors.add(
            f"subject_{draft.fallback_language}", Invalid(N_("Write a subject and a text in at least one language."))
        )
    elif draft.fallback_language not in present:
        if len(present) == 1:
            # Written in one language only: that one is the fallback, whatever the select still says.
            draft.fallback_language = present[0]
        else:
            errors.add("fallback_language", Invalid(N_("Choose a language that has a subject and a text.")))
    if (audience := parse_audience(form, interest_slugs, errors)) is not None:
        draft.audience = audience
    return Parsed(None if errors else draft, errors, form_values(form))


class ScheduleInput(BaseModel):
    timezone: Annotated[str, rule(lambda zone: forms.choice(zone or SCHEDULE_ZONES[0], SCHEDULE_ZONES))]
    scheduled_at: dt.datetime | None

    @field_validator("scheduled_at", mode="before")
    @classmethod
    def _in_the_future(cls, raw: str, info: ValidationInfo) -> dt.datetime | None:
        """A local date and time in Ghent's or Kanazawa's zone, which must lie in the future."""
        zone = info.data.get("timezone")
        if zone is None:  # the zone's error is the one to fix first
            return None
        if not raw.strip():
            raise Invalid(N_("This field is required."))
        try:
            local = dt.datetime.fromisoformat(raw.strip()).replace(tzinfo=None)
        except ValueError:
            raise Invalid(N_("Enter a date and time like 2026-04-01 09:00.")) from None
        moment = local.replace(tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)
        if moment <= ((info.context or {}).get("now") or utcnow()) + dt.timedelta(minutes=1):
            raise Invalid(N_("Choose a moment in the future."))
        return moment


def parse_schedule(form: FormData, *, now: dt.datetime | None = None) -> Parsed[dt.datetime]:
    parsed = forms.parse(ScheduleInput, form, context={"now": now})
    return Parsed(parsed.value.scheduled_at if parsed.value else None, parsed.errors, parsed.values)


def _addresses(values: list[str]) -> list[str]:
    raw = ",".join(values).replace("\r", "\n").replace(";", ",").replace("\n", ",")
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if len(items) > TEST_ADDRESSES_MAX:
        raise Invalid(N_("Enter at most %(max)s addresses."), max=TEST_ADDRESSES_MAX)
    return sorted({forms.email(item) for item in items})


class TestSendInput(BaseModel):
    addresses: Annotated[list[str], rule(_addresses)]


def parse_test_addresses(form: FormData) -> Parsed[list[str]]:
    parsed = forms.parse(TestSendInput, form)
    return Parsed(parsed.value.addresses if parsed.value else None, parsed.errors, parsed.values)
