"""The one Jinja2 environment, page rendering, CSRF, and routes that own their transaction and role guard."""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from club import i18n
from club.accounts import sessions
from club.config import ROOT, Settings
from club.middleware import BodyTooLarge

TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"
Endpoint = Callable[[Request], Awaitable[Response]]


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
def _template_ngettext(context: jinja2.runtime.Context, singular: str, plural: str, count: int, /,
                       **variables: Any) -> str:
    variables.setdefault("num", i18n.format_number(count))
    text = i18n.translations(i18n.current_language.get()).ngettext(singular, plural, count)
    if context.eval_ctx.autoescape:
        text = Markup(text)
    return text % variables


# Language names inside a sentence, in the page's language ("Engels", "英語"), and "the X version" as each
# language says it ("de Engelse versie", "英語版"): never a native name dropped into another language's sentence.
LANGUAGE_IN_SENTENCE = {"nl": i18n.N_("Dutch"), "en": i18n.N_("English"), "ja": i18n.N_("Japanese")}
VERSION_IN = {"nl": i18n.N_("the Dutch version"), "en": i18n.N_("the English version"),
              "ja": i18n.N_("the Japanese version")}


def language_in_sentence(code: str) -> str:
    return i18n.gettext(LANGUAGE_IN_SENTENCE[code]) if code in LANGUAGE_IN_SENTENCE else code


def version_in(code: str) -> str:
    return i18n.gettext(VERSION_IN[code]) if code in VERSION_IN else code


# Set while an admin page renders: its times say their zone, for admins in Ghent and Kanazawa alike.
_console_page: contextvars.ContextVar[bool] = contextvars.ContextVar("console_page", default=False)


def _datetime_filter(value: Any, format: str = "medium", tz: str | None = None) -> str:
    """The `datetime` filter: on admin pages a time without an explicit zone gets the zone it is shown in."""
    if value is not None and tz is None and format != "full" and _console_page.get():
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
    env.globals.update(
        static=static_url,
        once=once,
        language_in_sentence=language_in_sentence,
        version_in=version_in,
        LANGUAGES=i18n.LANGUAGES,
        LANGUAGE_NAMES=i18n.LANGUAGE_NAMES,
    )
    return env


templates = create_environment()


# ---- CSRF ------------------------------------------------------------------------------------------------------

def csrf_cookie_name(settings: Settings) -> str:
    return "__Host-club_csrf" if settings.is_production else "club_csrf"


def _csrf_seed(request: Request) -> str:
    seed = getattr(request.state, "csrf_seed", None)
    if seed:
        return seed
    cookie = request.cookies.get(csrf_cookie_name(request.app.state.settings), "")
    if 20 <= len(cookie) <= 100:
        seed = cookie
    else:
        seed = secrets.token_urlsafe(32)
        request.state.csrf_new = True
    request.state.csrf_seed = seed
    return seed


def csrf_token(request: Request) -> str:
    """The token for forms: an HMAC of the browser's CSRF cookie, so a forged form from elsewhere cannot match."""
    secret = request.app.state.settings.secret_key.encode()
    return hmac.new(secret, _csrf_seed(request).encode(), hashlib.sha256).hexdigest()


def _set_csrf_cookie(request: Request, response: Response) -> None:
    if getattr(request.state, "csrf_new", False):
        settings: Settings = request.app.state.settings
        response.set_cookie(csrf_cookie_name(settings), request.state.csrf_seed, max_age=60 * 60 * 24 * 365,
                            path="/", httponly=True, secure=settings.is_production, samesite="lax")


class CSRFError(HTTPException):
    def __init__(self) -> None:
        super().__init__(403, "csrf")


async def read_form(
    request: Request, *, max_files: int = 0, max_fields: int = 200, max_part_size: int = 256 * 1024
) -> FormData:
    """Parse a posted form and check its CSRF token; a missing or wrong token is a 403."""
    try:
        form = await request.form(max_files=max_files, max_fields=max_fields, max_part_size=max_part_size)
    except HTTPException as exc:
        if exc.status_code == 400 and "maximum size" in str(exc.detail):  # one field or file over its limit
            raise HTTPException(413) from exc
        raise
    except BodyTooLarge:
        raise
    except Exception as exc:  # malformed multipart and the like: the visitor's fault, not ours
        raise HTTPException(400, "bad-form") from exc
    cookie = request.cookies.get(csrf_cookie_name(request.app.state.settings), "")
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not (20 <= len(cookie) <= 100):
        raise CSRFError()
    expected = csrf_token(request)
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CSRFError()
    return form


# ---- one-time notices ------------------------------------------------------------------------------------------

FLASH_COOKIE = "club_flash"
# A notice's key -> its message (marked with N_). Features add theirs: web.NOTICES.update({...}).
NOTICES: dict[str, str] = {}


def flash(request: Request, response: Response, key: str) -> Response:
    """Show NOTICES[key] once, on the next page rendered: reloading that page does not show it again.
    The cookie holds only the key, so nobody can make the site say words of their own."""
    if key not in NOTICES:
        raise KeyError(f"no notice {key!r} in web.NOTICES")
    settings: Settings = request.app.state.settings
    response.set_cookie(FLASH_COOKIE, key, max_age=120, path="/", httponly=True, secure=settings.is_production,
                        samesite="lax")
    return response


def redirect_with_notice(request: Request, url: str, key: str) -> Response:
    """Redirect after a POST, with a notice the next page shows once."""
    return flash(request, redirect(url), key)


def _take_flash(request: Request, response: Response) -> None:
    settings: Settings = request.app.state.settings
    response.delete_cookie(FLASH_COOKIE, path="/", httponly=True, secure=settings.is_production, samesite="lax")


# ---- rendering -------------------------------------------------------------------------------------------------

def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    person = getattr(request.state, "person", None)
    values: dict[str, Any] = {
        "request": request,
        "person": person,
        "lang": i18n.current_language.get(),
        "csrf_token": csrf_token(request),
        "base_url": settings.base_url,
        "is_production": settings.is_production,
        "current_path": request.url.path,
        # Where the language switcher returns to: the same page with its query (a join link's ref, wall filters).
        "current_url": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "errors": {},
        "values": {},
    }
    flash_key = request.cookies.get(FLASH_COOKIE)
    if flash_key in NOTICES and status_code < 300:
        values["flash"] = i18n.gettext(NOTICES[flash_key])
    if context:
        values.update(context)
    console = _console_page.set(request.url.path == "/admin" or request.url.path.startswith("/admin/"))
    try:
        html = templates.get_template(template).render(values)
    finally:
        _console_page.reset(console)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    _set_csrf_cookie(request, response)
    if flash_key is not None and status_code < 300 and "flash" not in (context or {}):
        _take_flash(request, response)
    return response


_CSRF_SENTINEL = "\x00csrf-token\x00"
_page_cache: dict[tuple[str, str, str], tuple[float, str]] = {}


def render_public(request: Request, template: str, *, max_age: float = 60.0,
                  context: dict[str, Any] | None = None) -> HTMLResponse:
    """A page that is the same for every visitor who is not logged in: rendered once per language and path,
    kept for max_age seconds, with each visitor's own CSRF token put in. Logged-in people get a fresh render."""
    if getattr(request.state, "person", None) is not None:
        return render(request, template, context)
    key = (template, i18n.current_language.get(), request.url.path)
    now = time.monotonic()
    cached = _page_cache.get(key)
    if cached is None or cached[0] < now:
        # Kept for every visitor of this path, so the switcher must not carry one visitor's query to the others;
        # and no one-time notice in a page that every visitor gets.
        shared = {**(context or {}), "csrf_token": _CSRF_SENTINEL, "current_url": request.url.path, "flash": None}
        html = bytes(render(request, template, shared).body).decode()
        cached = (now + max_age, html)
        _page_cache[key] = cached
    response = HTMLResponse(cached[1].replace(_CSRF_SENTINEL, csrf_token(request)))
    _set_csrf_cookie(request, response)
    return response


def redirect(url: str, status_code: int = 303) -> RedirectResponse:
    return RedirectResponse(url, status_code=status_code)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths, so a login link cannot send someone to another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ch in target for ch in "\r\n\t") or len(target) > 500:
        return default
    return target


# ---- routes ----------------------------------------------------------------------------------------------------

ROLE_ALLOWED = {
    "member": {"member", "ambassador", "admin"},
    "ambassador": {"ambassador"},
    "admin": {"admin"},
}


# Ids in URLs are database integers; a larger number cannot name a row (and PostgreSQL refuses to compare it).
MAX_ID = 2**31 - 1


def _id_out_of_range(path_params: dict[str, Any]) -> bool:
    for key, value in path_params.items():
        if isinstance(value, int) and not 0 <= value <= MAX_ID:
            return True
        if (isinstance(value, str) and (key == "id" or key.endswith("_id")) and value.isdigit()
                and len(value) > 9 and int(value) > MAX_ID):
            return True
    return False


def route(
    path: str,
    endpoint: Endpoint,
    *,
    methods: Sequence[str] = ("GET",),
    role: str | None = None,
    name: str | None = None,
    visitors_need_db: bool = True,
) -> Route:
    """A route whose request owns one database transaction (commit on success, rollback on error) and whose
    role guard runs before the handler: a visitor is sent to log in, a person without the role gets 403.

    An id in the path larger than any row's is a 404 before the handler runs. Every admin POST that succeeds
    (status below 400) leaves an audit entry named after the route, unless the handler recorded its own
    (club.admin.audit.record) or the route only shows something (club.admin.audit.NOT_ACTIONS); handlers add
    details with audit.note().

    With visitors_need_db=False (public pages that read nothing), a request without a session cookie gets no
    database session at all: request.state.db is then missing, so a handler that does use it fails loudly."""
    if role is not None and role not in ROLE_ALLOWED:
        raise ValueError(f"unknown role {role!r}")
    if role is not None and not visitors_need_db:
        raise ValueError("a guarded route always looks up who is asking")
    route_name = name or endpoint.__name__
    feature = endpoint.__module__.split(".")[1] if endpoint.__module__.startswith("club.") else ""
    audited = role == "admin" and any(method.upper() == "POST" for method in methods)

    async def handler(request: Request) -> Response:
        if _id_out_of_range(request.path_params):
            raise HTTPException(404)
        if not visitors_need_db and sessions.cookie_name(request.app.state.settings) not in request.cookies:
            request.state.auth_session = request.state.person = None
            return await endpoint(request)
        async with request.app.state.sessionmaker() as db:
            request.state.db = db
            try:
                loaded = await sessions.load(request, db)
                request.state.auth_session, request.state.person = loaded if loaded else (None, None)
                person = request.state.person
                if person is not None and person.page_language in i18n.LANGUAGES:
                    i18n.current_language.set(person.page_language)
                if person is not None and person.time_zone:
                    i18n.current_zone.set(person.time_zone)
                if role is not None:
                    if person is None:
                        login = "/admin/login" if role == "admin" else "/login"
                        if db.in_transaction():
                            await db.commit()
                        return redirect(f"{login}?next={quote(request.url.path)}")
                    if person.role not in ROLE_ALLOWED[role]:
                        raise HTTPException(403)
                    if role == "admin" and not request.url.path.startswith("/admin/security"):
                        from club.admin import account

                        if await account.must_set_up_totp(db, person):
                            return redirect_with_notice(request, "/admin/security", "security.totp-needed")
                response = await endpoint(request)
                if audited and request.method == "POST" and response.status_code < 400:
                    from club.admin import audit

                    await audit.record_route(db, request, feature, route_name)
                if db.in_transaction():  # a page that never touched the database has nothing to commit
                    await db.commit()
            except BaseException:
                db.expunge_all()  # the error page still shows who is logged in; a rollback would expire them
                await db.rollback()
                raise
        return response

    handler.__name__ = endpoint.__name__
    handler.__doc__ = endpoint.__doc__
    handler.role = role  # type: ignore[attr-defined]
    handler.audit_action = f"{feature}.{route_name}" if audited else None  # type: ignore[attr-defined]
    return Route(path, handler, methods=list(methods), name=route_name)


def template_path(name: str) -> Path:
    return TEMPLATES_DIR / name
