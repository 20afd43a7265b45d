"""Admin console figures: member list and search latency (median, p99) under 16 concurrent clients, and the
peak RSS of an export. Starts the server the README's way on a fresh database filled with N members.

    python -m bench.admin_console --members 100000 [--database-url postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
FIRST = ["Jan", "Piet", "An", "Els", "Koen", "Sofie", "Lotte", "Wim", "Hanako", "Taro", "Yuki", "Kenji", "Aiko",
         "Sanne", "Bram", "Hiroshi", "Mei", "Emma", "Lucas", "Noor"]
LAST = ["Van den Bossche", "Peeters", "Janssens", "Maes", "De Smet", "Claes", "Yamada", "Tanaka", "Suzuki",
        "Sato", "Watanabe", "Willems", "Goossens", "Nakamura", "Kobayashi"]
JA = ["山田 花子", "田中 太郎", "鈴木 一郎", "佐藤 由紀", "渡辺 健二", "中村 愛子", "小林 宏"]
SEARCHES = ["bossche", "yamada", "jan", "an", "sofie.pe", "山田", "田中 太", "example.org", "koen", "nakamura",
            "zzzq", "100%", "o'b", "ss", "wat"]


async def fill(database_url: str, members: int) -> str:
    from club.accounts.models import AuthSession, Person
    from club.db import create_engine, create_sessionmaker, utcnow
    from club.migrate import upgrade

    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url)
    random.seed(7)
    now = utcnow()
    async with create_sessionmaker(engine)() as db:
        batch = []
        for index in range(members):
            if index % 5 == 0:
                name = random.choice(JA)
            else:
                name = f"{random.choice(FIRST)} {random.choice(LAST)}"
            batch.append({"email": f"{name.split()[0].lower()}.{index}@example.org", "name": name, "role": "member",
                          "language": random.choice("nl en ja".split()), "city": random.choice(["ghent", "kanazawa",
                                                                                                  "elsewhere"]),
                          "confirmed_at": now, "newsletter": index % 3 == 0,
                          "created_at": now - dt.timedelta(minutes=index), "updated_at": now})
            if len(batch) == 5000:
                await db.execute(insert(Person), batch)
                batch = []
        if batch:
            await db.execute(insert(Person), batch)
        admin = Person(email="bench-admin@example.org", name="Bench Admin", role="admin", confirmed_at=now)
        db.add(admin)
        await db.flush()
        raw = secrets.token_urlsafe(32)
        db.add(AuthSession(id=hashlib.sha256(raw.encode()).hexdigest(), person_id=admin.id,
                           expires_at=now + dt.timedelta(hours=2)))
        await db.commit()
    await engine.dispose()
    return raw


def start_server(database_url: str, var_dir: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUB_")}
    env.update({"CLUB_DATABASE_URL": database_url, "CLUB_VAR_DIR": str(var_dir), "CLUB_RUN_SENDER": "0"})
    process = subprocess.Popen([sys.executable, "server.py", "--port", str(port), "--quiet"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not start")


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
    print(f"{label:<28} n={len(ordered):5d}  median {statistics.median(ordered) * 1000:7.1f} ms  "
          f"p99 {p99 * 1000:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=1600)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="club-bench-"))
    database_url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
    started = time.perf_counter()
    cookie = asyncio.run(fill(database_url, args.members))
    print(f"filled {args.members:,} members in {time.perf_counter() - started:.1f} s ({database_url.split(':')[0]})")
    port = 8765
    server = start_server(database_url, workdir / "var", port)
    try:
        base = f"http://127.0.0.1:{port}"
        asyncio.run(load(base, cookie, ["/admin/members"], 4, 40))  # warm up
        lists = ["/admin/members", "/admin/members?sort=name", "/admin/members?city=kanazawa&language=ja",
                 "/admin/members?status=subscribed&sort=oldest"]
        report("member list", asyncio.run(load(base, cookie, lists, args.clients, args.requests)))
        searches = ["/admin/members?" + str(httpx.QueryParams({"q": q})) for q in SEARCHES]
        report("member search (q=...)", asyncio.run(load(base, cookie, searches, args.clients, args.requests)))
    finally:
        server.terminate()
        server.wait(timeout=10)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUB_")}
    env.update({"CLUB_DATABASE_URL": database_url, "CLUB_VAR_DIR": str(workdir / "var")})
    code = ("import asyncio,resource; from club.config import Settings; from club.admin.commands import "
            "export_members_cli; import club.app; base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
            f"asyncio.run(export_members_cli(Settings.from_env(), {str(workdir / 'out.csv')!r}, {{}}));"
            "print(base // 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)")
    started = time.perf_counter()
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True,
                            text=True).stdout.split()
    size = (workdir / "out.csv").stat().st_size / 1e6
    print(f"export of {args.members:,} members: {time.perf_counter() - started:.1f} s, {size:.0f} MB of CSV, "
          f"peak RSS {output[-1]} MB (the process with the app imported, before exporting: {output[-2]} MB)")


if __name__ == "__main__":
    main()
