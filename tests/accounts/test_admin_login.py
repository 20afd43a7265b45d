import datetime as dt

from sqlalchemy import func, select

from club.accounts import service
from club.accounts.models import AuthSession, Person
from club.accounts.passwords import password_problem
from club.db import utcnow
from tests.factories import ADMIN_PASSWORD, csrf_token, log_in, make_admin, make_person


async def login(client, email, password, next_url="/admin"):
    token = await csrf_token(client, "/")
    return await client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token, "next": next_url}
    )


async def test_admin_logs_in_and_reaches_the_console(client, db):
    await make_admin(db)
    response = await login(client, "admin@example.org", ADMIN_PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    cookie = response.headers["set-cookie"]
    assert "club_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    raw = response.cookies["club_session"]
    assert len(raw) >= 22  # 128 bits or more of randomness, urlsafe base64
    console = await client.get("/admin")
    assert console.status_code == 200
    assert "Admin console" in console.text


async def test_session_cookie_holds_only_an_opaque_id(client, db):
    await make_admin(db)
    response = await login(client, "admin@example.org", ADMIN_PASSWORD)
    raw = response.cookies["club_session"]
    stored = (await db.execute(select(AuthSession.id))).scalars().all()
    assert raw not in stored  # only the hash is kept
    assert "admin" not in raw and "@" not in raw


async def test_wrong_password_does_not_open_the_console(client, db):
    await make_admin(db)
    response = await login(client, "admin@example.org", "wrong password here")
    assert response.status_code == 400
    assert "not right" in response.text
    assert "club_session" not in response.cookies
    assert (await client.get("/admin")).status_code == 303


async def test_unknown_account_gets_the_same_answer(client, db):
    await make_admin(db)
    known = await login(client, "admin@example.org", "wrong password here")
    unknown = await login(client, "nobody@example.org", "wrong password here")
    assert known.status_code == unknown.status_code
    assert known.text.replace("admin@example.org", "X") == unknown.text.replace("nobody@example.org", "X")


async def test_login_rotates_the_session_id(client, db):
    admin = await make_admin(db)
    await log_in(client, db, admin)
    before = client.cookies.get("club_session")
    response = await login(client, "admin@example.org", ADMIN_PASSWORD)
    after = response.cookies["club_session"]
    assert before != after
    count = (await db.execute(select(func.count()).select_from(AuthSession))).scalar()
    assert count == 1  # the old session was dropped


async def test_logout_revokes_the_session_on_the_server(client, db):
    await make_admin(db)
    response = await login(client, "admin@example.org", ADMIN_PASSWORD)
    raw = response.cookies["club_session"]
    token = await csrf_token(client, "/admin")
    assert (await client.post("/logout", data={"csrf_token": token})).status_code == 303
    assert (await db.execute(select(func.count()).select_from(AuthSession))).scalar() == 0
    client.cookies.set("club_session", raw)  # a stolen copy of the cookie no longer works
    assert (await client.get("/admin")).status_code == 303


async def test_repeated_failures_lock_the_account(client, db):
    await make_admin(db)
    service.SLOW_DOWN_SECONDS, saved = 0.0, service.SLOW_DOWN_SECONDS
    try:
        for _ in range(service.ACCOUNT_LOCK_AFTER):
            assert (await login(client, "admin@example.org", "wrong password here")).status_code == 400
        locked = await login(client, "admin@example.org", ADMIN_PASSWORD)
    finally:
        service.SLOW_DOWN_SECONDS = saved
    assert locked.status_code == 429
    assert "15" in locked.text
    assert "club_session" not in locked.cookies


async def test_failures_from_one_address_lock_that_address(client, db):
    await make_admin(db)
    service.SLOW_DOWN_SECONDS, saved = 0.0, service.SLOW_DOWN_SECONDS
    try:
        for index in range(service.IP_LOCK_AFTER):
            await login(client, f"guess{index}@example.org", "wrong password here")
        locked = await login(client, "admin@example.org", ADMIN_PASSWORD)
    finally:
        service.SLOW_DOWN_SECONDS = saved
    assert locked.status_code == 429


async def test_visitor_is_sent_to_log_in_and_member_gets_403(client, db):
    response = await client.get("/admin")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login?next=")
    member = await make_person(db)
    await log_in(client, db, member)
    response = await client.get("/admin")
    assert response.status_code == 403
    assert "Traceback" not in response.text


async def test_role_change_revoked_sessions_take_effect(client, db):
    admin = await make_admin(db)
    await log_in(client, db, admin)
    assert (await client.get("/admin")).status_code == 200
    from club.accounts.sessions import revoke_all

    person = await db.get(Person, admin.id)
    person.role = "member"
    await revoke_all(db, admin.id)
    await db.commit()
    assert (await client.get("/admin")).status_code == 303


async def test_expired_session_is_not_accepted(client, db):
    admin = await make_admin(db)
    await log_in(client, db, admin)
    session = (await db.execute(select(AuthSession))).scalar_one()
    session.expires_at = utcnow() - dt.timedelta(seconds=1)
    await db.commit()
    assert (await client.get("/admin")).status_code == 303


async def test_login_form_keeps_input_and_explains(client):
    token = await csrf_token(client, "/admin/login")
    response = await client.post(
        "/admin/login",
        data={"email": "not-an-address", "password": "", "csrf_token": token},
        headers={"accept-language": "nl"},
    )
    assert response.status_code == 400
    assert 'value="not-an-address"' in response.text
    assert "Geef een e-mailadres" in response.text
    assert "Dit veld is verplicht" in response.text


async def test_login_refuses_missing_csrf(client, db):
    await make_admin(db)
    await client.get("/admin/login")
    response = await client.post("/admin/login", data={"email": "admin@example.org", "password": ADMIN_PASSWORD})
    assert response.status_code == 403
    assert "club_session" not in response.cookies


async def test_next_cannot_point_off_site(client, db):
    await make_admin(db)
    response = await login(client, "admin@example.org", ADMIN_PASSWORD, next_url="https://evil.example/")
    assert response.headers["location"] == "/admin"


def test_password_rules():
    assert password_problem("short") is not None
    assert password_problem("password1234") is not None  # common
    assert password_problem("aaaaaaaaaaaaaaaa") is not None
    assert password_problem("someone@example.org", email="someone@example.org") is not None
    assert password_problem("kotoji-lantern-1971-ghent") is None
