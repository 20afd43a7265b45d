"""The activity and appointment forms: each field checked, a message id per problem, the typed values kept."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from starlette.datastructures import FormData

from club import forms
from club.ambassadors.markdown import contains_html
from club.ambassadors.models import ACTIVITY_CITIES, CATEGORIES, INSTITUTIONS, STATIONS
from club.forms import Errors, Invalid
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


@dataclass
class ActivityInput:
    happened_on: dt.date
    title: str
    category: str
    city: str
    venue: str
    description: str
    people_reached: int
    quarter_hours: int
    link: str | None
    public: bool


ACTIVITY_FIELDS = (
    "happened_on",
    "title",
    "category",
    "city",
    "venue",
    "description",
    "people_reached",
    "hours",
    "link",
)


def activity(
    form: FormData, *, term_start: dt.date, term_end: dt.date, today: dt.date
) -> tuple[ActivityInput | None, Errors, dict[str, str]]:
    """Check the activity form; returns the clean input (or None), the errors, and the values to show again."""
    values = {name: forms.field(form, name)[: MAX_DESCRIPTION + 100] for name in ACTIVITY_FIELDS}
    values["public"] = "1" if forms.field(form, "public") else ""
    errors = Errors()
    clean: dict[str, object] = {}

    def check(name: str, validate) -> None:  # type: ignore[no-untyped-def]
        try:
            clean[name] = validate(forms.field(form, name))
        except Invalid as exc:
            errors.add(name, exc)

    check("happened_on", date)
    happened_on = clean.get("happened_on")
    if isinstance(happened_on, dt.date):
        if happened_on > today:
            errors.add("happened_on", Invalid(N_("The date cannot be in the future.")))
        elif happened_on < term_start:
            errors.add(
                "happened_on",
                Invalid(N_("The date cannot be before your term started (%(date)s)."), date=term_start.isoformat()),
            )
        elif happened_on > term_end:
            errors.add(
                "happened_on",
                Invalid(N_("The date cannot be after your term ended (%(date)s)."), date=term_end.isoformat()),
            )
    check("title", lambda v: forms.text(v, max_length=200))
    check("category", lambda v: forms.choice(v, CATEGORIES))
    check("city", lambda v: forms.choice(v, ACTIVITY_CITIES))
    check("venue", lambda v: forms.text(v, max_length=200, required=False))
    check("description", description)
    check("people_reached", lambda v: forms.integer(v, minimum=0, maximum=MAX_PEOPLE))
    check("hours", hours)
    check("link", link)
    if errors:
        return None, errors, values
    return (
        ActivityInput(
            happened_on=clean["happened_on"],  # type: ignore[arg-type]
            title=clean["title"],  # type: ignore[arg-type]
            category=clean["category"],  # type: ignore[arg-type]
            city=clean["city"],  # type: ignore[arg-type]
            venue=clean["venue"],  # type: ignore[arg-type]
            description=clean["description"],  # type: ignore[arg-type]
            people_reached=clean["people_reached"],  # type: ignore[arg-type]
            quarter_hours=clean["hours"],  # type: ignore[arg-type]
            link=clean["link"],  # type: ignore[arg-type]
            public=bool(values["public"]),
        ),
        errors,
        values,
    )


@dataclass
class AppointmentInput:
    email: str
    starts_on: dt.date
    ends_on: dt.date
    home_institution: str
    host_institution: str
    stationed_in: str


APPOINTMENT_FIELDS = (
    "email",
    "starts_on",
    "ends_on",
    "home_institution",
    "home_other",
    "host_institution",
    "host_other",
    "stationed_in",
)


def institution(form: FormData, name: str, errors: Errors) -> str:
    """One of the six partners by key, or another institution by its name."""
    try:
        key = forms.choice(forms.field(form, name), (*INSTITUTIONS, "other"))
    except Invalid as exc:
        errors.add(name, exc)
        return ""
    if key != "other":
        return key
    try:
        other = forms.name(forms.field(form, name.replace("_institution", "_other")))
    except Invalid as exc:
        errors.add(name.replace("_institution", "_other"), exc)
        return ""
    if other.lower() in INSTITUTIONS:
        return other.lower()
    return other


def appointment(form: FormData, *, today: dt.date) -> tuple[AppointmentInput | None, Errors, dict[str, str]]:
    values = {name: forms.field(form, name)[:300] for name in APPOINTMENT_FIELDS}
    errors = Errors()
    email = starts_on = ends_on = None
    try:
        email = forms.email(values["email"])
    except Invalid as exc:
        errors.add("email", exc)
    try:
        starts_on = date(values["starts_on"])
    except Invalid as exc:
        errors.add("starts_on", exc)
    try:
        ends_on = date(values["ends_on"])
    except Invalid as exc:
        errors.add("ends_on", exc)
    if starts_on and ends_on:
        if ends_on < starts_on:
            errors.add("ends_on", Invalid(N_("The end date must come after the start date.")))
        elif ends_on < today:
            errors.add("ends_on", Invalid(N_("The end date cannot be in the past.")))
        elif ends_on - starts_on > MAX_TERM:
            errors.add("ends_on", Invalid(N_("A term lasts at most two years.")))
    home = institution(form, "home_institution", errors)
    host = institution(form, "host_institution", errors)
    stationed_in = ""
    try:
        stationed_in = forms.choice(values["stationed_in"], STATIONS)
    except Invalid as exc:
        errors.add("stationed_in", exc)
    if errors or not (email and starts_on and ends_on):
        return None, errors, values
    return AppointmentInput(email, starts_on, ends_on, home, host, stationed_in), errors, values
