#!/usr/bin/env python3
"""HTTP figures of the app served the README's way (python server.py), loaded over real sockets by wrk.

    .venv/bin/python bench/http.py [--scenario NAME] [--seconds 5] [--connections 16] [--workers 1]
                                   [--members N] [--activities N] [--database-url postgresql+asyncpg://...]

Scenarios (default: all, one after the other, each on a fresh database):

  public            every page a visitor can open (home, the wall with and without filters, an activity, the
                    newsletter archive and a newsletter, join, login, privacy, events, the feeds) with N activities
                    (default 20,000) and 100 archived newsletters: each page's rate and its ratio to /healthz
                    (goal >= 0.5), p50 and p99
  admin-members     N members (default 100,000): the admin member list, a filter and several searches, each page's
                    ratio to /healthz at 16 clients (goal >= 0.05), median with one client (goal < 20 ms) and its
                    first request (nothing of it kept yet)
  wall              N activities (default 20,000); median of /ambassadors and the admin charts (goal < 100 ms)
  admin-during-send N subscribed members; /admin/members alone, then while a newsletter to all of them is sent
                    (sender in the web process, to a counting SMTP sink), and the slowdown

Every page is measured right after a short /healthz run, in the same run, and its ratio is to that run (the first
line, /healthz after /healthz, shows how much the machine moves between two runs). wrk sends
`Accept-Language: nl` and, like a browser, `Accept-Encoding: gzip`. With --database-url, each scenario runs on a
new database created on that PostgreSQL server and dropped at the end. Each scenario prints its figures and a
final JSON line. Needs wrk (Debian's `wrk` package) and only what the README's run command installs.
Figures, not pass/fail.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run by path, this folder comes first on sys.path, and this very file would then shadow the standard library's
# http package for everything imported below (urllib, asyncio's helpers): take the folder off first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from bench.support import (  # noqa: E402
    ROOT,
    admin_session,
    archived_newsletters,
    fetch,
    fill_members,
    free_port,
    fresh_database,
    start_server,
    stop_server,
    wrk,
)


def check_page(url: str, cookie: str | None) -> None:
    """wrk counts a redirect to the login page as a success: make sure the page itself answers."""
    status, _ = fetch(url, cookie)
    if status != 200:
        raise SystemExit(f"{url}: HTTP {status}")


HEALTHZ_SECONDS = 2


def load_pages(
    base: str, paths: list[str], args: argparse.Namespace, *, cookie: str | None = None, single: bool = False
) -> dict[str, dict[str, float]]:
    """Each page in turn under wrk (with the cookie, if given), each right after its own /healthz run: the ratio
    compares the two, measured a moment apart in the same run, so a neighbour's load on a shared machine moves
    both. Prints a line per page; with single, also each page's very first request (before any warm-up: nothing of
    it kept yet) and its median with one client."""
    results: dict[str, dict[str, float]] = {}
    print(
        f"wrk: {args.connections} connections, {args.seconds} s a page after {HEALTHZ_SECONDS} s of /healthz,"
        " Accept-Encoding: gzip, Accept-Language: nl"
    )
    print(
        f"{'page':<52} {'req/s':>8} {'healthz':>8} {'ratio':>6} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
        + (f" {'first ms':>8} {'1 client p50':>12}" if single else "")
    )
    wrk(base + "/healthz", 1, 4)  # warm up the server
    for path in ["/healthz", *paths]:
        started = time.perf_counter()
        check_page(base + path, cookie)
        first_ms = (time.perf_counter() - started) * 1000
        wrk(base + path, 1, 4, cookie=cookie)  # warm up: templates, statements, the page cache
        health = wrk(base + "/healthz", HEALTHZ_SECONDS, args.connections)["rps"]
        figures = wrk(base + path, args.seconds, args.connections, cookie=cookie)
        figures["healthz_rps"] = health
        figures["ratio"] = round(figures["rps"] / health, 3) if health else 0.0
        if single:
            figures["first_ms"] = round(first_ms, 1)
            figures["single_ms"] = wrk(base + path, min(args.seconds, 3), 1, cookie=cookie).get("p50_ms", 0.0)
        results[path] = figures
        print(
            f"{path:<52} {figures['rps']:8.1f} {health:8.1f} {figures['ratio']:6.2f} {figures.get('p50_ms', 0):8.1f}"
            f" {figures.get('p99_ms', 0):8.1f} {figures['errors']:6.0f}"
            + (f" {first_ms:8.1f} {figures['single_ms']:12.1f}" if single else "")
        )
    return results


def summary(results: dict[str, dict[str, float]], pages: dict[str, str]) -> dict[str, dict[str, float]]:
    """The JSON line's figures, by page name."""
    keys = ("rps", "healthz_rps", "ratio", "p50_ms", "p99_ms", "errors", "first_ms", "single_ms")
    return {name: {k: results[path][k] for k in keys if k in results[path]} for name, path in pages.items()}


ADMIN_MEMBER_PAGES = {
    "list": "/admin/members",
    "list-by-name": "/admin/members?sort=name",
    "filter-city-language": "/admin/members?city=kanazawa&language=ja",
    "search-bossche": "/admin/members?q=bossche",
    "search-yamada-ja": "/admin/members?q=%E5%B1%B1%E7%94%B0",  # 山田
    "search-an": "/admin/members?q=an",
}


def scenario_admin_members(args: argparse.Namespace, database_url: str, workdir: Path) -> dict[str, object]:
    started = time.perf_counter()
    asyncio.run(fill_members(database_url, args.members))
    cookie = asyncio.run(admin_session(database_url))
    print(f"{args.members:,} members inserted in {time.perf_counter() - started:.1f} s")
    process, base = start_server(database_url, workdir / "var", workers=args.workers, env={"CLUB_RUN_SENDER": "0"})
    try:
        results = load_pages(base, list(ADMIN_MEMBER_PAGES.values()), args, cookie=cookie, single=True)
    finally:
        stop_server(process)
    print("goal: ratio to /healthz >= 0.05 at 16 clients, median with one client < 20 ms")
    return {"members": args.members, "pages": summary(results, {"healthz": "/healthz", **ADMIN_MEMBER_PAGES})}


def seed_wall(args: argparse.Namespace, database_url: str, workdir: Path) -> None:
    """Members, ambassadors, activities and a few events (club.seed), as `python server.py seed` makes them."""
    from club.config import Settings
    from club.migrate import upgrade
    from club.seed import seed

    settings = Settings(
        database_url=database_url, secret_key="bench-" + "x" * 40, var_dir=workdir / "var", run_sender=False
    )
    upgrade(database_url)
    started = time.perf_counter()
    asyncio.run(seed(settings, args.wall_members, args.activities))
    print(
        f"seeded {args.wall_members:,} members and {args.activities:,} activities in "
        f"{time.perf_counter() - started:.1f} s"
    )


def scenario_wall(args: argparse.Namespace, database_url: str, workdir: Path) -> dict[str, object]:
    seed_wall(args, database_url, workdir)
    cookie = asyncio.run(admin_session(database_url))
    year = dt.date.today().year
    pages = {
        "wall": "/ambassadors",
        "admin-numbers": f"/admin/ambassadors/numbers?year={year}",
        "chart-month": f"/admin/ambassadors/charts/month.svg?year={year}&metric=hours",
    }
    process, base = start_server(database_url, workdir / "var", workers=args.workers, env={"CLUB_RUN_SENDER": "0"})
    try:
        results = load_pages(base, list(pages.values()), args, cookie=cookie)
    finally:
        stop_server(process)
    print("goal: median < 100 ms")
    return {"activities": args.activities, "pages": summary(results, pages)}


async def public_ids(database_url: str) -> dict[str, object]:
    """What the public pages' URLs need: a wall activity, an ambassador's ref, an archived newsletter, a public
    event, and a year with activities."""
    from sqlalchemy import func, select

    from club.ambassadors.models import Activity, Ambassador
    from club.db import create_engine
    from club.events.models import Event
    from club.newsletters.models import Newsletter

    public = (Activity.status == "approved", Activity.public.is_(True))
    engine = create_engine(database_url)
    async with engine.connect() as db:
        ids = {
            "activity": (await db.execute(select(func.max(Activity.id)).where(*public))).scalar_one(),
            "year": (await db.execute(select(func.max(Activity.happened_on)).where(*public))).scalar_one().year,
            "ref": (await db.execute(select(func.min(Ambassador.ref)))).scalar_one(),
            "newsletter": (await db.execute(select(func.max(Newsletter.id)))).scalar_one(),
            "event": (await db.execute(select(func.max(Event.id)).where(Event.public.is_(True)))).scalar_one(),
        }
    await engine.dispose()
    return ids


def scenario_public(args: argparse.Namespace, database_url: str, workdir: Path) -> dict[str, object]:
    seed_wall(args, database_url, workdir)
    asyncio.run(archived_newsletters(database_url, args.newsletters))
    print(f"and {args.newsletters} archived newsletters in Dutch, English and Japanese")
    ids = asyncio.run(public_ids(database_url))
    pages = {
        "home": "/",
        "wall": "/ambassadors",
        "wall-category": "/ambassadors?category=culture",
        "wall-city-year": f"/ambassadors?city=kanazawa&year={ids['year']}",
        "wall-activity": f"/ambassadors/activities/{ids['activity']}",
        "wall-feed": "/ambassadors/feed.atom",
        "archive": "/newsletters",
        "archived-newsletter": f"/newsletters/{ids['newsletter']}",
        "newsletter-feed-nl": "/newsletters/feed/nl.atom",
        "newsletter-feed-ja": "/newsletters/feed/ja.atom",
        "join": "/join",
        "join-ref": f"/join?ref={ids['ref']}",
        "login": "/login",
        "privacy": "/privacy",
        "events": "/events",
        "event": f"/events/{ids['event']}",
        "event-ics": f"/events/{ids['event']}/event.ics",
        "events-ics": "/events/feed.ics",
        "events-atom": "/events/feed.xml",
    }
    process, base = start_server(database_url, workdir / "var", workers=args.workers, env={"CLUB_RUN_SENDER": "0"})
    try:
        results = load_pages(base, list(pages.values()), args)
    finally:
        stop_server(process)
    slow = [name for name, path in pages.items() if results[path]["ratio"] < 0.5]
    print(f"goal: every page >= 0.5 x /healthz; below it: {', '.join(slow) or 'none'}")
    return {
        "activities": args.activities,
        "newsletters": args.newsletters,
        "pages": summary(results, {"healthz": "/healthz", **pages}),
        "below_goal": slow,
    }


def scenario_admin_during_send(args: argparse.Namespace, database_url: str, workdir: Path) -> dict[str, object]:
    from bench.newsletter_send import seed as seed_newsletter
    from bench.smtp_sink import read_count
    from club.db import create_engine, create_sessionmaker
    from club.migrate import upgrade

    async def prepare() -> tuple[int, str]:
        await asyncio.to_thread(upgrade, database_url)
        engine = create_engine(database_url)
        try:
            return await seed_newsletter(create_sessionmaker(engine), args.members)
        finally:
            await engine.dispose()

    started = time.perf_counter()
    newsletter_id, cookie = asyncio.run(prepare())
    print(f"{args.members:,} subscribed members and a newsletter in {time.perf_counter() - started:.1f} s")
    sink_port = free_port()
    sink = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "smtp_sink.py"), "--port", str(sink_port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert sink.stdout is not None
    sink.stdout.readline()  # "listening on ..."
    sent = lambda: asyncio.run(read_count("127.0.0.1", sink_port))  # noqa: E731
    page = "/admin/members"
    process, base = start_server(
        database_url,
        workdir / "var",
        workers=args.workers,
        env={"CLUB_RUN_SENDER": "1", "CLUB_SMTP_HOST": "127.0.0.1", "CLUB_SMTP_PORT": str(sink_port)},
    )
    try:
        alone = load_pages(base, [page], args, cookie=cookie)[page]
        status, confirm = fetch(f"{base}/admin/newsletters/{newsletter_id}/confirm", cookie)
        token = re.search(r'name="csrf_token" value="([^"]+)"', confirm)
        if status != 200 or token is None:
            raise SystemExit(f"confirm page: HTTP {status}")
        started = time.perf_counter()
        status, _ = fetch(f"{base}/admin/newsletters/{newsletter_id}/send", cookie, {"csrf_token": token.group(1)})
        send_s = time.perf_counter() - started
        if status != 303:
            raise SystemExit(f"send: HTTP {status}")
        before = sent()
        during = wrk(base + page, args.seconds, args.connections, cookie=cookie)
        after = sent()
        print(
            f"{page + ' during the send':<52} {during['rps']:8.1f} {during.get('p50_ms', 0):10.1f} "
            f"{during.get('p99_ms', 0):8.1f}"
        )
    finally:
        stop_server(process)
        sink.terminate()
        sink.wait()
    rate = (after - before) / args.seconds
    ratio = during.get("p50_ms", 0) / alone["p50_ms"] if alone.get("p50_ms") else 0.0
    print(
        f"send pressed: deliveries of {args.members:,} created in {send_s:.2f} s; the sender sent "
        f"{after - before:,} mails ({rate:,.0f}/s) while the page was measured, {after:,} in all by then"
    )
    print(f"slowdown of {page} while sending: median x{ratio:.2f}, req/s {alone['rps']:.0f} -> {during['rps']:.0f}")
    if after - before == 0:
        print("note: the sender sent nothing during the measurement (done already, or not running)")
    return {
        "members": args.members,
        "send_s": round(send_s, 3),
        "sent_during": after - before,
        "alone": {"median_ms": alone.get("p50_ms"), "p99_ms": alone.get("p99_ms"), "rps": alone["rps"]},
        "during_send": {"median_ms": during.get("p50_ms"), "p99_ms": during.get("p99_ms"), "rps": during["rps"]},
        "slowdown_median": round(ratio, 2),
    }


SCENARIOS = {
    "public": scenario_public,
    "admin-members": scenario_admin_members,
    "wall": scenario_wall,
    "admin-during-send": scenario_admin_during_send,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--seconds", type=int, default=5, help="per page (default 5)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="web processes (server.py --workers)")
    parser.add_argument("--members", type=int, default=100_000, help="admin-members and admin-during-send")
    parser.add_argument("--activities", type=int, default=20_000, help="public and wall")
    parser.add_argument("--wall-members", type=int, default=20_000, help="public and wall")
    parser.add_argument("--newsletters", type=int, default=100, help="archived ones, public")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server to create a throwaway database on (default: a fresh SQLite file)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("install wrk (apt-get install wrk): it makes the load")
    chosen = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    for name in chosen:
        print(f"== {name} ==", flush=True)
        with tempfile.TemporaryDirectory() as tmp, fresh_database(args.database_url, Path(tmp)) as database_url:
            result = SCENARIOS[name](args, database_url, Path(tmp))
        print(
            json.dumps(
                {
                    "scenario": name,
                    "database": database_url.split(":")[0],
                    "workers": args.workers,
                    "connections": args.connections,
                    **result,
                },
                ensure_ascii=False,
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
