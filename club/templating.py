"""The one Jinja2 environment (filters, globals, i18n) that pages and mails render with; it knows nothing of
requests beyond what a page hands it, so services that render mail import it without the web layer."""

from __future__ import annotations

import contextvars
import hashlib
from functools import cache
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup
from starlette.requests import Request

from club import i18n, labels
from club.config import ROOT

TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"


@cache
def _static_version(path: str) -> str:
    file = STATIC_DIR / path
    if not file.is_file():
        raise FileNotFoundError(f"static/{path} does not exist")
    return hashlib.sha256(file.read_bytes()).hexdigest()[:10]


def static_url(path: str) -> str:
    """A cache-busting URL for a file under static/; a typo fails at render time, not in the browser."""
    return f"/static/{quote(path)}?v={_static_version(path)}"


@jinja2.pass_context
def _template_gettext(context: jinja2.runtime.Context, message: str, /, **variables: Any) -> str:
    text = i18n.translations(i18n.current_language.get()).gettext(message)
    if context.eval_ctx.autoescape:
        text = Markup(text)
    return text % variables


@jinja2.pass_context
def _template_ngettext(
    context: jinja2.runtime.Context, singular: str, plural: str, count: int, /, **variables: Any
) -> str:
    variables.setdefault("num", i18n.format_number(count))
    text = i18n.translations(i18n.current_language.get()).ngettext(singular, plural, count)
    if context.eval_ctx.autoescape:
        text = Markup(text)
    return text % variables


# "The X version" as each language says it ("de Engelse versie", "英語版"): never a native name dropped into
# another language's sentence (language names in a sentence are labels.language).
VERSION_IN = {
    "nl": i18n.N_("the Dutch version"),
    "en": i18n.N_("the English version"),
    "ja": i18n.N_("the Japanese version"),
}


def version_in(code: str) -> str:
    return i18n.gettext(VERSION_IN[code]) if code in VERSION_IN else code


# Set while an admin page renders: its times say their zone, for admins in Ghent and Kanazawa alike.
console_page: contextvars.ContextVar[bool] = contextvars.ContextVar("console_page", default=False)


def _datetime_filter(value: Any, format: str = "medium", tz: str | None = None) -> str:
    """The `datetime` filter: on admin pages a time without an explicit zone gets the zone it is shown in."""
    if value is not None and tz is None and format != "full" and console_page.get():
        return i18n.format_datetime_zone(value, format)
    return i18n.format_datetime(value, format, tz)


def once(request: Request | None, key: str) -> bool:
    """True the first time a page asks for key: a part that several templates may include shows only once."""
    if request is None:
        return True
    seen: set[str] = getattr(request.state, "once_keys", None) or set()
    request.state.once_keys = seen
    if key in seen:
        return False
    seen.add(key)
    return True


def create_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(("html", "xml"), default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        enable_async=False,
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    # Jinja's own newstyle wrappers hand our functions the bare number and format the text a second time, so a
    # num= passed by a template ("10,000+") was ignored. These translate, then format once, with num defaulting
    # to the number written in the page's locale (thousands separators).
    env.globals.update(gettext=_template_gettext, _=_template_gettext, ngettext=_template_ngettext)
    env.filters.update(
        date=i18n.format_date,
        datetime=_datetime_filter,
        datetime_zone=i18n.format_datetime_zone,
        number=i18n.format_number,
    )
    env.globals.update(labels.TEMPLATE_GLOBALS)
    env.globals.update(
        static=static_url,
        once=once,
        version_in=version_in,
        LANGUAGES=i18n.LANGUAGES,
        LANGUAGE_NAMES=i18n.LANGUAGE_NAMES,
    )
    return env


templates = create_environment()
