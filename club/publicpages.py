"""Public pages: a page that is the same for every visitor who is not logged in (home, the wall, an activity, the
newsletter archive, join, login, privacy, events, the feeds) is rendered once per language, path and query, and
kept, gzipped too, until what it shows changes.

A service whose change alters what public pages show calls `changed(db)`. When that transaction commits, every
web process renders its public pages again: this one at once; on PostgreSQL the others through a NOTIFY sent in
the same transaction (delivered only on commit), which each web process LISTENs to; on SQLite (one machine) the
others through a stamp file beside the database that grows by one byte per change, looked at (one stat) on
every request. A page that changes with time says when (`until`). Logged-in people, and visitors with a one-time
notice to see, get a fresh render; error pages, redirects and pages that set cookies are never kept."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import email.utils
import hashlib
import logging
import math
import os
import time
import weakref
import zlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import Engine, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from club import i18n

log = logging.getLogger("club")

CHANNEL = "club_public_pages"
TOKEN = "\x00csrf-token\x00"  # rendered in place of the visitor's CSRF token, put in per visitor
KEPT = 300  # pages kept per process, least recently used dropped first: crafted queries cannot grow memory
_CHANGED = "club.public_pages_changed"
_generations: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()


def changed(db: AsyncSession | Session) -> None:
    """What public pages show changes in this transaction: when it commits, every process renders them again."""
    db.info[_CHANGED] = True


def until(request: Request, *moments: dt.datetime | None) -> None:
    """This page changes by itself at the earliest of these moments (an event starts, its answers close)."""
    now = time.time()
    later = [moment.timestamp() for moment in moments if moment is not None and moment.timestamp() > now]
    request.state.public_until = min([getattr(request.state, "public_until", math.inf), *later])


def last_modified(moment: dt.datetime) -> dict[str, str]:
    """The Last-Modified header of a feed, from its newest entry (If-Modified-Since gets a 304)."""
    return {"Last-Modified": email.utils.format_datetime(moment.astimezone(dt.UTC), usegmt=True)}


@event.listens_for(Session, "before_commit")
def _notify(session: Session) -> None:
    if session.info.get(_CHANGED) and session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {CHANNEL}"))


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        engine = session.get_bind().engine  # a session bound to a connection has its engine too
        _bump(engine)
        stamp = _stamp_path(engine)
        if stamp is not None:
            with open(stamp, "ab") as file:  # O_APPEND: one byte per change, its size a counter
                file.write(b".")


def _bump(engine: Engine) -> None:
    _generations[engine] = _generations.get(engine, 0) + 1


def _stamp_path(engine: Engine) -> str | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return database + "-public-pages"


def deflate(data: bytes, *, last: bool, level: int = 6) -> bytes:
    """data as raw deflate blocks that can be joined with others into one stream (gzip_stream); the last ends it."""
    packer = zlib.compressobj(level, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def gzip_stream(parts: list[bytes], packed: list[bytes], token: bytes) -> bytes:
    """One gzip stream of the parts with the token between them: their deflated blocks joined by the token's."""
    crc = 0
    for index, part in enumerate(parts):
        crc = zlib.crc32(part, zlib.crc32(token, crc) if index else crc)
    size = sum(map(len, parts)) + len(token) * (len(parts) - 1)
    trailer = crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little")
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + (deflate(token, last=False, level=1) if token else b"").join(packed) + trailer


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    """A kept page: its body split where the visitor's CSRF token goes, and the same parts deflated, each on its
    own, so a gzipped answer costs only the token's few bytes and a CRC."""

    version: tuple[Any, ...]
    until: float
    headers: list[tuple[bytes, bytes]]
    parts: list[bytes]
    packed: list[bytes]
    etag: bytes | None  # pages without a token (the feeds): a hash of the body
    gzipped: bytes | None  # and their whole gzip stream
    last_modified: float | None

    @classmethod
    def of(cls, response: Response, version: tuple[Any, ...], until: float) -> Page:
        parts = bytes(response.body).split(TOKEN.encode())
        headers = [(k, v) for k, v in response.raw_headers if k not in (b"content-length", b"set-cookie")]
        headers.append((b"vary", b"Accept-Encoding"))
        etag = None
        if len(parts) == 1:
            etag = b'"' + hashlib.blake2b(parts[0], digest_size=12).hexdigest().encode() + b'"'
            headers.append((b"etag", etag))
        modified = response.headers.get("last-modified")
        stamp = email.utils.parsedate_to_datetime(modified).timestamp() if modified else None
        packed = [deflate(part, last=index == len(parts) - 1) for index, part in enumerate(parts)]
        gzipped = gzip_stream(parts, packed, b"") if etag else None
        return cls(version, until, headers, parts, packed, etag, gzipped, stamp)

    def not_modified(self, request: Request) -> bool:
        tags = request.headers.get("if-none-match")
        if tags is not None:
            return self.etag is not None and (tags.strip() == "*" or self.etag.decode() in tags)
        since = request.headers.get("if-modified-since")
        if since is None or self.last_modified is None:
            return False
        try:
            return self.last_modified <= email.utils.parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError):
            return False

    def response(self, request: Request, token: Callable[[Request], str]) -> Response:
        if self.not_modified(request):
            kept = (b"etag", b"last-modified", b"cache-control", b"vary")
            return Response(status_code=304, headers={k.decode(): v.decode() for k, v in self.headers if k in kept})
        visitor = token(request).encode() if len(self.parts) > 1 else b""
        if "gzip" in request.headers.get("accept-encoding", ""):
            body = self.gzipped or gzip_stream(self.parts, self.packed, visitor)
            encoding = [(b"content-encoding", b"gzip")]
        else:
            body, encoding = visitor.join(self.parts), []
        response = Response(body)
        response.raw_headers = [*self.headers, *encoding, (b"content-length", str(len(body)).encode())]
        return response


class PublicPages:
    """The public pages one web process keeps, for one database."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        personal_cookies: Sequence[str],
        token: Callable[[Request], str],
        set_cookie: Callable[[Request, Response], None],
        kept: int = KEPT,
    ) -> None:
        self.engine = engine.sync_engine
        self.stamp = _stamp_path(self.engine)
        self.personal_cookies = personal_cookies
        self.token, self.set_cookie = token, set_cookie  # the visitor's CSRF token, and its cookie when new
        self.kept = kept
        self.pages: OrderedDict[tuple[str, str, str], Page] = OrderedDict()
        self.rendering: dict[tuple[str, str, str], asyncio.Future[Page | None]] = {}
        # On PostgreSQL pages are kept only while this process hears the others' changes.
        self.listening = self.engine.dialect.name != "postgresql"

    def version(self) -> tuple[Any, ...]:
        if self.stamp is None:
            return (_generations.get(self.engine, 0),)
        try:
            stat = os.stat(self.stamp)
        except FileNotFoundError:
            return (_generations.get(self.engine, 0), None)
        return (_generations.get(self.engine, 0), stat.st_ino, stat.st_size)

    def keeps(self, request: Request) -> bool:
        return (
            self.listening
            and request.method in ("GET", "HEAD")
            and not any(name in request.cookies for name in self.personal_cookies)
        )

    def key(self, request: Request) -> tuple[str, str, str]:
        raw = request.scope["query_string"].decode("latin-1")
        query = urlencode(sorted(parse_qsl(raw, keep_blank_values=True))) if raw else ""
        return (i18n.current_language.get(), request.scope["path"], query)

    def fresh(self, key: tuple[str, str, str], version: tuple[Any, ...]) -> Page | None:
        page = self.pages.get(key)
        if page is None or page.version != version or page.until <= time.time():
            return None
        self.pages.move_to_end(key)
        return page

    def answer(self, request: Request, page: Page) -> Response:
        response = page.response(request, self.token)
        self.set_cookie(request, response)
        return response

    async def respond(self, request: Request, render: Callable[[], Awaitable[Response]]) -> Response:
        """The kept page for this request, or render() it (with TOKEN for the CSRF token) and keep it."""
        if not self.keeps(request):
            return await render()
        key = self.key(request)
        version = self.version()  # before reading: a change committed meanwhile renders again
        page = self.fresh(key, version)
        if page is None and key in self.rendering:  # a crowd after a change: one renders, the others wait
            page = await asyncio.shield(self.rendering[key])
            if page is not None and page.version != version:
                page = None
        if page is None:
            rendered: asyncio.Future[Page | None] = asyncio.get_running_loop().create_future()
            self.rendering[key] = rendered
            try:
                response = await self._render(request, render, version)
                page = response if isinstance(response, Page) else None
            finally:
                rendered.set_result(page)
                if self.rendering.get(key) is rendered:
                    del self.rendering[key]
            if page is None:
                return cast(Response, response)
            self.pages[key] = page
            if len(self.pages) > self.kept:
                self.pages.popitem(last=False)
        return self.answer(request, page)

    async def _render(
        self, request: Request, render: Callable[[], Awaitable[Response]], version: tuple[Any, ...]
    ) -> Page | Response:
        """The page to keep, or the response itself when it is not to be kept (an error, a redirect)."""
        request.state.public_page = True
        try:
            response = await render()
        finally:
            request.state.public_page = False
        if response.status_code != 200 or "set-cookie" in response.headers or not hasattr(response, "body"):
            if TOKEN.encode() in getattr(response, "body", b""):
                raise RuntimeError("a public page that is not kept must not carry the token placeholder")
            return response
        return Page.of(response, version, getattr(request.state, "public_until", math.inf))


class ServeKept:
    """ASGI middleware: a visitor's request for a kept, fresh public page is answered before routing (only public
    routes keep pages, so no other path is ever found here); anything else goes on to the routes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pages = getattr(scope["app"].state, "public_pages", None) if scope["type"] == "http" else None
        if pages is not None and pages.pages:
            request = Request(scope)
            page = pages.fresh(pages.key(request), pages.version()) if pages.keeps(request) else None
            if page is not None:
                await pages.answer(request, page)(scope, receive, send)
                return
        await self.app(scope, receive, send)


@contextlib.asynccontextmanager
async def listening(pages: PublicPages) -> AsyncIterator[None]:
    """On PostgreSQL: hear every process's changes on a connection of our own, for as long as the app runs."""
    if pages.listening:
        yield
        return
    ready = asyncio.Event()
    task = asyncio.create_task(_listen(pages, ready))
    try:
        with contextlib.suppress(TimeoutError):  # unheard, pages are rendered afresh until the listener is up
            await asyncio.wait_for(ready.wait(), 10)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _listen(pages: PublicPages, ready: asyncio.Event) -> None:
    import asyncpg

    dsn = pages.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    while True:
        connection = None
        try:
            connection = await asyncpg.connect(dsn)
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _connection, lost=lost: lost.set())
            await connection.add_listener(CHANNEL, lambda *_args: _bump(pages.engine))
            _bump(pages.engine)  # whatever changed while nobody listened
            pages.listening = True
            ready.set()
            await lost.wait()
            log.warning("public pages: lost the connection that hears changes; reconnecting")
        except Exception as exc:  # refused, timed out, dropped: try again
            log.warning("public pages: cannot listen for changes (%s); pages are rendered afresh meanwhile", exc)
        finally:
            pages.listening = False
            if connection is not None and not connection.is_closed():
                with contextlib.suppress(Exception):
                    await connection.close()
        await asyncio.sleep(1.0)
