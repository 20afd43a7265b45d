"""Pure ASGI middleware: security headers, the request body limit, and the language of the request."""

from __future__ import annotations

from collections.abc import Callable
from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from club import i18n

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
