"""Helpers for the admin tests: a logged-in admin client, many members at once, CSV uploads."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from club.accounts.models import Person
from club.admin.models import AuditEntry
from club.db import utcnow
from tests.factories import csrf_token, log_in, make_admin


async def admin_client(client: httpx.AsyncClient, db: AsyncSession, email: str = "admin@example.org") -> Person:
    admin = await make_admin(db, email=email)
    await log_in(client, db, admin)
    return admin


async def add_members(db: AsyncSession, rows: list[dict]) -> None:
    now = utcnow()
    values = []
    for index, row in enumerate(rows):
        values.append({"name": "Member", "role": "member", "language": "en", "city": "ghent", "confirmed_at": now,
                       "newsletter": False, "created_at": now - dt.timedelta(seconds=index), "updated_at": now,
                       **row})
    await db.execute(insert(Person), values)
    await db.commit()


async def post_form(client: httpx.AsyncClient, path: str, data: dict | None = None, *, page: str = "/admin",
                    files: dict | None = None) -> httpx.Response:
    token = await csrf_token(client, page)
    return await client.post(path, data={"csrf_token": token, **(data or {})}, files=files)


async def upload(client: httpx.AsyncClient, content: bytes, filename: str = "members.csv", *,
                 checked: bool = True) -> httpx.Response:
    """Upload a member list on the import page; unless checked=False, wait until its check has finished (a
    busy machine may take longer than the upload waits for it)."""
    response = await post_form(client, "/admin/members/import", files={"file": (filename, content, "text/csv")},
                               page="/admin/members/import")
    if checked and response.status_code == 303:
        await wait_until_checked(client, response.headers["location"])
    return response


async def wait_until_checked(client: httpx.AsyncClient, job_url: str) -> str:
    for _ in range(2000):
        page = await client.get(job_url)
        if 'id="check-progress"' not in page.text:
            return page.text
        await asyncio.sleep(0.05)
    raise AssertionError("the check did not finish")


async def actions(db: AsyncSession) -> list[str]:
    db.expire_all()
    return list((await db.execute(select(AuditEntry.action).order_by(AuditEntry.id))).scalars())
