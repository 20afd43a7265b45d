"""Page rendering, CSRF, one-time notices, and routes that own their transaction, role guard and CSRF check and
hand each handler a typed Context. The Jinja2 environment itself lives in club.templating."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import zlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast
from urllib.parse import quote

from markupsafe import Markup
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from club import i18n, publicpages, templating
from club.accounts import sessions
from club.accounts.models import AuthSession, Person
from club.config import Settings
from club.middleware import LANGUAGE_COOKIE, BodyTooLarge
from club.requestinfo import client_ip, settings_of

# ---- CSRF ------------------------------------------------------------------------------------------------------


def csrf_cookie_name(settings: Settings) -> str:
    return "__Host-club_csrf" if settings.is_production else "club_csrf"


def _csrf_seed(request: Request) -> str:
    seed = getattr(request.state, "csrf_seed", None)
    if seed:
        return seed
    cookie = request.cookies.get(csrf_cookie_name(settings_of(request)), "")
    if 20 <= len(cookie) <= 100:
        seed = cookie
    else:
        seed = secrets.token_urlsafe(32)
        request.state.csrf_new = True
    request.state.csrf_seed = seed
    return seed


def csrf_token(request: Request) -> str:
    """The token for forms: an HMAC of the browser's CSRF cookie, so a forged form from elsewhere cannot match."""
    secret = settings_of(request).secret_key.get_secret_value().encode()
    return hmac.new(secret, _csrf_seed(request).encode(), hashlib.sha256).hexdigest()


def set_csrf_cookie(request: Request, response: Response) -> None:
    if getattr(request.state, "csrf_new", False):
        settings = settings_of(request)
        response.set_cookie(
            csrf_cookie_name(settings),
            request.state.csrf_seed,
            max_age=60 * 60 * 24 * 365,
            path="/",
            httponly=True,
            secure=settings.is_production,
            samesite="lax",
        )
        request.state.csrf_new = False


class CSRFError(HTTPException):
    def __init__(self) -> None:
        super().__init__(403, "csrf")


@dataclasses.dataclass(frozen=True, slots=True)
class FormLimits:
    """What a route's form may hold; an upload route raises max_files and max_part_size."""

    max_files: int = 0
    max_fields: int = 200
    max_part_size: int = 256 * 1024


async def read_form(request: Request, limits: FormLimits) -> FormData:
    """The posted form within the route's limits, its CSRF token checked; a missing or wrong token is a 403."""
    try:
        form = await request.form(**dataclasses.asdict(limits))
    except HTTPException as exc:
        if exc.status_code == 400 and "maximum size" in str(exc.detail):  # one field or file over its limit
            raise HTTPException(413) from exc
        raise
    except BodyTooLarge:
        raise
    except Exception as exc:  # malformed multipart and the like: the visitor's fault, not ours
        raise HTTPException(400, "bad-form") from exc
    cookie = request.cookies.get(csrf_cookie_name(settings_of(request)), "")
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not (20 <= len(cookie) <= 100):
        raise CSRFError()
    expected = csrf_token(request)
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CSRFError()
    return form


# ---- one-time notices ------------------------------------------------------------------------------------------

FLASH_COOKIE = "club_flash"
# A notice's key -> its message (marked with N_), or (singular, plural) for a counted one. Features add theirs:
# web.NOTICES.update({...}).
NOTICES: dict[str, str | tuple[str, str]] = {}


def redirect_with_notice(request: Request, url: str, key: str, count: int | None = None) -> Response:
    """Redirect after a POST, with NOTICES[key] shown once on the next page rendered (a counted notice says count):
    reloading that page does not show it again. The cookie holds only the key (and a count), so nobody can make
    the site say words of their own."""
    if key not in NOTICES:
        raise KeyError(f"no notice {key!r} in web.NOTICES")
    response, value = redirect(url), key if count is None else f"{key}:{int(count)}"
    secure = settings_of(request).is_production
    response.set_cookie(FLASH_COOKIE, value, max_age=120, path="/", httponly=True, secure=secure, samesite="lax")
    return response


def _flash_text(cookie: str | None) -> str | None:
    key, _sep, count = (cookie or "").partition(":")
    message = NOTICES.get(key)
    if message is None:
        return None
    if isinstance(message, tuple):
        if not count.isdigit():
            return None
        return i18n.ngettext(message[0], message[1], int(count), count=i18n.format_number(int(count)))
    return i18n.gettext(message)


# ---- rendering -------------------------------------------------------------------------------------------------


class Part(Markup):
    """A part of a page rendered to be kept (render_part), with its bytes deflated once: a gzipped page that holds
    it deflates only the rest (club.publicpages.gzip_stream)."""

    encoded: bytes
    deflated: bytes


def render_part(template: str, context: dict[str, Any]) -> Part:
    """A part of a page, rendered on its own in the page's language from context alone, to be kept and put into
    pages later (`{{ part }}`)."""
    part = Part(templating.templates.get_template(template).render(context))
    part.encoded = part.encode()
    part.deflated = publicpages.deflate(part.encoded, last=False)
    return part


def _gzipped_around(html: str, context: dict[str, Any], request: Request) -> bytes | None:
    """The page gzipped for a client that takes gzip, when it holds a kept part: the part's deflated bytes joined
    with the rest's, deflated now (the member list's part is most of the page). None otherwise: the gzip
    middleware packs it whole."""
    part = next((value for value in context.values() if isinstance(value, Part)), None)
    if part is None or "gzip" not in request.headers.get("accept-encoding", ""):
        return None
    at = html.find(part)
    if at < 0:
        return None
    before, after = html[:at].encode(), html[at + len(part) :].encode()
    # One packer for both sides, at the quickest level: they are a few KB, packed at every request. The full flush
    # forgets `before`, so nothing after the part points back into what the part now stands between.
    packer = zlib.compressobj(1, zlib.DEFLATED, -15)
    head = packer.compress(before) + packer.flush(zlib.Z_FULL_FLUSH)
    tail = packer.compress(after) + packer.flush()
    return publicpages.gzip_stream([before, part.encoded, after], [head, part.deflated, tail], b"")


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    settings = settings_of(request)
    person = getattr(request.state, "person", None)
    values: dict[str, Any] = {
        "request": request,
        "person": person,
        "lang": i18n.current_language.get(),
        # A public page to keep gets a placeholder, and each visitor their own token in it (club.publicpages).
        "csrf_token": publicpages.TOKEN
        if status_code == 200 and getattr(request.state, "public_page", False)
        else csrf_token(request),
        "base_url": settings.base_url,
        "is_production": settings.is_production,
        "current_path": request.url.path,
        # Where the language switcher returns to: the same page with its query (a join link's ref, wall filters).
        "current_url": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "errors": {},
        "values": {},
    }
    flash_key = request.cookies.get(FLASH_COOKIE)
    if status_code < 300:
        values["flash"] = _flash_text(flash_key)
    if context:
        values.update(context)
    console = templating.console_page.set(request.url.path == "/admin" or request.url.path.startswith("/admin/"))
    try:
        html = templating.templates.get_template(template).render(values)
    finally:
        templating.console_page.reset(console)
    gzipped = _gzipped_around(html, context, request) if context and status_code == 200 else None
    response = HTMLResponse(gzipped or html, status_code=status_code, headers=headers)
    if gzipped:
        response.headers["content-encoding"] = "gzip"
        response.headers.add_vary_header("Accept-Encoding")
    set_csrf_cookie(request, response)
    if flash_key is not None and status_code < 300 and "flash" not in (context or {}):
        response.delete_cookie(FLASH_COOKIE, path="/", httponly=True, secure=settings.is_production, samesite="lax")
    return response


_T = TypeVar("_T")


def found(value: _T | None) -> _T:
    """The row (or whatever a lookup returned), or a 404 when there is none."""
    if value is None:
        raise HTTPException(404)
    return value


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

ROLE_ALLOWED = {"member": {"member", "ambassador", "admin"}, "ambassador": {"ambassador"}, "admin": {"admin"}}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclasses.dataclass(frozen=True, slots=True)
class Context:
    """What a handler works with, typed, handed to it by route() as its second argument."""

    request: Request
    db: AsyncSession
    person: Person | None  # who is logged in, if anyone
    auth_session: AuthSession | None
    settings: Settings
    client_ip: str
    language: str  # the page's language, after the person's own setting
    form: FormData  # the posted form, CSRF token checked (empty for GET and for routes with csrf=False)
    read: Any = None  # the route's `reads`, read with the session

    def url(self, name: str, /, **params: Any) -> str:
        """The path of the route named name: built from the route table, never from the Host header."""
        return str(self.request.app.url_path_for(name, **params))

    @property
    def me(self) -> Person:
        """The person logged in, on a route with a role (route() has already sent everyone else away)."""
        if self.person is None:
            raise RuntimeError("ctx.me on a route without a role and nobody logged in: use ctx.person")
        return self.person


Endpoint = Callable[[Request, Context], Awaitable[Response]]


def remember_language(ctx: Context, response: Response, language: str) -> Response:
    """The language cookie, kept a year: pages in this language, also after logging out."""
    secure = ctx.settings.is_production
    response.set_cookie(LANGUAGE_COOKIE, language, max_age=60 * 60 * 24 * 365, path="/", samesite="lax", secure=secure)
    return response


def signed_in_as(request: Request, person: Person | None) -> None:
    """After a handler logs someone in or out: the page it renders, the audit and error pages see them."""
    request.state.person = person


# Ids in URLs are database integers ({name:int} in the path); a larger number cannot name a row (and PostgreSQL
# refuses to compare it).
MAX_ID = 2**31 - 1


def _id_out_of_range(path_params: dict[str, Any]) -> bool:
    return any(isinstance(value, int) and not 0 <= value <= MAX_ID for value in path_params.values())


def route(
    path: str,
    endpoint: Endpoint,
    *,
    methods: Sequence[str] = ("GET",),
    role: str | None = None,
    name: str | None = None,
    public: bool = False,
    csrf: bool = True,
    form: FormLimits = FormLimits(),
    reads: ColumnElement[Any] | None = None,
) -> Route:
    """A route whose request owns one database transaction (commit on success, rollback on error) and whose
    role guard runs before the handler: a visitor is sent to log in, a person without the role gets 403.
    The handler is called as endpoint(request, ctx) with a typed Context.

    Every route with a method other than GET reads its form (within `form`'s limits) and checks the CSRF token
    before the handler runs; csrf=False opts out, for RFC 8058 one-click unsubscribe, which a mail client posts.

    An id in the path larger than any row's is a 404 before the handler runs. Every admin POST that succeeds
    (status below 400) leaves an audit entry named after the route, unless the handler recorded its own
    (club.admin.audit.record) or the route only shows something (club.admin.audit.NOT_ACTIONS); handlers add
    details with audit.note().

    A public route (public=True) is a page the same for every visitor who is not logged in: club.publicpages
    keeps it until what it shows changes, and answers visitors from it without a database session.

    `reads` is a value (a scalar subquery) that the handler needs at every request: it is read in the statement
    that loads the session, before anything the handler reads, and handed over as ctx.read."""
    if role is not None and role not in ROLE_ALLOWED:
        raise ValueError(f"unknown role {role!r}")
    if reads is not None and role is None:
        raise ValueError("reads come with the session: only a guarded route has one")
    if role is not None and public:
        raise ValueError("a guarded route is not public")
    route_name = name or endpoint.__name__
    feature = endpoint.__module__.split(".")[1] if endpoint.__module__.startswith("club.") else ""
    audited = role == "admin" and any(method.upper() == "POST" for method in methods)
    checks_csrf = csrf and any(method.upper() not in SAFE_METHODS for method in methods)

    async def context(
        request: Request, db: AsyncSession, loaded: tuple[AuthSession, Person, tuple[Any, ...]] | None
    ) -> Context:
        checked = FormData()
        if checks_csrf and request.method not in SAFE_METHODS:
            checked = await read_form(request, form)
        auth_session, person = loaded[:2] if loaded else (None, None)
        return Context(
            request=request,
            db=db,
            person=person,
            auth_session=auth_session,
            settings=request.app.state.settings,
            client_ip=client_ip(request),
            language=i18n.current_language.get(),
            form=checked,
            read=loaded[2][-1] if loaded and reads is not None else None,
        )

    async def handler(request: Request) -> Response:
        if _id_out_of_range(request.path_params):
            raise HTTPException(404)
        if not public:
            return await run(request)
        return cast(Response, await request.app.state.public_pages.respond(request, lambda: run(request)))

    async def run(request: Request) -> Response:
        async with request.app.state.sessionmaker() as db:
            try:
                # The two-factor rule of the admin console and the route's `reads` come with the session.
                two_factor = role == "admin" and not request.url.path.startswith("/admin/security")
                if two_factor:
                    from club.admin import account
                also: list[ColumnElement[Any]] = [account.TOTP_RULE] if two_factor else []  # loaded[2][0]
                if reads is not None:
                    also.append(reads)  # loaded[2][-1]
                loaded = await sessions.load(request, db, *also)
                person = loaded[1] if loaded else None
                request.state.person = person  # for render(), the error pages and the audit
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
                    if two_factor and loaded and await account.must_set_up_totp(db, person, loaded[2][0]):
                        return redirect_with_notice(request, "/admin/security", "security.totp-needed")
                response = await endpoint(request, await context(request, db, loaded))
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
    handler.checks_csrf = checks_csrf  # type: ignore[attr-defined]
    return Route(path, handler, methods=list(methods), name=route_name)
