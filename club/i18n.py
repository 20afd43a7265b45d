"""Three languages: catalogs, the current locale, negotiation, and locale-aware formatting.

Catalogs live in locale/<domain>/<lang>.po: one domain per feature (core, mail, members, ...), so that features
can be translated side by side. English is the source language and needs no catalog.

    python -m club.i18n update   # extract strings from code and templates, add new ones to every .po
    python -m club.i18n check    # list strings without a Dutch or Japanese translation (tests run this too)
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import io
import sys
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "locale"
LANGUAGES = ("nl", "en", "ja")
TRANSLATED = ("nl", "ja")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"nl": "Nederlands", "en": "English", "ja": "日本語"}
TIMEZONES = {"nl": ZoneInfo("Europe/Brussels"), "en": ZoneInfo("Europe/Brussels"), "ja": ZoneInfo("Asia/Tokyo")}
CORE_FOLDERS = ("accounts", "site", "errors", "macros", "admin")

current_language: contextvars.ContextVar[str] = contextvars.ContextVar("current_language", default=DEFAULT_LANGUAGE)
# A person's own time zone (an admin in Kanazawa who reads the console in English); None: the language's zone.
current_zone: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_zone", default=None)


def page_zone() -> ZoneInfo:
    name = current_zone.get()
    if name:
        try:
            return ZoneInfo(name)
        except (ValueError, KeyError):
            pass
    return TIMEZONES[current_language.get()]


@cache
def translations(language: str) -> NullTranslations:
    if language not in TRANSLATED:
        return NullTranslations()
    merged: Translations | None = None
    for po_path in sorted(LOCALE_DIR.glob(f"*/{language}.po")):
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        buffer.seek(0)
        part = Translations(buffer)
        if merged is None:
            merged = part
        else:
            merged.merge(part)
    return merged or NullTranslations()


def gettext(message: str, **variables: object) -> str:
    text = translations(current_language.get()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: object) -> str:
    text = translations(current_language.get()).ngettext(singular, plural, n)
    variables.setdefault("num", format_number(n))  # "20,029", "20.029", not "20029"
    return text % variables


_ = gettext


def N_(message: str) -> str:
    """Marks a string for extraction; it is translated where it is shown."""
    return message


def Np_(singular: str, plural: str) -> tuple[str, str]:
    """Marks a counted message for extraction; ngettext translates it where the count is known."""
    return singular, plural


def translate_for(language: str, message: str, **variables: object) -> str:
    """Translate into a given language, whatever the request's own (for mail to another person)."""
    text = translations(language if language in LANGUAGES else DEFAULT_LANGUAGE).gettext(message)
    return text % variables if variables else text


@contextlib.contextmanager
def use_language(language: str) -> Iterator[str]:
    """Render in another language (a mail in the recipient's language); yields the language used."""
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    token = current_language.set(language)
    try:
        yield language
    finally:
        current_language.reset(token)


def negotiate(saved: str | None, accept_language: str | None) -> str:
    """The saved choice, then the browser's Accept-Language, then English."""
    if saved in LANGUAGES:
        return saved
    for tag in _accept_language_tags(accept_language or ""):
        primary = tag.split("-")[0]
        if primary in LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE


def _accept_language_tags(header: str) -> list[str]:
    weighted: list[tuple[float, int, str]] = []
    for index, item in enumerate(header[:500].split(",")):
        parts = item.strip().split(";")
        tag = parts[0].strip().lower()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in parts[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(weighted)]


def _locale() -> Locale:
    return Locale.parse(current_language.get())


def format_date(value: dt.date | dt.datetime | None, format: str = "medium") -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.astimezone(page_zone()).date()
    return babel_format_date(value, format=format, locale=_locale())


def format_datetime(value: dt.datetime | None, format: str = "medium", tz: str | None = None) -> str:
    if value is None:
        return ""
    zone = ZoneInfo(tz) if tz else page_zone()
    return babel_format_datetime(value, format=format, tzinfo=zone, locale=_locale())


def format_datetime_zone(value: dt.datetime | None, format: str = "medium") -> str:
    """A time with the zone it is shown in ("27 nov 2026 14:05 CET", "2026/11/27 22:05 JST")."""
    if value is None:
        return ""
    zone = page_zone()
    return f"{format_datetime(value, format, tz=zone.key)} {value.astimezone(zone).strftime('%Z')}"


def format_number(value: int | float | None) -> str:
    if value is None:
        return ""
    return format_decimal(value, locale=_locale())


# ---- catalog tooling -------------------------------------------------------------------------------------------


def domain_of(path: Path) -> str:
    relative = path.relative_to(ROOT)
    parts = relative.parts
    if len(parts) > 2 and parts[0] in ("club", "templates") and parts[1] not in CORE_FOLDERS:
        return parts[1]
    return "core"


def source_files() -> Iterator[Path]:
    yield from sorted((ROOT / "club").rglob("*.py"))
    yield from sorted((ROOT / "templates").rglob("*.html"))
    yield from sorted((ROOT / "templates").rglob("*.txt"))


KEYWORDS = {**DEFAULT_KEYWORDS, "Np_": (1, 2)}
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true", "trimmed": "true"}


MessageId = str | tuple[str, str]  # a plain message, or (singular, plural)


def extract(files: Iterable[Path] | None = None) -> dict[str, dict[MessageId, set[str]]]:
    """domain -> msgid -> set of 'path:line' where it is used."""
    found: dict[str, dict[MessageId, set[str]]] = {}
    for path in files if files is not None else source_files():
        method = "python" if path.suffix == ".py" else "jinja2.ext:babel_extract"
        options = {} if path.suffix == ".py" else JINJA_OPTIONS
        for lineno, message, _comments, _context in extract_from_file(
            method, str(path), keywords=KEYWORDS, options=options
        ):
            msgid: MessageId
            if isinstance(message, tuple):
                forms = [part for part in message if part]
                msgid = (forms[0], forms[1]) if len(forms) >= 2 else forms[0] if forms else ""
            else:
                msgid = message
            if not msgid:
                continue
            where = f"{path.relative_to(ROOT)}:{lineno}"
            found.setdefault(domain_of(path), {}).setdefault(msgid, set()).add(where)
    return found


def _key(msgid: object) -> str:
    """The catalog key of a message id: the singular of a plural."""
    if isinstance(msgid, tuple | list):
        return str(msgid[0])
    return str(msgid)


def _forms(string: object) -> tuple[str, ...]:
    """A catalog entry's translation(s) as a tuple: one form, or one per plural form."""
    if isinstance(string, tuple | list):
        return tuple(str(form or "") for form in string)
    return (str(string or ""),)


def load_catalog(domain: str, language: str) -> Catalog:
    path = LOCALE_DIR / domain / f"{language}.po"
    if not path.exists():
        return Catalog(locale=language, domain=domain, project="club", fuzzy=False)
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain=domain)


def missing_translations() -> list[str]:
    problems: list[str] = []
    for domain, messages in sorted(extract().items()):
        for language in TRANSLATED:
            catalog = load_catalog(domain, language)
            for msgid, places in sorted(messages.items(), key=lambda item: _key(item[0])):
                entry = catalog.get(_key(msgid))
                complete = entry is not None and not entry.fuzzy and all(_forms(entry.string))
                if isinstance(msgid, tuple) and entry is not None and not entry.pluralizable:
                    complete = False  # a plural in the code needs its plural forms in the catalog
                if not complete:
                    problems.append(f"{domain}/{language}.po: {msgid!r} ({sorted(places)[0]})")
    return problems


def conflicting_translations() -> list[str]:
    """The same English text translated differently in two features' catalogs: the merged catalog would show
    only one of them, so the site would name the same thing two ways."""
    problems: list[str] = []
    for language in TRANSLATED:
        seen: dict[str, tuple[str, str]] = {}
        for po_path in sorted(LOCALE_DIR.glob(f"*/{language}.po")):
            domain = po_path.parent.name
            for message in load_catalog(domain, language):
                key, text = _key(message.id), " | ".join(_forms(message.string))
                if not key or not text.strip(" |"):
                    continue
                if key in seen and seen[key][1] != text:
                    other_domain, other_text = seen[key]
                    problems.append(f"{language}: {key!r} is {other_text!r} in {other_domain} but {text!r} in {domain}")
                seen.setdefault(key, (domain, text))
    return problems


def update_catalogs() -> None:
    for domain, messages in sorted(extract().items()):
        for language in TRANSLATED:
            catalog = load_catalog(domain, language)
            for msgid, places in sorted(messages.items(), key=lambda item: _key(item[0])):
                locations = [(p.rsplit(":", 1)[0], int(p.rsplit(":", 1)[1])) for p in sorted(places)]
                existing = catalog.get(_key(msgid))
                if existing is not None and existing.pluralizable == isinstance(msgid, tuple):
                    existing.locations = locations
                else:
                    if existing is not None:
                        catalog.delete(_key(msgid))
                    empty = ("",) * catalog.num_plurals if isinstance(msgid, tuple) else ""
                    catalog.add(msgid, empty, locations=locations)
            wanted = {_key(msgid) for msgid in messages}
            for message in list(catalog):
                if message.id and _key(message.id) not in wanted:
                    catalog.delete(_key(message.id))
            path = LOCALE_DIR / domain / f"{language}.po"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as handle:
                write_po(handle, catalog, width=120, omit_header=False, sort_output=True)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "update":
        update_catalogs()
        print("catalogs updated under locale/")
        return 0
    problems = missing_translations() + conflicting_translations()
    for problem in problems:
        print(problem)
    print(f"{len(problems)} missing or conflicting translation(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
