"""Admin login lockouts under parallel requests: each attempt is counted before it is checked, atomically, so a
burst gets no more checks than the limit; the lock is per account and address, so the owner still gets in."""

import asyncio
import re
import time

import httpx
import pyotp

from club.accounts import service, totp
from tests.factories import ADMIN_PASSWORD, make_admin

ATTACKER = ("203.0.113.9", 40000)
OWNER = ("198.51.100.4", 40000)


def client_from(app, address) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=address)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def form_token(client: httpx.AsyncClient) -> str:
    response = await client.get("/admin/login")
    return re.search(r'name="csrf_token" value="([^"]+)"', response.text).group(1)


async def password_attempt(client, token, password):
    return await client.post(
        "/admin/login", data={"email": "admin@example.org", "password": password, "csrf_token": token, "next": "/admin"}
    )


async def test_a_hundred_parallel_wrong_passwords_get_at_most_the_limit_checked(app, db):
    await make_admin(db)
    async with client_from(app, ATTACKER) as attacker:
        token = await form_token(attacker)
        responses = await asyncio.gather(
            *(password_attempt(attacker, token, f"wrong password {n}") for n in range(100))
        )
        statuses = [response.status_code for response in responses]
        checked = statuses.count(400)  # a checked wrong password; refused ones are 429 and never checked
        assert 1 <= checked <= service.ACCOUNT_LOCK_AFTER
        assert statuses.count(429) == 100 - checked
        # The right password from the attacker's address is refused now too.
        assert (await password_attempt(attacker, token, ADMIN_PASSWORD)).status_code == 429

    # The owner, from their usual place, still logs in.
    async with client_from(app, OWNER) as owner:
        response = await password_attempt(owner, await form_token(owner), ADMIN_PASSWORD)
        assert response.status_code == 303
        assert (await owner.get("/admin")).status_code == 200


async def test_two_hundred_parallel_codes_get_at_most_five_checked(app, db):
    admin = await make_admin(db)
    factor = await totp.start_enrolment(db, admin.id)
    secret = factor.secret
    assert await totp.enable(db, factor, pyotp.TOTP(secret).at(time.time() - 30)) is not None
    await db.commit()
    async with client_from(app, ATTACKER) as client:
        token = await form_token(client)
        response = await password_attempt(client, token, ADMIN_PASSWORD)
        assert response.status_code == 200
        login_token = re.search(r'name="token" value="([^"]+)"', response.text).group(1)
        now = time.time()
        valid = {pyotp.TOTP(secret).at(now + offset) for offset in (-60, -30, 0, 30, 60)}
        wrong = [code for code in (f"{n:06d}" for n in range(1000, 1300)) if code not in valid][:200]

        async def code_attempt(code):
            return await client.post(
                "/admin/login/code", data={"token": login_token, "code": code, "csrf_token": token, "next": "/admin"}
            )

        responses = await asyncio.gather(*(code_attempt(code) for code in wrong))
    # A checked code says it is not right; the others are refused (429) or find the pending login ended.
    checked = sum("That code is not right" in r.text for r in responses)
    assert 1 <= checked <= service.SECOND_FACTOR_LOCK_AFTER
    assert 429 in {r.status_code for r in responses}
    assert all(r.status_code in (400, 429) and "club_session" not in r.cookies for r in responses)
