"""The names shown for stored keys (cities, roles, languages, statuses), marked for translation once, here.
Pages, CSV files and mail translate them where they are shown."""

from __future__ import annotations

from functools import partial

from club.i18n import LANGUAGE_NAMES, N_, gettext

CITIES = {"ghent": N_("Ghent"), "kanazawa": N_("Kanazawa"), "elsewhere": N_("Elsewhere")}
# Where an activity took place: a member's cities, or online.
ACTIVITY_CITIES = {**CITIES, "online": N_("Online")}
ROLES = {"member": N_("Member"), "ambassador": N_("Ambassador"), "admin": N_("Administrator")}
# A language's name inside a sentence, in the page's language ("Engels", "英語").
LANGUAGES = {"nl": N_("Dutch"), "en": N_("English"), "ja": N_("Japanese")}
NEWSLETTER_STATUSES = {
    "draft": N_("Draft"),
    "scheduled": N_("Scheduled"),
    "sending": N_("Sending"),
    "paused": N_("Paused"),
    "sent": N_("Sent"),
    "cancelled": N_("Cancelled"),
}
ACTIVITY_STATUSES = {
    "draft": N_("Draft"),
    "submitted": N_("Waiting for review"),
    "returned": N_("Sent back"),
    "approved": N_("Approved"),
}


def label(names: dict[str, str], key: str) -> str:
    """names[key] in the page's language; an unknown key as it is stored."""
    return gettext(names[key]) if key in names else key


# Each one: a stored key's name in the page's language.
city = partial(label, ACTIVITY_CITIES)
role = partial(label, ROLES)
language = partial(label, LANGUAGES)
newsletter_status = partial(label, NEWSLETTER_STATUSES)
activity_status = partial(label, ACTIVITY_STATUSES)


def choices(names: dict[str, str]) -> list[tuple[str, str]]:
    """(key, name in the page's language) for a <select> or a list of checkboxes."""
    return [(key, gettext(name)) for key, name in names.items()]


TEMPLATE_GLOBALS = {
    "city_label": city,
    "role_label": role,
    "newsletter_status_label": newsletter_status,
    "plain_label": str,
    "language_in_sentence": language,
    "city_choices": lambda: choices(CITIES),
    "role_choices": lambda: choices(ROLES),
    # Languages to choose from, each in its own name ("Nederlands", "日本語").
    "LANGUAGE_CHOICES": list(LANGUAGE_NAMES.items()),
}
