"""Inviting N members to an event: how long the admin's "send the invitations" takes until every invitation is in
the outbox, committed (one mail with its .ics per language, one delivery with its answer link per member).

    python bench/events_invite.py [--members 100000] [--database-url postgresql+asyncpg://...]

Seeds N confirmed, subscribed members (nl, en, ja), a published event, and presses the button through the real
HTTP route (CSRF, session, one transaction). The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from bench.support import migrated_settings, published_event, subscribers_and_admin  # noqa: E402
from club.app import create_app  # noqa: E402
from club.db import create_engine, create_sessionmaker, utcnow  # noqa: E402
from club.mail.models import Delivery  # noqa: E402


async def seed(sessionmaker, members: int) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    now = utcnow()
    async with sessionmaker() as db:
        admin, raw = await subscribers_and_admin(db, members, now)
        event = published_event(
            "bench@events",
            now + dt.timedelta(days=20),
            "Stadhuis Gent",
            address="Botermarkt 1, Gent",
            title_nl="Netwerkreceptie",
            title_en="Network reception",
            title_ja="ネットワーキング・レセプション",
            description_en="Drinks and **music**.",
        )
        db.add(event)
        await db.commit()
        if db.get_bind().dialect.name == "sqlite":
            await db.execute(text("ANALYZE"))
        return event.id, raw


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url, settings = await migrated_settings(tmp, args.database_url)
        engine = create_engine(url)
        sessionmaker = create_sessionmaker(engine)
        event_id, session_token = await seed(sessionmaker, args.members)
        app = create_app(settings, engine=engine)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=600) as client:
                client.cookies.set("club_session", session_token, domain="testserver.local")
                page = await client.get(f"/admin/events/{event_id}")
                token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
                started = time.perf_counter()
                response = await client.post(f"/admin/events/{event_id}/invite", data={"csrf_token": token})
                invite_s = time.perf_counter() - started
                assert response.status_code == 303, response.text[:500]
        async with sessionmaker() as db:
            deliveries = await db.scalar(select(func.count()).select_from(Delivery))
        await engine.dispose()
        print(
            f"invitations: {deliveries:,} deliveries queued and committed in {invite_s:.2f}s "
            f"({deliveries / invite_s:,.0f} per second) on {engine.dialect.name}"
        )
        print(
            json.dumps(
                {
                    "database": engine.dialect.name,
                    "members": args.members,
                    "invitations": deliveries,
                    "invite_s": round(invite_s, 3),
                }
            )
        )


if __name__ == "__main__":
    asyncio.run(main())
