"""Posted forms as pydantic models.

A field's type carries its rule (`Name`, `Email`, `Annotated[str, rule(text, max_length=200)]`, ...). The rules are
the small functions below: each returns the clean value or raises Invalid with a message id. `parse()` is the one
adapter from a model's validation to what a page shows: the translated message beside each field (the macros in
macros/forms.html translate them) and what the person typed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Generic, NamedTuple, TypeVar, get_origin

from pydantic import BaseModel, BeforeValidator, ValidationError, ValidationInfo
from starlette.datastructures import FormData

from club import email_address
from club.i18n import N_

CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")
M = TypeVar("M")
Model = TypeVar("Model", bound=BaseModel)


class Invalid(ValueError):
    def __init__(self, message: str, **variables: object) -> None:
        super().__init__(message)
        self.message = message
        self.variables = variables


class Errors(dict[str, tuple[str, dict[str, object]]]):
    """field -> (message id, variables); templates translate them with the macros in macros/forms.html."""

    def add(self, field: str, error: Invalid) -> None:
        self[field] = (error.message, error.variables)


class Parsed(NamedTuple, Generic[M]):
    """The one shape of a parsed form: the clean value (None if any field is wrong), the errors, what was typed."""

    value: M | None
    errors: Errors
    values: dict[str, Any]


class Context(str):
    """A rule option read from the validation context at parse time (`rule(choices, allowed=Context("slugs"))`)."""


def rule(check: Callable[..., object], **options: object) -> BeforeValidator:
    """A field's rule: `check(raw value, **options)`, with Context options taken from `parse(..., context=)`."""

    def run(value: object, info: ValidationInfo) -> object:
        given = info.context or {}
        return check(value, **{key: given[o] if isinstance(o, Context) else o for key, o in options.items()})

    return BeforeValidator(run)


def parse(
    model: type[Model],
    form: FormData,
    *,
    context: Mapping[str, object] | None = None,
    echo: int = 300,
    suffix: str = "",
) -> Parsed[Model]:
    """Validate `form` with `model`; every field's error, as Invalid's message id, goes to the field's name.

    A list field reads every value of its name (checkboxes, multiple selects); `suffix` reads `subject_nl` for
    `subject`, and names the errors and typed values the same way.
    """
    raw: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = (info.alias or name) + suffix  # the form's name of the field
        if get_origin(info.annotation) is list:
            raw[key] = [v for v in form.getlist(key) if isinstance(v, str)]
        else:
            raw[key] = field(form, key)
    values = {name: value[:echo] if isinstance(value, str) else value[:50] for name, value in raw.items()}
    try:
        clean = model.model_validate({key.removesuffix(suffix): value for key, value in raw.items()}, context=context)
        return Parsed(clean, Errors(), values)
    except ValidationError as exc:
        errors = Errors()
        for problem in exc.errors():
            error = problem.get("ctx", {}).get("error")
            if not isinstance(error, Invalid):  # a rule always raises Invalid; anything else is our bug
                raise
            errors.setdefault(str(problem["loc"][0]) + suffix, (error.message, error.variables))
        return Parsed(None, errors, values)


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


def required(value: str) -> str:
    """A value that must be there, kept as typed (a password)."""
    if not value:
        raise Invalid(N_("This field is required."))
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


Name = Annotated[str, rule(name)]
Email = Annotated[str, rule(email)]  # the one address type of forms, by club/email_address.py like the outbox
Checkbox = Annotated[bool, BeforeValidator(lambda value: value != "")]
Switch = Annotated[bool, BeforeValidator(lambda value: value in ("1", "on", "yes"))]
