#!/usr/bin/env python3
"""HTTP figures of the app served the README's way (python server.py), loaded over real sockets by wrk.

    .venv/bin/python bench/http.py [--scenario NAME] [--seconds 5] [--connections 16] [--workers 1]
                                   [--members N] [--activities N] [--database-url postgresql+asyncpg://...]

Scenarios (default: all, one after the other, each on a fresh database):

  home              requests per second for /healthz and the home page, and their ratio (goal >= 0.5)
  admin-members     N members (default 100,000); median and p99 of the admin member list, a filter and
                    several searches (goal: median < 50 ms, p99 < 200 ms at 16 clients)
  wall              N activities (default 20,000); median of /ambassadors and the admin charts (goal < 100 ms)
  admin-during-send N subscribed members; /admin/members alone, then while a newsletter to all of them is sent
                    (sender in the web process, to a counting SMTP sink), and the slowdown

With --database-url, each scenario runs on a new database created on that PostgreSQL server and dropped at the
end. Each scenario prints its figures and a final JSON line. The load comes from wrk (Debian's `wrk` package);
the home scenario falls back to a small asyncio client without it. Figures, not pass/fail.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run by path, this folder comes first on sys.path, and this very file would then shadow the standard library's
# http package for everything imported below (httpx, asyncio's helpers): take the folder off first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from bench.support import (  # noqa: E402
    ROOT,
    admin_session,
    fill_members,
    free_port,
    fresh_database,
    start_server,
    stop_server,
    wrk,
)


async def python_load(url: str, seconds: int, connections: int) -> dict[str, float]:
    import httpx

    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.monotonic() < stop:
            started = time.perf_counter()
            response = await client.get(url, headers={"Accept-Language": "nl"})
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code >= 400:
                errors += 1

    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(limits=limits) as client:
        began = time.monotonic()
        await asyncio.gather(*(worker(client) for _ in range(connections)))
        elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        "errors": float(errors),
    }


def measure(url: str, seconds: int, connections: int) -> dict[str, float]:
    if shutil.which("wrk"):
        return wrk(url, seconds, connections)
    return asyncio.run(python_load(url, seconds, connections))


def scenario_home(args: argparse.Namespace, database_url: str, workdir: Path) -> dict[str, object]:
    driver = "wrk" if shutil.which("wrk") else "python"
    process, url = start_server(database_url, workdir / "var", workers=args.workers)
    try:
        measure(url + "/", 1, 4)  # warm up: templates compiled, connections pooled
        health = measure(url + "/healthz", args.seconds, args.connections)
        home = measure(url + "/", args.seconds, args.connections)
    finally:
        stop_server(process)
    ratio = home["rps"] / health["rps"] if health["rps"] else 0.0
    print(f"driver: {driver}, {args.connections} connections, {args.seconds} s each, {args.workers} web process(es)")
    for label, figures in (("/healthz", health), ("/ (home)", home)):
        print(
            f"{label:9}: {figures['rps']:9.1f} req/s  p50 {figures.get('p50_ms', 0):.2f} ms"
            f"  p99 {figures.get('p99_ms', 0):.2f} ms"
        )
    print(f"ratio home/healthz: {ratio:.2f} (goal >= 0.50)")
    return {
        "healthz_rps": health["rps"],
        "home_rps": home["rps"],
        "ratio": round(ratio, 3),
        "home_p50_ms": home.get("p50_ms"),
        "home_p99_ms": home.get("p99_ms"),
        "driver": driver,
    }


def check_page(url: str, cookie: str) -> None:
    """wrk counts a redirect to the login page as a success: make sure the page itself answers."""
    import httpx

    response = httpx.get(url, cookies={"club_session": cookie}, timeout=60)
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")


def load_pages(base: str, paths: list[str], cookie: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Each page in turn, under wrk with the admin's cookie; prints a line per page."""
    results = {}
    print(f"{'page':<52} {'req/s':>8} {'median ms':>10} {'p99 ms':>8}")
    for path in paths:
        check_page(base + path, cookie)
        wrk(base + path, 1, 4, cookie=cookie)  # warm up: templates, statements, the page cache
        figures = wrk(base + path, args.seconds, args.connections, cookie=cookie)
        results[path] = figures
        print(
            f"{path:<52} {figures['rps']:8.1f} {figures.get('p50_ms', 0):10.1f} {figures.get('p99_ms', 0):8.1f}"
            + (f"  ({figures['errors']:.0f} errors)" if figures["errors"] else "")
        )
    return results


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
        results = load_pages(base, list(ADMIN_MEMBER_PAGES.values()), cookie, args)
    finally:
        stop_server(process)
    figures = {
        name: {
            "median_ms": results[path].get("p50_ms"),
            "p99_ms": results[path].get("p99_ms"),
            "rps": results[path]["rps"],
        }
        for name, path in ADMIN_MEMBER_PAGES.items()
    }
    print("goal: median < 50 ms and p99 < 200 ms at 16 clients")
    return {"members": args.members, "pages": figures}


def scenario_wall(args: argparse.Namespace, database_url: str, workdir: Path) -> dict[str, object]:
    from club.config import Settings
    from club.migrate import upgrade
    from club.seed import seed

    settings = Settings(
        database_url=database_url, secret_key="bench-" + "x" * 40, var_dir=workdir / "var", run_sender=False
    )
    upgrade(database_url)
    started = time.perf_counter()
    asyncio.run(seed(settings, args.wall_members, args.activities))
    cookie = asyncio.run(admin_session(database_url))
    print(
        f"seeded {args.wall_members:,} members and {args.activities:,} activities in "
        f"{time.perf_counter() - started:.1f} s"
    )
    year = dt.date.today().year
    pages = {
        "wall": "/ambassadors",
        "admin-numbers": f"/admin/ambassadors/numbers?year={year}",
        "chart-month": f"/admin/ambassadors/charts/month.svg?year={year}&metric=hours",
    }
    process, base = start_server(database_url, workdir / "var", workers=args.workers, env={"CLUB_RUN_SENDER": "0"})
    try:
        results = load_pages(base, list(pages.values()), cookie, args)
    finally:
        stop_server(process)
    print("goal: median < 100 ms")
    return {
        "activities": args.activities,
        "pages": {
            name: {
                "median_ms": results[path].get("p50_ms"),
                "p99_ms": results[path].get("p99_ms"),
                "rps": results[path]["rps"],
            }
            for name, path in pages.items()
        },
    }


def scenario_admin_during_send(args: argparse.Namespace, database_url: str, workdir: Path) -> dict[str, object]:
    import httpx

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
        alone = load_pages(base, [page], cookie, args)[page]
        with httpx.Client(base_url=base, cookies={"club_session": cookie}, timeout=120) as client:
            confirm = client.get(f"/admin/newsletters/{newsletter_id}/confirm")
            token = re.search(r'name="csrf_token" value="([^"]+)"', confirm.text)
            if confirm.status_code != 200 or token is None:
                raise SystemExit(f"confirm page: HTTP {confirm.status_code}")
            started = time.perf_counter()
            response = client.post(f"/admin/newsletters/{newsletter_id}/send", data={"csrf_token": token.group(1)})
            send_s = time.perf_counter() - started
            if response.status_code != 303:
                raise SystemExit(f"send: HTTP {response.status_code}")
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
    "home": scenario_home,
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
    parser.add_argument("--activities", type=int, default=20_000, help="wall")
    parser.add_argument("--wall-members", type=int, default=20_000, help="wall")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server to create a throwaway database on (default: a fresh SQLite file)",
    )
    args = parser.parse_args()
    if args.scenario != "home" and not shutil.which("wrk"):
        raise SystemExit("install wrk (apt-get install wrk) for the admin and wall scenarios")
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
