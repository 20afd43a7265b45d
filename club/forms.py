"""Small validators for posted forms. Each returns the clean value or raises Invalid with a message id;
the page shows the translated message beside the field and keeps what the person typed."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from starlette.datastructures import FormData

from club import email_address
from club.i18n import N_

CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")


class Invalid(ValueError):
    def __init__(self, message: str, **variables: object) -> None:
        super().__init__(message)
        self.message = message
        self.variables = variables


class Errors(dict[str, tuple[str, dict[str, object]]]):
    """field -> (message id, variables); templates translate them with the macros in macros/forms.html."""

    def add(self, field: str, error: Invalid) -> None:
        self[field] = (error.message, error.variables)


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def text(value: str, *, max_length: int, required: bool = True, multiline: bool = False) -> str:
    value = unicodedata.normalize("NFC", value)
    if not multiline:
        if "\r" in value or "\n" in value:
            raise Invalid(N_("Use a single line, without line breaks."))
        value = " ".join(value.split())
    else:
        value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if CONTROL_RE.search(value):
        raise Invalid(N_("Remove the invisible control characters."))
    if required and not value:
        raise Invalid(N_("This field is required."))
    if len(value) > max_length:
        raise Invalid(N_("Use at most %(max)s characters (you typed %(count)s)."), max=max_length, count=len(value))
    return value


def name(value: str) -> str:
    cleaned = text(value, max_length=100)
    if "<" in cleaned or ">" in cleaned:
        raise Invalid(N_("A name cannot contain < or >."))
    return cleaned


def email(value: str) -> str:
    """The address in the form it is stored, by the one rule the outbox uses too (club/email_address.py)."""
    if not value.strip():
        raise Invalid(N_("This field is required."))
    try:
        return email_address.normalize(value)
    except email_address.InvalidEmailAddress:
        raise Invalid(N_("Enter an email address like name@example.org.")) from None


def choice(value: str, allowed: Iterable[str], *, required: bool = True) -> str:
    options = list(allowed)
    if not value and not required:
        return ""
    if value not in options:
        raise Invalid(N_("Choose one of the options."))
    return value


def choices(values: list[str], allowed: Iterable[str], *, max_count: int = 50) -> list[str]:
    options = set(allowed)
    if len(values) > max_count or any(v not in options for v in values):
        raise Invalid(N_("Choose from the options shown."))
    return sorted(set(values))


def integer(value: str, *, minimum: int, maximum: int, required: bool = True) -> int | None:
    value = value.strip()
    if not value:
        if required:
            raise Invalid(N_("This field is required."))
        return None
    if not re.fullmatch(r"-?\d{1,12}", value):
        raise Invalid(N_("Enter a whole number."))
    number = int(value)
    if number < minimum or number > maximum:
        raise Invalid(N_("Enter a number from %(min)s to %(max)s."), min=minimum, max=maximum)
    return number
