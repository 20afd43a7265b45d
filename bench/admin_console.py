"""Admin console figures: member list and search latency (median, p99) under 16 concurrent clients, and the
peak RSS of an export. Starts the server the README's way on a fresh database filled with N members. The client
is httpx in this process (on the same cores as the server); bench/http.py --scenario admin-members uses wrk.

    python -m bench.admin_console --members 100000 [--workers 2] [--database-url postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.support import ROOT, admin_session, fill_members, start_server, stop_server

SEARCHES = [
    "bossche",
    "yamada",
    "jan",
    "an",
    "sofie.pe",
    "山田",
    "田中 太",
    "example.org",
    "koen",
    "nakamura",
    "zzzq",
    "100%",
    "o'b",
    "ss",
    "wat",
]


async def fill(database_url: str, members: int) -> str:
    await fill_members(database_url, members)
    return await admin_session(database_url)


async def load(base: str, cookie: str, urls: list[str], clients: int, requests: int) -> list[float]:
    timings: list[float] = []
    queue = [urls[index % len(urls)] for index in range(requests)]

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=base, cookies={"club_session": cookie}, timeout=60) as http:
            while queue:
                url = queue.pop()
                started = time.perf_counter()
                response = await http.get(url)
                timings.append(time.perf_counter() - started)
                assert response.status_code == 200, (url, response.status_code)

    await asyncio.gather(*(worker() for _ in range(clients)))
    return timings


def report(label: str, timings: list[float]) -> None:
    ordered = sorted(timings)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"{label:<28} n={len(ordered):5d}  median {statistics.median(ordered) * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=1600)
    parser.add_argument("--workers", type=int, default=1, help="web processes (server.py --workers)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="club-bench-"))
    database_url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
    started = time.perf_counter()
    cookie = asyncio.run(fill(database_url, args.members))
    print(f"filled {args.members:,} members in {time.perf_counter() - started:.1f} s ({database_url.split(':')[0]})")
    server, base = start_server(database_url, workdir / "var", workers=args.workers, env={"CLUB_RUN_SENDER": "0"})
    try:
        asyncio.run(load(base, cookie, ["/admin/members"], 4, 40))  # warm up
        lists = [
            "/admin/members",
            "/admin/members?sort=name",
            "/admin/members?city=kanazawa&language=ja",
            "/admin/members?status=subscribed&sort=oldest",
        ]
        report("member list", asyncio.run(load(base, cookie, lists, args.clients, args.requests)))
        searches = ["/admin/members?" + str(httpx.QueryParams({"q": q})) for q in SEARCHES]
        report("member search (q=...)", asyncio.run(load(base, cookie, searches, args.clients, args.requests)))
    finally:
        stop_server(server)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUB_")}
    env.update({"CLUB_DATABASE_URL": database_url, "CLUB_VAR_DIR": str(workdir / "var")})
    code = (
        "import asyncio,resource; from club.config import Settings; from club.admin.commands import "
        "export_members_cli; import club.app; base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
        f"asyncio.run(export_members_cli(Settings.from_env(), {str(workdir / 'out.csv')!r}, {{}}));"
        "print(base // 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"
    )
    started = time.perf_counter()
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout.split()
    size = (workdir / "out.csv").stat().st_size / 1e6
    print(
        f"export of {args.members:,} members: {time.perf_counter() - started:.1f} s, {size:.0f} MB of CSV, "
        f"peak RSS {output[-1]} MB (the process with the app imported, before exporting: {output[-2]} MB)"
    )


if __name__ == "__main__":
    main()
