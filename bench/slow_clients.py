#!/usr/bin/env python3
"""Slow clients against the app served the README's way (python server.py), with nothing in front.

    .venv/bin/python bench/slow_clients.py [--connections 3000] [--header-timeout 10]

Opens N slowloris connections (a request head that gets one more header line every 2 s and never ends), then
times a normal request beside them, counts how many of the slow connections the server still holds after three
head deadlines, and when it closed the last one. Prints figures and a JSON line; not a pass/fail test
(tests/core/test_serving.py is).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import httpx  # noqa: E402

from bench.support import start_server, stop_server  # noqa: E402


async def slowloris(host: str, port: int, stop: asyncio.Event, closed: list[float], began: float) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        closed.append(-1.0)  # refused outright
        return
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: slow\r\n")
        await writer.drain()
        while not stop.is_set():
            try:
                data = await asyncio.wait_for(reader.read(1024), timeout=2)
            except TimeoutError:
                writer.write(b"X-Still-Here: 1\r\n")
                await writer.drain()
                continue
            if not data:
                closed.append(time.monotonic() - began)
                return
    except (ConnectionError, OSError):
        closed.append(time.monotonic() - began)
    finally:
        writer.close()


async def normal_requests(url: str, count: int) -> list[float]:
    timings = []
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(count):
            started = time.perf_counter()
            response = await client.get(url + "/")
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                timings[-1] = float("nan")
    return timings


async def run(url: str, connections: int, header_timeout: float) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    baseline = await normal_requests(url, 10)
    stop = asyncio.Event()
    closed: list[float] = []
    began = time.monotonic()
    tasks = []
    for _ in range(connections):
        tasks.append(asyncio.create_task(slowloris(host, port, stop, closed, began)))
        if len(tasks) % 200 == 0:
            await asyncio.sleep(0.05)
    await asyncio.sleep(1)
    beside = await normal_requests(url, 10)
    while len(closed) < connections and time.monotonic() - began < header_timeout * 3 + 5:
        await asyncio.sleep(0.5)
    still_open = connections - len(closed)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    after = await normal_requests(url, 10)
    closing = [c for c in closed if c >= 0]
    return {
        "slow_connections": connections,
        "refused_at_connect": sum(1 for c in closed if c < 0),
        "closed_by_server": len(closing),
        "still_open_after_deadline": still_open,
        "median_close_s": round(statistics.median(closing), 1) if closing else None,
        "last_close_s": round(max(closing), 1) if closing else None,
        "normal_ms_alone": round(statistics.median(baseline), 1),
        "normal_ms_beside_slow": round(statistics.median(beside), 1),
        "normal_ms_after": round(statistics.median(after), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=3000)
    parser.add_argument("--header-timeout", type=float, default=10.0)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = (
        min(hard, max(soft, args.connections * 2 + 256))
        if hard != resource.RLIM_INFINITY
        else max(soft, args.connections * 2 + 256)
    )
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))  # the server inherits it
    with tempfile.TemporaryDirectory(prefix="slow-clients-") as tmp:
        process, url = start_server(
            None, Path(tmp), env={"CLUB_RUN_SENDER": "0", "CLUB_HEADER_TIMEOUT": str(args.header_timeout)}
        )
        try:
            figures = asyncio.run(run(url, args.connections, args.header_timeout))
        finally:
            stop_server(process)
    for key, value in figures.items():
        print(f"  {key}: {value}")
    print(json.dumps({"bench": "slow_clients", **figures}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
