"""How uvicorn serves the app: options against slow clients, and an HTTP protocol with a deadline for the head.

uvicorn closes idle keep-alive connections, but has no deadline for a request's head: a client that sends one
header line every few seconds (slowloris) holds its connection for ever. GuardedHttpToolsProtocol closes a
connection whose request line and headers are not complete within CLUB_HEADER_TIMEOUT seconds, or that sends
more than MAX_HEAD_BYTES before they are. Past CLUB_MAX_CONNECTIONS open connections, the one that has waited
longest for its head makes room for the newcomer, and past as many requests in progress a request gets 503.
(uvicorn's own limit_concurrency counts idle and slow connections too: 3,000 slowloris connections would make it
answer 503 to everyone.)
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from club.config import Settings

MAX_HEAD_BYTES = 64 * 1024


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    # Set by uvicorn_options; a worker process that uvicorn spawns reads them from the environment itself.
    header_timeout: float | None = None
    max_connections: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._head_started = 0.0
        self._head_bytes = 0
        if GuardedHttpToolsProtocol.header_timeout is None or GuardedHttpToolsProtocol.max_connections is None:
            settings = Settings.from_env()
            GuardedHttpToolsProtocol.header_timeout = settings.header_timeout
            GuardedHttpToolsProtocol.max_connections = settings.max_connections

    def _start_head_clock(self) -> None:
        assert GuardedHttpToolsProtocol.header_timeout is not None
        self._head_bytes = 0
        self._head_started = self.loop.time()
        self._head_deadline = self.loop.call_later(GuardedHttpToolsProtocol.header_timeout, self._head_too_slow)

    def _stop_head_clock(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_clock()
        if len(self.connections) > (GuardedHttpToolsProtocol.max_connections or 0):
            waiting = [
                c
                for c in self.connections
                if isinstance(c, GuardedHttpToolsProtocol) and c is not self and c._head_deadline is not None
            ]
            victim = min(waiting, key=lambda c: c._head_started) if waiting else self
            victim._stop_head_clock()
            victim.transport.close()

    def data_received(self, data: bytes) -> None:
        between_requests = self.cycle is None or self.cycle.response_complete
        if self._head_deadline is None and between_requests and self.parser is not None:
            self._start_head_clock()  # the next request on a kept-alive connection begins
        if self._head_deadline is not None:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._stop_head_clock()
                self.transport.close()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._stop_head_clock()
        # uvicorn answers 503 when its limit is reached; make that limit count requests in progress only.
        busy = len(self.tasks) >= (GuardedHttpToolsProtocol.max_connections or 0)
        self.limit_concurrency = 0 if busy else None
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_clock()
        super().connection_lost(exc)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for uvicorn.run/Config: timeouts and limits against slow or too many clients."""
    GuardedHttpToolsProtocol.header_timeout = settings.header_timeout
    GuardedHttpToolsProtocol.max_connections = settings.max_connections
    return {
        "http": GuardedHttpToolsProtocol,
        "timeout_keep_alive": settings.keepalive_timeout,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        "timeout_graceful_shutdown": 30,
        # Forwarded headers are read by the app (club.middleware.TrustedProxies), from the proxies it trusts.
        "proxy_headers": False,
        "server_header": False,
    }
