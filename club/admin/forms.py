"""The admin console's forms: a member's details, an admin invitation, the first admin, a login."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel

from club import forms
from club.accounts.models import CITIES, ROLES
from club.forms import Context, Email, Name, rule
from club.i18n import LANGUAGES


class MemberEdit(BaseModel):
    name: Name
    email: Email
    city: Annotated[str, rule(forms.choice, allowed=CITIES)]
    language: Annotated[str, rule(forms.choice, allowed=LANGUAGES)]
    role: Annotated[str, rule(forms.choice, allowed=ROLES)]
    interests: Annotated[list[str], rule(forms.choices, allowed=Context("interests"))]


class AdminInvite(BaseModel):
    email: Email
    name: Name
    language: Annotated[str, rule(forms.choice, allowed=LANGUAGES)]


class NewAdmin(BaseModel):
    email: Email
    name: Name


class AdminName(BaseModel):
    name: Name


class AdminLogin(BaseModel):
    email: Email
    password: Annotated[str, rule(forms.required)]
