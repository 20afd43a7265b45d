"""Can a stranger tell from the response time whether an address belongs to a member? (issue 12, item 6)

Starts the server the README's way on a fresh database with `--pairs` members, then sends interleaved pairs of
POST /login (and POST /join) for a member's address and an unknown one, in random order within each pair, over
real sockets. Prints both medians, their difference, a bootstrap 95% interval of that difference, and the
Mann-Whitney U test's z (|z| < 2: the two cannot be told apart at the usual 5% level). Figures only, no verdict.

    python bench/login_timing.py                      # 120 pairs on SQLite, /login and /join
    python bench/login_timing.py --pairs 200 --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench

Each pair comes from its own loopback address (127.0.N.M) and uses addresses never asked for before, so the
per-IP and per-address rate limits of the forms never answer instead of the code under test.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import re
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

from bench.support import fill_members, fresh_database, start_server, stop_server  # noqa: E402

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
GAP = 0.05  # seconds between two requests of a pair


def mann_whitney_z(a: list[float], b: list[float]) -> float:
    """z of the Mann-Whitney U statistic (normal approximation with the tie correction)."""
    pooled = sorted([(value, 0) for value in a] + [(value, 1) for value in b])
    ranks = [0.0] * len(pooled)
    index = 0
    ties = 0.0
    while index < len(pooled):
        end = index
        while end + 1 < len(pooled) and pooled[end + 1][0] == pooled[index][0]:
            end += 1
        for k in range(index, end + 1):
            ranks[k] = (index + end) / 2 + 1
        count = end - index + 1
        ties += count**3 - count
        index = end + 1
    n1, n2 = len(a), len(b)
    rank_sum = sum(rank for rank, (_, group) in zip(ranks, pooled, strict=True) if group == 0)
    u = rank_sum - n1 * (n1 + 1) / 2
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    return (u - n1 * n2 / 2) / sigma if sigma else 0.0


def bootstrap_interval(a: list[float], b: list[float], rounds: int = 2000) -> tuple[float, float]:
    rng = random.Random(12)
    differences = sorted(
        statistics.median(rng.choices(a, k=len(a))) - statistics.median(rng.choices(b, k=len(b))) for _ in range(rounds)
    )
    return differences[int(rounds * 0.025)], differences[int(rounds * 0.975) - 1]


def source_address(pair: int, form: str) -> str:
    base = 1 if form == "login" else 101
    return f"127.{base + pair // 250}.{pair % 250 + 1}.{7}"


async def one_pair(url: str, form: str, pair: int, known: str, unknown: str) -> tuple[float, float]:
    """One known and one unknown address in random order, each on a new connection opened before the clock
    starts, and a pause between them: the work the server does after an answer (the mail) never delays the next
    answer on the same connection, and that pause is what a visitor gives it anyway."""
    local = source_address(pair, form)
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=local), base_url=url) as client:
        page = await client.get(f"/{form}")  # the CSRF cookie and token
        match = CSRF_RE.search(page.text)
        if match is None:
            raise SystemExit(f"/{form}: no CSRF token (HTTP {page.status_code})")
        token, cookies = match.group(1), client.cookies
    timings: dict[str, float] = {}
    order = [("known", known), ("unknown", unknown)]
    random.shuffle(order)
    for kind, email in order:
        data = {"csrf_token": token, "email": email}
        if form == "join":
            data.update({"name": "Bench Visitor", "city": "ghent", "language": "en"})
        transport = httpx.AsyncHTTPTransport(local_address=local)
        async with httpx.AsyncClient(transport=transport, base_url=url, cookies=cookies, timeout=30) as client:
            await client.get("/healthz")  # opens the connection
            started = time.perf_counter()
            response = await client.post(f"/{form}", data=data)
            timings[kind] = (time.perf_counter() - started) * 1000
        if response.status_code != 303:
            raise SystemExit(f"POST /{form} for the {kind} address: HTTP {response.status_code}")
        await asyncio.sleep(GAP)
    return timings["known"], timings["unknown"]


def report(form: str, known: list[float], unknown: list[float]) -> None:
    low, high = bootstrap_interval(known, unknown)
    print(f"POST /{form}: {len(known)} pairs")
    print(f"  known address   median {statistics.median(known):7.2f} ms")
    print(f"  unknown address median {statistics.median(unknown):7.2f} ms")
    print(
        f"  difference (known - unknown) {statistics.median(known) - statistics.median(unknown):+.2f} ms, "
        f"bootstrap 95% interval [{low:+.2f}, {high:+.2f}] ms"
    )
    print(f"  Mann-Whitney z = {mann_whitney_z(known, unknown):+.2f}")


async def run(url: str, forms: list[str], pairs: int, members: list[str]) -> None:
    for form in forms:
        for pair in range(3):  # warm up: templates compiled, statements prepared
            await one_pair(url, form, 240 + pair, members[-1 - pair], f"warm-{form}-{pair}@example.net")
        known: list[float] = []
        unknown: list[float] = []
        for pair in range(pairs):
            k, u = await one_pair(
                url,
                form,
                pair,
                members[pair if form == "login" else pairs + pair],
                f"stranger-{form}-{pair}@example.net",
            )
            known.append(k)
            unknown.append(u)
        report(form, known, unknown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=120)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--form", choices=("login", "join", "both"), default="both")
    parser.add_argument("--with-sender", action="store_true", help="let the web process send mail too")
    args = parser.parse_args()
    if args.pairs > 230:
        raise SystemExit("at most 230 pairs (one loopback address each)")
    forms = ["login", "join"] if args.form == "both" else [args.form]
    random.seed(3)
    workdir = Path(tempfile.mkdtemp(prefix="club-bench-"))
    with fresh_database(args.database_url or None, workdir) as database_url:
        total = 3 * args.pairs + 20  # one in five has a Japanese name, so a local part our forms refuse
        asyncio.run(fill_members(database_url, total))
        members = asyncio.run(member_addresses(database_url))
        env = {"CLUB_RUN_SENDER": "1" if args.with_sender else "0"}
        process, url = start_server(database_url, workdir / "var", env=env)
        try:
            asyncio.run(run(url, forms, args.pairs, members))
        finally:
            stop_server(process)


async def member_addresses(database_url: str) -> list[str]:
    from sqlalchemy import select

    from club.accounts.models import Person
    from club.db import create_engine, create_sessionmaker

    engine = create_engine(database_url)
    async with create_sessionmaker(engine)() as db:
        emails = list((await db.execute(select(Person.email).order_by(Person.id))).scalars())
    await engine.dispose()
    return [email for email in emails if email.isascii()]


if __name__ == "__main__":
    main()
