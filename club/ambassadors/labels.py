"""Names shown for the ambassadors' own keys (categories, institutions, metrics) and their counted phrases;
translated where they are shown. Cities and statuses are club.labels'."""

from __future__ import annotations

from functools import partial

from club.i18n import N_, format_number, gettext, ngettext
from club.labels import activity_status as status
from club.labels import city, label

__all__ = ["city", "status"]

CATEGORY_LABELS = {
    "education": N_("Student and academic exchange"),
    "culture": N_("Culture and the arts"),
    "crafts": N_("Crafts and creative cities"),
    "tourism": N_("Tourism and promotion"),
    "sport": N_("Sport"),
    "youth": N_("Youth exchange"),
    "food": N_("Food and gastronomy"),
    "sustainability": N_("Sustainability and city knowledge"),
}
INSTITUTION_LABELS = {
    "ugent": N_("Ghent University"),
    "kanazawa-university": N_("Kanazawa University"),
    "kask": N_("School of Arts Ghent"),
    "kanazawa-college-of-art": N_("Kanazawa College of Art"),
    "hogent": N_("HOGENT University of Applied Sciences and Arts"),
    "kinjo": N_("Kinjo University"),
}
METRIC_LABELS = {"activities": N_("Activities"), "hours": N_("Hours"), "people": N_("People reached")}
DIMENSION_LABELS = {
    "month": N_("Per month"),
    "category": N_("Per category"),
    "city": N_("Per city"),
    "institution": N_("Per home institution"),
    "ambassador": N_("Per ambassador"),
}


category = partial(label, CATEGORY_LABELS)
institution = partial(label, INSTITUTION_LABELS)
metric = partial(label, METRIC_LABELS)


def institution_or_other(key: str) -> str:
    return gettext(N_("Another institution")) if key == "other" else institution(key)


def hours(quarter_hours: int) -> str:
    return format_number(quarter_hours / 4)


def hours_count(quarter_hours: int) -> int:
    """The number that picks the plural form for hours: 1 for exactly one hour; 1.5 hours is plural, as 2 is."""
    return quarter_hours // 4 if quarter_hours % 4 == 0 else 2


# Counted phrases are built here, in Python, where ngettext formats the number as the language writes it (1,234);
# templates get the finished phrase.


def activities_phrase(count: int) -> str:
    return ngettext("%(count)s approved activity", "%(count)s approved activities", count, count=format_number(count))


def hours_phrase(quarter_hours: int) -> str:
    return ngettext("%(count)s hour", "%(count)s hours", hours_count(quarter_hours), count=hours(quarter_hours))


def people_phrase(count: int) -> str:
    return ngettext("%(count)s person reached", "%(count)s people reached", count, count=format_number(count))


def recruits_phrase(count: int) -> str:
    return ngettext("%(count)s new member", "%(count)s new members", count, count=format_number(count))


def waiting_phrase(count: int) -> str:
    return ngettext(
        "%(count)s activity is waiting for review.",
        "%(count)s activities are waiting for review.",
        count,
        count=format_number(count),
    )


def sentence_list(items: list[str]) -> str:
    """Items joined as the page's language writes a list (Japanese with 「、」, Dutch with "en"), as one sentence."""
    from babel.lists import format_list

    from club.i18n import current_language

    language = current_language.get()
    joined = format_list(items, style="standard", locale=language)
    return joined + ("。" if language == "ja" else ".")


TEMPLATE_HELPERS = {
    "category_label": category,
    "city_label": city,
    "institution_label": institution,
    "institution_or_other": institution_or_other,
    "status_label": status,
    "hours_label": hours,
    "hours_count": hours_count,
    "sentence_list": sentence_list,
    "activities_phrase": activities_phrase,
    "hours_phrase": hours_phrase,
    "people_phrase": people_phrase,
    "recruits_phrase": recruits_phrase,
    "waiting_phrase": waiting_phrase,
    "metric_label": metric,
    "plain_label": str,
}
