"""Pure ASGI middleware: the client behind trusted proxies, security and caching headers, the 500 page, the
request body limit, and the language of the request."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable, Sequence
from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from club import i18n

log = logging.getLogger("club.errors")

LANGUAGE_COOKIE = "club_lang"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeaders:
    """Headers on every response; a response that sets its own Content-Security-Policy keeps it."""

    def __init__(self, app: ASGIApp, *, production: bool) -> None:
        self.app = app
        self.production = production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                defaults = [
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
                ]
                if self.production:
                    defaults.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
                headers.extend((k, v) for k, v in defaults if k not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class TrustedProxies:
    """The client's address from X-Forwarded-For, believed only when the peer is a proxy named in
    CLUB_TRUSTED_PROXIES: the rightmost address that is not itself a trusted proxy. Anyone else's forwarded
    headers are ignored, so a local process cannot pose as many clients to reset the per-address limits."""

    def __init__(self, app: ASGIApp, *, proxies: Sequence[str]) -> None:
        self.app = app
        self.networks = [ipaddress.ip_network(proxy, strict=False) for proxy in proxies]

    def trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] not in ("http", "websocket") or not client or not self.networks or not self.trusted(client[0]):
            await self.app(scope, receive, send)
            return
        forwarded: list[str] = []
        proto = None
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for":
                forwarded.extend(hop.strip() for hop in value.decode("latin-1").split(","))
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1").strip().lower()
        host = client[0]
        for hop in reversed([hop for hop in forwarded if hop]):
            try:
                host = str(ipaddress.ip_address(hop))
            except ValueError:
                break  # garbage from further out: the last good hop is the client
            if not self.trusted(host):
                break
        changes: dict[str, object] = {"client": (host, 0)}
        if proto in ("http", "https") and scope["type"] == "http":
            changes["scheme"] = proto
        await self.app({**scope, **changes}, receive, send)


# Paths whose pages are about the person asking, whoever that is.
PRIVATE_PREFIXES = ("/me", "/activities", "/admin", "/setup", "/logout", "/login", "/join", "/confirm", "/unsubscribe")
NO_STORE = b"no-store"
# A static file's URL carries its content's version (templating.static_url): kept a year; one without, briefly.
STATIC_VERSIONED = b"public, max-age=31536000, immutable"
STATIC_UNVERSIONED = b"public, max-age=300"


class CacheControl:
    """Nothing personal is kept by a browser or a proxy: `Cache-Control: no-store` on every page of a logged-in
    person, on the private paths, on every HTML page (each carries the visitor's form token) and on anything that
    sets a cookie; a response that chose its own caching keeps it unless it is a page of someone logged in.
    Every answer of the app says it varies with the cookie and Accept-Language (the page language).
    Static files are public: a year, immutable, when their URL carries a version; five minutes otherwise."""

    def __init__(self, app: ASGIApp, *, session_cookies: Sequence[str]) -> None:
        self.app = app
        self.session_cookies = tuple(name.encode() + b"=" for name in session_cookies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/static/"):
            versioned = b"v=" in scope.get("query_string", b"")

            async def send_static(message: Message) -> None:
                if message["type"] == "http.response.start" and message["status"] in (200, 304):
                    policy = STATIC_VERSIONED if versioned else STATIC_UNVERSIONED
                    message = {**message, "headers": [*message.get("headers", []), (b"cache-control", policy)]}
                await send(message)

            await self.app(scope, receive, send_static)
            return
        logged_in = any(
            name == b"cookie" and any(cookie in value for cookie in self.session_cookies)
            for name, value in scope.get("headers", [])
        )
        private_path = scope["path"].startswith(PRIVATE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])]
                names = {k.lower() for k, _ in headers}
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                page = content_type.startswith((b"text/html", b"application/json"))
                chosen = next((v for k, v in headers if k.lower() == b"cache-control"), None)
                if (logged_in and page) or (
                    chosen is None and (logged_in or private_path or page or b"set-cookie" in names)
                ):
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", NO_STORE))
                vary = [v for k, v in headers if k.lower() == b"vary"]
                wanted = [b"Cookie", b"Accept-Language"]
                present = {part.strip().lower() for v in vary for part in v.split(b",")}
                missing = [w for w in wanted if w.lower() not in present]
                if missing:
                    headers = [(k, v) for k, v in headers if k.lower() != b"vary"]
                    headers.append((b"vary", b", ".join([*(v for v in vary), *missing])))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ServerErrors:
    """The 500 page, rendered inside the header middleware so it carries CSP, HSTS, X-Frame-Options and the
    rest. Starlette's own handler sits outside every middleware; this one catches first and logs the error."""

    def __init__(self, app: ASGIApp, *, handler: Callable[[Scope, Receive, Send, Exception], Awaitable[None]]) -> None:
        self.app = app
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # too late for a page: the connection is cut, as without this middleware
                raise
            await self.handler(scope, receive, send, exc)


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Refuse bodies over the limit with 413, by Content-Length up front or while the body streams in."""

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], int], on_too_large: ASGIApp) -> None:
        self.app = app
        self.limit_for = limit_for
        self.on_too_large = on_too_large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_large = int(value) > limit
                except ValueError:
                    too_large = True
                if too_large:
                    await self.on_too_large(scope, receive, send)
                    return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self.on_too_large(scope, receive, send)
        except Exception as exc:
            if isinstance(exc.__cause__, BodyTooLarge) or isinstance(exc.__context__, BodyTooLarge):
                if not response_started:
                    await self.on_too_large(scope, receive, send)
                    return
            raise


class Language:
    """Picks the page language: the saved choice (cookie), then Accept-Language, then English.
    A logged-in person's own setting overrides it later, in the route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        saved = None
        accept = None
        for name, value in scope.get("headers", []):
            if name == b"cookie" and LANGUAGE_COOKIE.encode() in value:
                cookie: SimpleCookie = SimpleCookie()
                try:
                    cookie.load(value.decode("latin-1"))
                except Exception:
                    continue
                if LANGUAGE_COOKIE in cookie:
                    saved = cookie[LANGUAGE_COOKIE].value
            elif name == b"accept-language":
                accept = value.decode("latin-1")
        token = i18n.current_language.set(i18n.negotiate(saved, accept))
        try:
            await self.app(scope, receive, send)
        finally:
            i18n.current_language.reset(token)
