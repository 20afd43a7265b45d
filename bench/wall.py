"""The ambassadors' heavy pages on a seeded database: the public wall (with filters and a deep page), the feed,
the admin numbers page and its charts. Prints the median and 90th percentile per page, in one run.

    python bench/wall.py                       # a fresh SQLite file: 20,000 members, 20,000 activities
    python bench/wall.py --activities 200000 --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench

Requests go through the whole app in process (httpx's ASGI transport), one at a time: the time is the server's
work for one request, without the network. bench/http.py measures throughput over real sockets."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

# bench/http.py would shadow the standard library's http package for a script run from bench/.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

import httpx  # noqa: E402

from bench.support import admin_session  # noqa: E402
from club.app import create_app  # noqa: E402
from club.config import Settings  # noqa: E402
from club.migrate import upgrade  # noqa: E402
from club.seed import seed  # noqa: E402


async def measure(client: httpx.AsyncClient, path: str, runs: int) -> tuple[float, float]:
    await client.get(path)  # warm caches (templates, statements)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = await client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}")
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.9) - 1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--activities", type=int, default=20_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--no-seed", action="store_true", help="use the database as it is")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="club-bench-"))
    url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
    settings = Settings(database_url=url, secret_key="bench-" + "x" * 40, var_dir=workdir, run_sender=False)
    await asyncio.to_thread(upgrade, url)
    if not args.no_seed:
        started = time.perf_counter()
        await seed(settings, args.members, args.activities)
        print(
            f"seeded {args.members:,} members and {args.activities:,} activities in "
            f"{time.perf_counter() - started:.1f} s ({url.split(':')[0]})"
        )
    cookie = await admin_session(settings.database_url)

    app = create_app(settings)
    from club.ambassadors.routes import routes as ambassador_routes

    if "/ambassadors" not in {getattr(r, "path", None) for r in app.router.routes}:
        app.router.routes[:0] = ambassador_routes
    year = dt.date.today().year
    pages = [
        "/ambassadors",
        "/ambassadors?category=crafts",
        f"/ambassadors?city=kanazawa&year={year - 1}",
        "/ambassadors/feed.atom",
        f"/admin/ambassadors/numbers?year={year}",
        f"/admin/ambassadors/charts/month.svg?year={year}&metric=hours",
        f"/admin/ambassadors/charts/ambassador.svg?year={year}",
        f"/admin/ambassadors/charts/institution.svg?year={year}",
        f"/admin/ambassadors/report?year={year}",
        "/admin/ambassadors/review",
    ]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            client.cookies.set("club_session", cookie)
            wall = await client.get("/ambassadors")
            older = wall.text.split('href="/ambassadors?before=', 1)
            if len(older) == 2:
                cursor = older[1].split('"', 1)[0].replace("&amp;", "&")
                pages.insert(1, f"/ambassadors?before={cursor}")
            print(f"{'page':<60} {'median ms':>10} {'p90 ms':>8}")
            for path in pages:
                median, p90 = await measure(client, path, args.runs)
                print(f"{path:<60} {median:>10.1f} {p90:>8.1f}")


if __name__ == "__main__":
    asyncio.run(main())
