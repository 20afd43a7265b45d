"""Pressing "send" on a newsletter to N members: how long until every delivery is in the outbox.

    python -m bench.newsletter_send [--members 100000] [--database-url postgresql+asyncpg://...]

Seeds N confirmed, subscribed members (nl, en, ja) into a fresh database, writes a newsletter with Dutch and
Japanese versions (English readers get the Dutch fallback) and presses send through the real HTTP route (CSRF,
session, one transaction), timing the POST until its commit. Also times the admin's report page once it is done.
The last line is JSON with members, deliveries, send_s and report_s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from pathlib import Path

# Run by path, this folder would come first on sys.path and bench/http.py would hide the standard library's http.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from bench.support import migrated_settings, subscribers_and_admin  # noqa: E402
from club.app import create_app  # noqa: E402
from club.db import create_engine, create_sessionmaker, utcnow  # noqa: E402
from club.mail.models import Delivery  # noqa: E402
from club.newsletters.models import Newsletter, NewsletterVariant  # noqa: E402
from club.newsletters.routes import routes as newsletter_routes  # noqa: E402

BODY_NL = "# Beste %%name%%\n\nDe zomer komt eraan, en Kanazawa ook. [Lees meer](https://club.example/nieuws)\n\n" * 3
BODY_JA = "# %%name%% 様\n\n金沢の皆さん、ヘントからこんにちは。[詳しくはこちら](https://club.example/news)\n\n" * 3


async def seed(sessionmaker, members: int) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    now = utcnow()
    async with sessionmaker() as db:
        admin, raw = await subscribers_and_admin(db, members, now)
        newsletter = Newsletter(
            status="draft", fallback_language="nl", audience="{}", recipients=0, created_by_id=admin.id
        )
        db.add(newsletter)
        await db.flush()
        db.add_all(
            [
                NewsletterVariant(
                    newsletter_id=newsletter.id,
                    language="nl",
                    subject="Nieuws uit Gent",
                    preheader="Zomer",
                    body=BODY_NL,
                ),
                NewsletterVariant(
                    newsletter_id=newsletter.id,
                    language="ja",
                    subject="ヘントからのお知らせ",
                    preheader="夏",
                    body=BODY_JA,
                ),
            ]
        )
        await db.commit()
        if db.get_bind().dialect.name == "sqlite":
            await db.execute(text("ANALYZE"))
        return newsletter.id, raw


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url, settings = await migrated_settings(tmp, args.database_url)
        engine = create_engine(url)
        sessionmaker = create_sessionmaker(engine)
        started = time.perf_counter()
        newsletter_id, session_token = await seed(sessionmaker, args.members)
        print(f"seeded {args.members:,} members in {time.perf_counter() - started:.1f}s ({engine.dialect.name})")

        app = create_app(settings, engine=engine)
        app.router.routes[:0] = newsletter_routes
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=120) as client:
                client.cookies.set("club_session", session_token, domain="testserver.local")
                page = await client.get(f"/admin/newsletters/{newsletter_id}/confirm")
                token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
                started = time.perf_counter()
                response = await client.post(f"/admin/newsletters/{newsletter_id}/send", data={"csrf_token": token})
                send_s = time.perf_counter() - started
                assert response.status_code == 303, response.text[:500]
                started = time.perf_counter()
                report = await client.get(f"/admin/newsletters/{newsletter_id}/report")
                report_s = time.perf_counter() - started
                assert report.status_code == 200
        async with sessionmaker() as db:
            deliveries = await db.scalar(select(func.count()).select_from(Delivery))
        await engine.dispose()
        print(
            f"send pressed: {deliveries:,} deliveries queued and committed in {send_s:.2f}s "
            f"({deliveries / send_s:,.0f} per second); goal: under 5s"
        )
        print(f"report page with {deliveries:,} deliveries: {report_s * 1000:.0f} ms")
        print(
            json.dumps(
                {
                    "database": engine.dialect.name,
                    "members": args.members,
                    "deliveries": deliveries,
                    "send_s": round(send_s, 3),
                    "report_s": round(report_s, 3),
                }
            )
        )


if __name__ == "__main__":
    asyncio.run(main())
