"""The activity and appointment forms: each field checked, a message id per problem, the typed values kept."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator
from starlette.datastructures import FormData

from club import forms
from club.ambassadors.markdown import contains_html
from club.ambassadors.models import ACTIVITY_CITIES, CATEGORIES, INSTITUTIONS, STATIONS
from club.forms import Checkbox, Context, Email, Invalid, Parsed, rule
from club.i18n import N_

MAX_HOURS = 500
MAX_PEOPLE = 100_000
MAX_DESCRIPTION = 5000
MAX_TERM = dt.timedelta(days=2 * 366)
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def date(value: str, *, required: bool = True) -> dt.date | None:
    value = value.strip()
    if not value:
        if required:
            raise Invalid(N_("This field is required."))
        return None
    try:
        if not DATE_RE.fullmatch(value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid(N_("Enter a date like 2025-10-01.")) from None


def hours(value: str) -> int:
    """Hours as quarter hours: '1.5', '1,5' and '2' are fine; '1.3' is not a quarter."""
    value = value.strip().replace(",", ".")
    if not value:
        raise Invalid(N_("This field is required."))
    if not re.fullmatch(r"-?\d{1,6}(\.\d{1,4})?", value):
        raise Invalid(N_("Enter the hours as a number, such as 1.5."))
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise Invalid(N_("Enter the hours as a number, such as 1.5.")) from None
    if number < 0 or number > MAX_HOURS:
        raise Invalid(N_("Enter a number from %(min)s to %(max)s."), min=0, max=MAX_HOURS)
    quarters = number * 4
    if quarters != quarters.to_integral_value():
        raise Invalid(N_("Round the hours to a quarter of an hour (such as 1.25, 1.5 or 1.75)."))
    return int(quarters)


def link(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if len(value) > 500:
        raise Invalid(N_("Use at most %(max)s characters (you typed %(count)s)."), max=500, count=len(value))
    if forms.CONTROL_RE.search(value) or any(ch.isspace() for ch in value):
        raise Invalid(N_("Enter a web address that starts with http:// or https://."))
    try:
        parts = urlsplit(value)
    except ValueError:
        raise Invalid(N_("Enter a web address that starts with http:// or https://.")) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise Invalid(N_("Enter a web address that starts with http:// or https://."))
    return value


def description(value: str) -> str:
    cleaned = forms.text(value, max_length=MAX_DESCRIPTION, multiline=True)
    if contains_html(cleaned):
        # No angle brackets in the message itself: translated messages are shown as markup.
        raise Invalid(
            N_("Write the description in plain text or Markdown; HTML tags (such as a script tag) are not accepted.")
        )
    return cleaned


def happened_on(value: str, *, term_start: dt.date, term_end: dt.date, today: dt.date) -> dt.date | None:
    day = date(value)
    if day and day > today:
        raise Invalid(N_("The date cannot be in the future."))
    if day and day < term_start:
        raise Invalid(N_("The date cannot be before your term started (%(date)s)."), date=term_start.isoformat())
    if day and day > term_end:
        raise Invalid(N_("The date cannot be after your term ended (%(date)s)."), date=term_end.isoformat())
    return day


class ActivityInput(BaseModel):
    happened_on: Annotated[
        dt.date,
        rule(happened_on, term_start=Context("term_start"), term_end=Context("term_end"), today=Context("today")),
    ]
    title: Annotated[str, rule(forms.text, max_length=200)]
    category: Annotated[str, rule(forms.choice, allowed=CATEGORIES)]
    city: Annotated[str, rule(forms.choice, allowed=ACTIVITY_CITIES)]
    venue: Annotated[str, rule(forms.text, max_length=200, required=False)]
    description: Annotated[str, rule(description)]
    people_reached: Annotated[int, rule(forms.integer, minimum=0, maximum=MAX_PEOPLE)]
    quarter_hours: Annotated[int, rule(hours), Field(alias="hours")]
    link: Annotated[str | None, rule(link)]
    public: Checkbox


def activity(form: FormData, *, term_start: dt.date, term_end: dt.date, today: dt.date) -> Parsed[ActivityInput]:
    """Check the activity form; returns the clean input (or None), the errors, and the values to show again."""
    context = {"term_start": term_start, "term_end": term_end, "today": today}
    return forms.parse(ActivityInput, form, context=context, echo=MAX_DESCRIPTION + 100)


class AppointmentInput(BaseModel):
    email: Email
    starts_on: Annotated[dt.date, rule(date)]
    ends_on: Annotated[dt.date, rule(date)]
    home_institution: Annotated[str, rule(forms.choice, allowed=(*INSTITUTIONS, "other"))]
    home_other: str
    host_institution: Annotated[str, rule(forms.choice, allowed=(*INSTITUTIONS, "other"))]
    host_other: str
    stationed_in: Annotated[str, rule(forms.choice, allowed=STATIONS)]

    @field_validator("ends_on")
    @classmethod
    def _term(cls, ends_on: dt.date, info: ValidationInfo) -> dt.date:
        starts_on = info.data.get("starts_on")
        if starts_on is None:
            return ends_on
        if ends_on < starts_on:
            raise Invalid(N_("The end date must come after the start date."))
        if ends_on < (info.context or {})["today"]:
            raise Invalid(N_("The end date cannot be in the past."))
        if ends_on - starts_on > MAX_TERM:
            raise Invalid(N_("A term lasts at most two years."))
        return ends_on

    @field_validator("home_other", "host_other")
    @classmethod
    def _other(cls, value: str, info: ValidationInfo) -> str:
        """One of the six partners by key, or another institution by its name."""
        if info.data.get(str(info.field_name).replace("_other", "_institution")) != "other":
            return ""
        other = forms.name(value)
        return other.lower() if other.lower() in INSTITUTIONS else other

    @model_validator(mode="after")
    def _institutions(self) -> AppointmentInput:
        self.home_institution = self.home_other or self.home_institution
        self.host_institution = self.host_other or self.host_institution
        return self


class Review(BaseModel):
    """An admin sending an activity back: the comment its author reads."""

    comment: Annotated[str, rule(forms.text, max_length=2000, multiline=True)]


def appointment(form: FormData, *, today: dt.date) -> Parsed[AppointmentInput]:
    return forms.parse(AppointmentInput, form, context={"today": today})
