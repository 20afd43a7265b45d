"""The members' forms: each parser returns clean values or the errors to show, and what the person typed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from starlette.datastructures import FormData

from club import forms, i18n
from club.accounts.models import CITIES
from club.i18n import N_
from club.members.service import SignUp

REF_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
WELCOME_SUBJECT_MAX = 200
WELCOME_BODY_MAX = 5000


T = TypeVar("T")


@dataclass
class Parsed(Generic[T]):
    value: T | None
    errors: forms.Errors = field(default_factory=forms.Errors)
    values: dict[str, object] = field(default_factory=dict)


def _typed(form: FormData) -> dict[str, object]:
    """What the person typed, cut short, to show again beside the errors."""
    return {
        "email": forms.field(form, "email")[:300],
        "name": forms.field(form, "name")[:300],
        "city": forms.field(form, "city")[:20],
        "language": forms.field(form, "language")[:5],
        "interests": [v for v in form.getlist("interests") if isinstance(v, str)][:50],
        "newsletter": forms.field(form, "newsletter") != "",
    }


def _details(form: FormData, errors: forms.Errors, interest_slugs: list[str]) -> dict[str, object]:
    clean: dict[str, object] = {}
    checks = {
        "name": lambda: forms.name(forms.field(form, "name")),
        "city": lambda: forms.choice(forms.field(form, "city"), CITIES),
        "language": lambda: forms.choice(forms.field(form, "language"), i18n.LANGUAGES),
        "interests": lambda: forms.choices(
            [v for v in form.getlist("interests") if isinstance(v, str)], interest_slugs
        ),
    }
    for name, check in checks.items():
        try:
            clean[name] = check()
        except forms.Invalid as exc:
            errors.add(name, exc)
    clean["newsletter"] = forms.field(form, "newsletter") != ""
    return clean


def parse_signup(form: FormData, interest_slugs: list[str]) -> Parsed[SignUp]:
    errors = forms.Errors()
    values = _typed(form)
    try:
        email = forms.email(forms.field(form, "email"))
    except forms.Invalid as exc:
        errors.add("email", exc)
        email = ""
    clean = _details(form, errors, interest_slugs)
    ref = forms.field(form, "ref")
    values["ref"] = ref if REF_RE.match(ref) else ""
    if errors:
        return Parsed(None, errors, values)
    signup = SignUp(
        email=email,
        name=str(clean["name"]),
        city=str(clean["city"]),
        language=str(clean["language"]),
        interests=list(clean["interests"]),  # type: ignore[call-overload]
        newsletter=bool(clean["newsletter"]),
        ref=ref if REF_RE.match(ref) else None,
        page_language=i18n.current_language.get(),
    )
    return Parsed(signup, errors, values)


def parse_profile(form: FormData, interest_slugs: list[str]) -> Parsed[dict[str, object]]:
    errors = forms.Errors()
    values = _typed(form)
    clean = _details(form, errors, interest_slugs)
    return Parsed(None if errors else clean, errors, values)


def parse_email(form: FormData) -> Parsed[str]:
    errors = forms.Errors()
    values: dict[str, object] = {"email": forms.field(form, "email")[:300]}
    try:
        return Parsed(forms.email(forms.field(form, "email")), errors, values)
    except forms.Invalid as exc:
        errors.add("email", exc)
        return Parsed(None, errors, values)


def parse_interest(form: FormData) -> Parsed[dict[str, str]]:
    errors = forms.Errors()
    values: dict[str, object] = {}
    clean: dict[str, str] = {}
    for language in ("nl", "en", "ja"):
        name = f"name_{language}"
        values[name] = forms.field(form, name)[:300]
        try:
            clean[name] = forms.name(forms.field(form, name))
        except forms.Invalid as exc:
            errors.add(name, exc)
    if "name_en" not in errors and not re.search(r"[A-Za-z0-9]", clean.get("name_en", "")):
        errors.add("name_en", forms.Invalid(N_("Use at least one letter or digit from A to Z.")))
    return Parsed(None if errors else clean, errors, values)


def parse_welcome(form: FormData) -> Parsed[dict[str, str]]:
    errors = forms.Errors()
    values: dict[str, object] = {"subject": forms.field(form, "subject")[:1000],
                                 "body": forms.field(form, "body")[:20000]}
    clean: dict[str, str] = {}
    try:
        clean["subject"] = forms.text(forms.field(form, "subject"), max_length=WELCOME_SUBJECT_MAX)
    except forms.Invalid as exc:
        errors.add("subject", exc)
    try:
        clean["body"] = forms.text(forms.field(form, "body"), max_length=WELCOME_BODY_MAX, multiline=True)
    except forms.Invalid as exc:
        errors.add("body", exc)
    return Parsed(None if errors else clean, errors, values)
