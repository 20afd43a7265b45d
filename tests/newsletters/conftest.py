"""Newsletter fixtures: an admin's client, and
helpers to compose and send as an admin would."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from club.accounts.models import Person
from tests.factories import csrf_token, log_in, make_admin


@pytest.fixture
async def admin(db: AsyncSession) -> Person:
    return await make_admin(db)


@pytest.fixture
async def admin_client(client: httpx.AsyncClient, db: AsyncSession, admin: Person) -> httpx.AsyncClient:
    await log_in(client, db, admin)
    return client


Post = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def post(admin_client: httpx.AsyncClient) -> Post:
    """POST a form as the admin's browser would, with a fresh CSRF token."""

    async def do(path: str, data: dict[str, object] | None = None, *, files: object = None,
                 token_from: str = "/admin/newsletters") -> httpx.Response:
        token = await csrf_token(admin_client, token_from)
        return await admin_client.post(path, data={**(data or {}), "csrf_token": token}, files=files)  # type: ignore[arg-type]

    return do


def compose_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "subject_nl": "Nieuws uit Gent",
        "preheader_nl": "Jazz in de zomer",
        "body_nl": "# Beste %%name%%\n\nDe **Gentse Feesten** komen eraan. [Lees meer](https://club.example/gf)",
        "subject_ja": "ヘントからのお知らせ",
        "preheader_ja": "夏のジャズ",
        "body_ja": "# %%name%% 様\n\n**ヘント祭り**がまもなく始まります。",
        "fallback_language": "nl",
    }
    data.update(overrides)
    return data


async def create_newsletter(post: Post, **overrides: object) -> int:
    response = await post("/admin/newsletters/new", compose_data(**overrides))
    assert response.status_code == 303, response.text
    return int(response.headers["location"].split("/")[3].split("?")[0].split("#")[0])


