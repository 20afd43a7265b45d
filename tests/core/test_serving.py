"""The app served by uvicorn with server.py's options, over real sockets: slow clients lose their connection, a
normal request is answered beside many of them, and forwarded headers from an untrusted peer change nothing."""

import asyncio
import socket
from contextlib import asynccontextmanager

import httpx
import uvicorn

from club.app import create_app
from club.members import routes as member_routes
from club.serving import GuardedHttpToolsProtocol, uvicorn_options
from tests.helpers import free_port

HEADER_TIMEOUT = 1.0


@asynccontextmanager
async def served(settings, engine, max_connections=1000):
    port = free_port()
    app = create_app(
        settings.with_(header_timeout=HEADER_TIMEOUT, keepalive_timeout=1, max_connections=max_connections),
        engine=engine,
    )
    options = uvicorn_options(app.state.settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}", port
    finally:
        server.should_exit = True
        await task
        GuardedHttpToolsProtocol.header_timeout = GuardedHttpToolsProtocol.max_connections = None


async def open_slow(port: int, count: int) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    connections = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: slow\r\nX-A: 1\r\n")  # a head that never ends
        connections.append((reader, writer))
    return connections


async def test_slow_clients_do_not_block_a_normal_request_and_are_closed(settings, engine):
    # More slow connections than the process keeps: the longest-waiting make room, nobody gets a 503.
    async with served(settings, engine, max_connections=100) as (url, port):
        slow = await open_slow(port, 200)
        idle = []
        for _ in range(20):  # connected, nothing sent
            idle.append(await asyncio.open_connection("127.0.0.1", port))
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(url + "/healthz")
        assert response.status_code == 200

        async def closed(reader: asyncio.StreamReader) -> bool:
            try:
                return await asyncio.wait_for(reader.read(1024), timeout=HEADER_TIMEOUT * 5) == b""
            except (TimeoutError, ConnectionError):
                return False

        results = await asyncio.gather(*(closed(reader) for reader, _writer in slow + idle))
        assert all(results), f"{results.count(False)} slow or idle connections still open"
        for _reader, writer in slow + idle:
            writer.close()


async def test_a_head_that_keeps_growing_is_cut(settings, engine):
    async with served(settings, engine) as (_url, port):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.settimeout(HEADER_TIMEOUT / 2)  # well before the head deadline: only the size can close it
            try:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: big\r\n")
                for _ in range(200):
                    sock.sendall(b"X-Filler: " + b"a" * 1000 + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            await asyncio.sleep(0.1)
            try:
                closed = sock.recv(1024) == b""
            except ConnectionResetError:
                closed = True
            except TimeoutError:
                closed = False
        assert closed


async def test_forwarded_for_from_an_untrusted_peer_does_not_reset_limits(settings, engine):
    async with served(settings, engine) as (url, _port), httpx.AsyncClient(base_url=url) as client:
        statuses = []
        for n in range(member_routes.IP_LIMIT + 1):
            page = await client.get("/login")
            token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            response = await client.post(
                "/login",
                data={"email": f"visitor{n}@example.org", "csrf_token": token},
                headers={"X-Forwarded-For": f"198.51.100.{n}", "X-Real-IP": f"198.51.100.{n}"},
            )
            statuses.append(response.status_code)
    assert statuses[-1] == 429 and 429 not in statuses[:-1]
