"""The newsletter's forms: compose (variants, fallback, audience), schedule and test send."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData

from club import forms
from club.accounts.models import CITIES
from club.db import utcnow
from club.forms import Errors, Invalid
from club.i18n import LANGUAGES, N_
from club.newsletters.audience import Audience
from club.newsletters.render import UNSAFE_MARKUP, unsafe_markup

SUBJECT_MAX = 200
PREHEADER_MAX = 200
BODY_MAX = 100_000
TEST_ADDRESSES_MAX = 5
SCHEDULE_ZONES = ("Europe/Brussels", "Asia/Tokyo")


@dataclass
class VariantInput:
    language: str
    subject: str
    preheader: str
    body: str


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


def _date(value: str) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid(N_("Enter a date like 2026-04-01.")) from None


def parse_draft(form: FormData, interest_slugs: list[str]) -> tuple[Draft, Errors]:
    errors = Errors()
    draft = Draft()
    for language in LANGUAGES:
        raw_subject = forms.field(form, f"subject_{language}")
        raw_preheader = forms.field(form, f"preheader_{language}")
        raw_body = forms.field(form, f"body_{language}")
        if not (raw_subject.strip() or raw_body.strip()):
            continue
        values: dict[str, str] = {}
        for name, raw, limit, multiline in (
            ("subject", raw_subject, SUBJECT_MAX, False),
            ("preheader", raw_preheader, PREHEADER_MAX, False),
            ("body", raw_body, BODY_MAX, True),
        ):
            try:
                values[name] = forms.text(raw, max_length=limit, required=name != "preheader", multiline=multiline)
            except Invalid as error:
                errors.add(f"{name}_{language}", error)
        if "body" in values and unsafe_markup(values["body"]):
            errors.add(f"body_{language}", Invalid(UNSAFE_MARKUP))
        if not any(key.endswith("_" + language) for key in errors):
            draft.variants[language] = VariantInput(language, values["subject"], values.get("preheader", ""),
                                                    values["body"])
    try:
        draft.fallback_language = forms.choice(forms.field(form, "fallback_language") or "en", LANGUAGES)
    except Invalid as error:
        errors.add("fallback_language", error)
    present = [lang for lang in LANGUAGES if forms.field(form, f"subject_{lang}").strip()
               or forms.field(form, f"body_{lang}").strip()]
    if not present:
        errors.add(f"subject_{draft.fallback_language}",
                   Invalid(N_("Write a subject and a text in at least one language.")))
    elif draft.fallback_language not in present:
        if len(present) == 1:
            # Written in one language only: that one is the fallback, whatever the select still says.
            draft.fallback_language = present[0]
        else:
            errors.add("fallback_language", Invalid(N_("Choose a language that has a subject and a text.")))
    draft.private = forms.field(form, "private") in ("1", "on", "yes")
    try:
        cities = forms.choices([v for v in form.getlist("cities") if isinstance(v, str)], CITIES)
        languages = forms.choices([v for v in form.getlist("languages") if isinstance(v, str)], LANGUAGES)
        interests = forms.choices([v for v in form.getlist("interests") if isinstance(v, str)], interest_slugs)
    except Invalid as error:
        errors.add("audience", error)
        cities, languages, interests = [], [], []
    joined_from = joined_until = None
    for name in ("joined_from", "joined_until"):
        try:
            value = _date(forms.field(form, name))
        except Invalid as error:
            errors.add(name, error)
            continue
        if name == "joined_from":
            joined_from = value
        else:
            joined_until = value
    if joined_from and joined_until and joined_until < joined_from:
        errors.add("joined_until", Invalid(N_("The end date comes before the start date.")))
    draft.audience = Audience(
        cities=tuple(cities),
        languages=tuple(languages),
        interests=tuple(interests),
        ambassadors_only=forms.field(form, "ambassadors_only") in ("1", "on", "yes"),
        joined_from=joined_from,
        joined_until=joined_until,
    )
    return draft, errors


def parse_schedule(form: FormData, *, now: dt.datetime | None = None) -> tuple[dt.datetime | None, Errors]:
    """A local date and time in Ghent's or Kanazawa's zone, which must lie in the future."""
    errors = Errors()
    zone_name = forms.field(form, "timezone") or SCHEDULE_ZONES[0]
    if zone_name not in SCHEDULE_ZONES:
        errors.add("timezone", Invalid(N_("Choose one of the options.")))
        return None, errors
    raw = forms.field(form, "scheduled_at").strip()
    if not raw:
        errors.add("scheduled_at", Invalid(N_("This field is required.")))
        return None, errors
    try:
        local = dt.datetime.fromisoformat(raw)
    except ValueError:
        errors.add("scheduled_at", Invalid(N_("Enter a date and time like 2026-04-01 09:00.")))
        return None, errors
    if local.tzinfo is not None:
        local = local.replace(tzinfo=None)
    moment = local.replace(tzinfo=ZoneInfo(zone_name)).astimezone(dt.UTC)
    if moment <= (now or utcnow()) + dt.timedelta(minutes=1):
        errors.add("scheduled_at", Invalid(N_("Choose a moment in the future.")))
        return None, errors
    return moment, errors


def parse_test_addresses(form: FormData) -> tuple[list[str], Errors]:
    errors = Errors()
    raw = forms.field(form, "addresses").replace("\r", "\n").replace(";", ",").replace("\n", ",")
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if len(items) > TEST_ADDRESSES_MAX:
        errors.add("addresses", Invalid(N_("Enter at most %(max)s addresses."), max=TEST_ADDRESSES_MAX))
        return [], errors
    addresses: list[str] = []
    for item in items:
        try:
            addresses.append(forms.email(item))
        except Invalid as error:
            errors.add("addresses", error)
            return [], errors
    return sorted(set(addresses)), errors
