"""The members' forms, as models; `forms.parse()` returns clean values or the errors to show, and what was typed."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel
from starlette.datastructures import FormData

from club import forms, i18n
from club.accounts.models import CITIES
from club.forms import Checkbox, Context, Email, Invalid, Name, Parsed, rule
from club.i18n import N_
from club.members.service import SignUp

REF_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
WELCOME_SUBJECT_MAX = 200
WELCOME_BODY_MAX = 5000


class Profile(BaseModel):
    name: Name
    city: Annotated[str, rule(forms.choice, allowed=CITIES)]
    language: Annotated[str, rule(forms.choice, allowed=i18n.LANGUAGES)]
    interests: Annotated[list[str], rule(forms.choices, allowed=Context("interests"))]
    newsletter: Checkbox


class Join(Profile):
    email: Email
    ref: Annotated[str | None, rule(lambda ref: ref if REF_RE.match(ref) else None)]


class Address(BaseModel):
    email: Email


def _has_latin(name: str) -> str:
    if not re.search(r"[A-Za-z0-9]", name):
        raise Invalid(N_("Use at least one letter or digit from A to Z."))
    return name


class Interest(BaseModel):
    name_nl: Name
    name_en: Annotated[Name, AfterValidator(_has_latin)]
    name_ja: Name


class Welcome(BaseModel):
    subject: Annotated[str, rule(forms.text, max_length=WELCOME_SUBJECT_MAX)]
    body: Annotated[str, rule(forms.text, max_length=WELCOME_BODY_MAX, multiline=True)]


def parse_signup(form: FormData, interest_slugs: list[str]) -> Parsed[SignUp]:
    parsed = forms.parse(Join, form, context={"interests": interest_slugs})
    joined, ref = parsed.value, forms.field(form, "ref")
    parsed.values["ref"] = ref if REF_RE.match(ref) else ""
    if joined is None:
        return Parsed(None, parsed.errors, parsed.values)
    signup = SignUp(**joined.model_dump(), page_language=i18n.current_language.get())
    return Parsed(signup, parsed.errors, parsed.values)


def parse_profile(form: FormData, interest_slugs: list[str]) -> Parsed[dict[str, object]]:
    return _as_dict(forms.parse(Profile, form, context={"interests": interest_slugs}))


def parse_email(form: FormData) -> Parsed[str]:
    parsed = forms.parse(Address, form)
    return Parsed(parsed.value.email if parsed.value else None, parsed.errors, parsed.values)


def parse_interest(form: FormData) -> Parsed[dict[str, str]]:
    return _as_dict(forms.parse(Interest, form))  # type: ignore[return-value]


def parse_welcome(form: FormData) -> Parsed[dict[str, str]]:
    return _as_dict(forms.parse(Welcome, form, echo=20000))  # type: ignore[return-value]


def _as_dict(parsed: Parsed[BaseModel]) -> Parsed[dict[str, object]]:
    return Parsed(parsed.value.model_dump() if parsed.value else None, parsed.errors, parsed.values)
