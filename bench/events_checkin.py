"""The door: 10 scanners checking in tickets at once; the median and 95th percentile time of a scan's answer.

    python bench/events_checkin.py [--scanners 10] [--tickets 2000] [--database-url postgresql+asyncpg://...]

Seeds an event with N tickets (yes-answers) and door keepers' sessions, then 10 concurrent clients post the
scanned QR contents through the real HTTP route (CSRF, session, one transaction each) until every ticket is in.
The last line is JSON; the goal is a median under 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import re
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from bench.support import migrated_settings, published_event  # noqa: E402
from club.accounts.models import AuthSession, Person  # noqa: E402
from club.app import create_app  # noqa: E402
from club.db import create_engine, create_sessionmaker, utcnow  # noqa: E402
from club.events.models import Rsvp  # noqa: E402


async def seed(sessionmaker, tickets: int, scanners: int) -> tuple[int, list[str], list[str]]:  # type: ignore[no-untyped-def]
    now = utcnow()
    async with sessionmaker() as db:
        await db.execute(
            insert(Person),
            [
                {
                    "email": f"guest{i}@example.org",
                    "name": f"Guest {i}",
                    "role": "member",
                    "language": "nl",
                    "city": "ghent",
                    "confirmed_at": now,
                    "newsletter": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(tickets)
            ],
        )
        event = published_event("door@events", now, "Stadhuis", title_en="Reception")
        db.add(event)
        await db.flush()
        codes = [secrets.token_urlsafe(18) for _ in range(tickets)]
        await db.execute(
            insert(Rsvp),
            [
                {
                    "event_id": event.id,
                    "person_id": i + 1,
                    "name": f"Guest {i}",
                    "status": "yes",
                    "guests": i % 2,
                    "answer": "",
                    "ticket": code,
                    "walk_in": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for i, code in enumerate(codes)
            ],
        )
        sessions = []
        for index in range(scanners):
            keeper = Person(
                email=f"door{index}@example.org", name=f"Door {index}", role="admin", language="en", confirmed_at=now
            )
            db.add(keeper)
            await db.flush()
            raw = secrets.token_urlsafe(32)
            db.add(
                AuthSession(
                    id=hashlib.sha256(raw.encode()).hexdigest(),
                    person_id=keeper.id,
                    expires_at=now + dt.timedelta(hours=2),
                )
            )
            sessions.append(raw)
        await db.commit()
        return event.id, codes, sessions


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scanners", type=int, default=10)
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url, settings = await migrated_settings(tmp, args.database_url)
        engine = create_engine(url)
        event_id, codes, sessions = await seed(create_sessionmaker(engine), args.tickets, args.scanners)
        app = create_app(settings, engine=engine)
        timings: list[float] = []
        queue: asyncio.Queue[str] = asyncio.Queue()
        for code in codes:
            queue.put_nowait(f"https://club.example/events/{event_id}/ticket/{code}")
        door = f"/events/{event_id}/door"

        async def scanner(session: str) -> None:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                client.cookies.set("club_session", session, domain="testserver.local")
                token = re.search(r'name="csrf_token" value="([^"]+)"', (await client.get(door)).text).group(1)  # type: ignore[union-attr]
                while not queue.empty():
                    scanned = queue.get_nowait()
                    started = time.perf_counter()
                    response = await client.post(
                        door + "/check-in",
                        data={"csrf_token": token, "code": scanned},
                        headers={"Accept": "application/json"},
                    )
                    timings.append(time.perf_counter() - started)
                    assert response.json()["outcome"] == "arrived", response.text[:300]

        async with app.router.lifespan_context(app):
            started = time.perf_counter()
            await asyncio.gather(*(scanner(session) for session in sessions))
            total = time.perf_counter() - started
        await engine.dispose()
        timings.sort()
        median = statistics.median(timings) * 1000
        p95 = timings[int(len(timings) * 0.95)] * 1000
        print(
            f"{len(timings):,} scans by {args.scanners} scanners at once on {engine.dialect.name}: median "
            f"{median:.0f} ms, 95th percentile {p95:.0f} ms, {len(timings) / total:,.0f} scans per second; "
            "goal: median under 300 ms"
        )
        print(
            json.dumps(
                {
                    "database": engine.dialect.name,
                    "scanners": args.scanners,
                    "scans": len(timings),
                    "median_ms": round(median, 1),
                    "p95_ms": round(p95, 1),
                }
            )
        )


if __name__ == "__main__":
    asyncio.run(main())
