"""The certificate's words: one native text per language, each with its own order (the Japanese one names the
person first, with 殿, and ends on 「…ことを証明します。」), not one sentence with slots. The counts go through
ngettext; names of cities, institutions and categories through the catalog; dates through Babel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from babel.dates import format_date
from babel.lists import format_list

from club.ambassadors import labels
from club.ambassadors.certificate import CertificateText
from club.ambassadors.models import Appointment
from club.ambassadors.service import Totals
from club.i18n import use_language

# Dutch needs the article with the name: "als student van de Universiteit Gent", "van het KASK".
DUTCH_INSTITUTIONS = {
    "ugent": "de Universiteit Gent",
    "kanazawa-university": "de Universiteit van Kanazawa",
    "kask": "het KASK & Conservatorium",
    "kanazawa-college-of-art": "het Kanazawa College of Art",
    "hogent": "HOGENT",
    "kinjo": "de Kinjo University",
}


def figures(totals: Totals) -> list[str]:
    return [
        labels.activities_phrase(totals.activities),
        labels.hours_phrase(totals.quarter_hours),
        labels.people_phrase(totals.people_reached),
        labels.recruits_phrase(totals.recruits),
    ]


def _english(name: str, term: Appointment, totals: Totals, issued_on: dt.date) -> CertificateText:
    def day(value: dt.date) -> str:
        return format_date(value, "d MMMM y", locale="en")

    return CertificateText(
        language="en",
        club="Ghent–Kanazawa Supporters Club",
        heading="Certificate of Ambassadorship",
        lead="This is to certify that",
        name=name,
        body=(
            f"served as an ambassador of the Ghent–Kanazawa Supporters Club from {day(term.starts_on)} "
            f"to {day(term.last_day)}, based in {labels.city(term.stationed_in)} as a student of "
            f"{labels.institution(term.home_institution)} hosted by {labels.institution(term.host_institution)}."
        ),
        figures=figures(totals),
        categories_title="Areas of work",
        categories=format_list([labels.category(key) for key, *_rest in totals.by_category], locale="en"),
        closing="With our warm thanks for bringing Ghent and Kanazawa closer together.",
        issued=f"Issued in Ghent on {day(issued_on)}",
    )


def _dutch(name: str, term: Appointment, totals: Totals, issued_on: dt.date) -> CertificateText:
    def day(value: dt.date) -> str:
        return format_date(value, "d MMMM y", locale="nl_BE")

    def institution(key: str) -> str:
        return DUTCH_INSTITUTIONS.get(key, labels.institution(key))

    return CertificateText(
        language="nl",
        club="Gent–Kanazawa Supporters Club",
        heading="Getuigschrift",
        lead="De Gent–Kanazawa Supporters Club verklaart hierbij dat",
        name=name,
        body=(
            f"van {day(term.starts_on)} tot en met {day(term.last_day)} ambassadeur van de club was, "
            f"met standplaats {labels.city(term.stationed_in)}, als student van {institution(term.home_institution)} "
            f"te gast aan {institution(term.host_institution)}."
        ),
        figures=figures(totals),
        categories_title="Domeinen",
        categories=format_list([labels.category(key) for key, *_rest in totals.by_category], locale="nl"),
        closing="Met warme dank om Gent en Kanazawa dichter bij elkaar te brengen.",
        issued=f"Opgemaakt te Gent op {day(issued_on)}",
    )


def _japanese(name: str, term: Appointment, totals: Totals, issued_on: dt.date) -> CertificateText:
    def day(value: dt.date) -> str:
        return format_date(value, "y年M月d日", locale="ja")

    return CertificateText(
        language="ja",
        club="ゲント・金沢サポーターズクラブ",
        heading="アンバサダー活動証明書",
        lead="",
        name=f"{name}\u3000殿",
        # Broken into lines between phrases: the PDF would otherwise wrap in the middle of a word (金沢大|学).
        body=(
            f"あなたは、{day(term.starts_on)}から{day(term.last_day)}まで、\n"
            f"{labels.institution(term.home_institution)}の学生として{labels.institution(term.host_institution)}で"
            f"学びながら{labels.city(term.stationed_in)}を拠点に、\n"
            "ゲント・金沢サポーターズクラブのアンバサダーを務めたことを証明します。"
        ),
        figures=figures(totals),
        categories_title="活動分野",
        categories="、".join(labels.category(key) for key, *_rest in totals.by_category),
        closing="ゲントと金沢の絆を深めるためのご尽力に、心より感謝申し上げます。",
        issued=f"{day(issued_on)}発行",
    )


WRITERS: dict[str, Callable[[str, Appointment, Totals, dt.date], CertificateText]] = {
    "en": _english,
    "nl": _dutch,
    "ja": _japanese,
}


def certificate_text(
    language: str, *, name: str, term: Appointment, totals: Totals, issued_on: dt.date
) -> CertificateText:
    writer = WRITERS.get(language, _english)
    with use_language(language if language in WRITERS else "en"):
        return writer(name, term, totals, issued_on)
