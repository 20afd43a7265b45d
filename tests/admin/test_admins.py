"""Admins: invitations, the last admin, two-factor login with TOTP and recovery codes, and the audit log."""

import datetime as dt
import re
import time

import pyotp
import pytest
from sqlalchemy import select

from club.accounts import service, totp
from club.accounts.models import AuthSession, Person, SecondFactor
from club.admin.models import AuditEntry
from club.db import utcnow
from club.mail.models import Delivery, Mail
from tests.factories import ADMIN_PASSWORD, csrf_token, log_in, make_admin, make_person
from tests.helpers import actions, log_in_admin, post_form


async def test_the_last_admin_cannot_be_demoted_or_deleted(client, db):
    admin = await log_in_admin(client, db)
    admin_id = admin.id
    response = await post_form(client, f"/admin/admins/{admin_id}/demote", page="/admin/admins")
    assert response.status_code == 400
    assert "last admin" in response.text
    response = await post_form(
        client,
        f"/admin/members/{admin_id}/edit",
        {"name": "Admin Gent", "email": "admin@example.org", "city": "ghent", "language": "en", "role": "member"},
        page=f"/admin/members/{admin_id}/edit",
    )
    assert response.status_code == 400 and "last admin" in response.text
    response = await post_form(
        client,
        f"/admin/members/{admin_id}/delete",
        {"confirm_email": "admin@example.org"},
        page=f"/admin/members/{admin_id}/delete",
    )
    assert response.status_code == 400 and "last admin" in response.text
    db.expire_all()
    assert (await db.get(Person, admin_id)).role == "admin"


async def test_an_admin_can_demote_another_whose_sessions_end(client, db):
    await log_in_admin(client, db)
    other = await make_admin(db, email="other@example.org", name="Other Admin")
    other_id = other.id
    db.add(AuthSession(id="x" * 64, person_id=other_id, expires_at=utcnow() + dt.timedelta(hours=1)))
    await db.commit()
    response = await post_form(client, f"/admin/admins/{other_id}/demote", page="/admin/admins")
    assert response.status_code == 303
    db.expire_all()
    assert (await db.get(Person, other_id)).role == "member"
    assert (await db.execute(select(AuthSession).where(AuthSession.person_id == other_id))).first() is None
    entry = (await db.execute(select(AuditEntry).where(AuditEntry.action == "admin.demote"))).scalar_one()
    assert (entry.actor_email, entry.target_type, entry.target_id, entry.ip) == (
        "admin@example.org",
        "person",
        str(other_id),
        "203.0.113.7",
    )


async def test_invitation_by_mail_makes_an_admin(client, db):
    await log_in_admin(client, db)
    response = await post_form(
        client,
        "/admin/admins/invite",
        {"email": "New.Admin@Example.org", "name": "Nieuwe Beheerder", "language": "nl"},
        page="/admin/admins",
    )
    assert response.status_code == 303
    delivery, mail = (await db.execute(select(Delivery, Mail).join(Mail))).one()
    assert delivery.to_email == "new.admin@example.org"
    assert mail.language == "nl"
    link = re.search(r"http://testserver(/admin/invite/\S+)", mail.text).group(1)
    client.cookies.clear()
    page = await client.get(link)
    assert page.status_code == 200 and "new.admin@example.org" in page.text
    token = await csrf_token(client, link)
    weak = await client.post(
        link, data={"csrf_token": token, "name": "Nieuwe Beheerder", "password": "short", "password_again": "short"}
    )
    assert weak.status_code == 400
    response = await client.post(
        link,
        data={
            "csrf_token": token,
            "name": "Nieuwe Beheerder",
            "password": ADMIN_PASSWORD,
            "password_again": ADMIN_PASSWORD,
        },
    )
    assert response.status_code == 303
    assert (await client.get("/admin")).status_code == 200
    person = (await db.execute(select(Person).where(Person.email == "new.admin@example.org"))).scalar_one()
    assert person.role == "admin"
    assert (await client.get(link)).status_code == 404  # single use
    assert {"admin.invite", "admin.invite.accept"} <= set(await actions(db))


async def test_invalid_invitations_are_refused(client, db):
    await log_in_admin(client, db)
    response = await post_form(
        client, "/admin/admins/invite", {"email": "nope", "name": "X", "language": "nl"}, page="/admin/admins"
    )
    assert response.status_code == 400
    response = await post_form(
        client,
        "/admin/admins/invite",
        {"email": "admin@example.org", "name": "Me", "language": "en"},
        page="/admin/admins",
    )
    assert response.status_code == 400 and "already an admin" in response.text
    assert (await client.get("/admin/invite/forged-token")).status_code == 404


async def enable_totp(client, db) -> str:
    response = await post_form(client, "/admin/security/totp/start", page="/admin/security")
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', response.text).group(1)
    assert "data:image/svg+xml" in response.text  # the QR code, inline
    code = pyotp.TOTP(secret).at(time.time() - 30)  # a code from the previous step, as if typed slowly
    response = await post_form(client, "/admin/security/totp/enable", {"code": code}, page="/admin/security")
    assert response.status_code == 200
    codes = re.findall(r"<li>([0-9a-f]{5}-[0-9a-f]{5})</li>", response.text)
    assert len(codes) == 10
    return secret, codes


async def password_step(client) -> str:
    token = await csrf_token(client, "/admin/login")
    response = await client.post(
        "/admin/login",
        data={"email": "admin@example.org", "password": ADMIN_PASSWORD, "csrf_token": token, "next": "/admin"},
    )
    assert response.status_code == 200 and "club_session" not in response.cookies
    return re.search(r'name="token" value="([^"]+)"', response.text).group(1)


async def code_step(client, login_token: str, code: str):
    token = await csrf_token(client, "/admin/login")
    return await client.post(
        "/admin/login/code", data={"token": login_token, "code": code, "csrf_token": token, "next": "/admin"}
    )


async def test_two_factor_login_takes_each_code_once_and_refuses_old_codes(client, db):
    await log_in_admin(client, db)
    secret, _codes = await enable_totp(client, db)
    client.cookies.clear()
    login_token = await password_step(client)
    assert (await client.get("/admin")).status_code == 303  # a password alone does not open the console

    old = pyotp.TOTP(secret).at(time.time() - 60)  # off by a minute
    response = await code_step(client, login_token, old)
    assert response.status_code == 400 and "not right" in response.text
    if old != pyotp.TOTP(secret).now():
        assert "club_session" not in response.cookies
    response = await code_step(client, login_token, "12345x")
    assert response.status_code == 400

    # The step the enrolment used cannot be used again; wait for a fresh step rather than racing the clock.
    factor_id = (await db.execute(select(SecondFactor.person_id))).scalar_one()
    fresh = pyotp.TOTP(secret).at(time.time() + 30)
    response = await code_step(client, login_token, fresh)
    assert response.status_code == 303
    assert (await client.get("/admin")).status_code == 200

    client.cookies.clear()
    again = await password_step(client)
    response = await code_step(client, again, fresh)  # the same code again: refused
    assert response.status_code == 400 and "used already" in response.text
    db.expire_all()
    assert (await db.get(SecondFactor, factor_id)).last_step == pyotp.TOTP(secret).timecode(
        __import__("datetime").datetime.fromtimestamp(time.time() + 30, __import__("datetime").UTC)
    )


async def test_recovery_codes_work_once(client, db):
    await log_in_admin(client, db)
    _secret, codes = await enable_totp(client, db)
    client.cookies.clear()
    response = await code_step(client, await password_step(client), codes[0].upper().replace("-", " "))
    assert response.status_code == 303
    client.cookies.clear()
    response = await code_step(client, await password_step(client), codes[0])
    assert response.status_code == 400


async def test_wrong_codes_end_the_pending_login(client, db, monkeypatch):
    await log_in_admin(client, db)
    await enable_totp(client, db)
    client.cookies.clear()
    login_token = await password_step(client)
    for _ in range(service.SECOND_FACTOR_LOCK_AFTER):
        assert (await code_step(client, login_token, "000000")).status_code == 400
    assert (await code_step(client, login_token, "000000")).status_code == 429


async def test_a_forged_login_token_gets_no_session(client, db):
    await log_in_admin(client, db)
    client.cookies.clear()
    response = await code_step(client, "forged", "123456")
    assert response.status_code == 400 and "club_session" not in response.cookies


def test_codes_match_within_one_step_only():
    secret = pyotp.random_base32()
    now = time.time()
    current = pyotp.TOTP(secret).timecode(
        __import__("datetime").datetime.fromtimestamp(now, __import__("datetime").UTC)
    )
    assert totp.matching_step(secret, pyotp.TOTP(secret).at(now), now=now) == current
    assert totp.matching_step(secret, pyotp.TOTP(secret).at(now - 30), now=now) == current - 1
    stale = pyotp.TOTP(secret).at(now - 90)
    if stale not in {pyotp.TOTP(secret).at(now + offset) for offset in (-30, 0, 30)}:
        assert totp.matching_step(secret, stale, now=now) is None
    assert totp.matching_step(secret, "abcdef", now=now) is None


async def test_disabling_two_factor_needs_a_code(client, db):
    admin_id = (await log_in_admin(client, db)).id
    secret, _codes = await enable_totp(client, db)
    response = await post_form(client, "/admin/security/totp/disable", {"code": "000000"}, page="/admin/security")
    assert response.status_code == 400
    code = pyotp.TOTP(secret).at(time.time() + 30)
    response = await post_form(client, "/admin/security/totp/disable", {"code": code}, page="/admin/security")
    assert response.status_code == 303
    assert await db.get(SecondFactor, admin_id) is None


@pytest.mark.parametrize("path", ["/admin/audit", "/admin/audit/1", "/admin/audit/1/delete"])
async def test_the_audit_log_cannot_be_changed(client, db, path):
    await log_in_admin(client, db)
    response = await post_form(client, path, page="/admin/audit")
    assert response.status_code in (404, 405)


async def test_audit_log_search_and_filters(client, db):
    await log_in_admin(client, db)
    member = await make_person(db, name="Suppress Me")
    member_id = member.id
    await post_form(
        client, f"/admin/members/{member_id}/suppress", {"reason": "bounces"}, page=f"/admin/members/{member_id}"
    )
    await post_form(client, f"/admin/members/{member_id}/unsuppress", page=f"/admin/members/{member_id}")
    page = await client.get("/admin/audit", params={"action": "member.suppress"})
    # The entry reads as words, not as the action's code or a Python dict; it keeps that a reason was given, not
    # its free text (that stays on the member, and goes with them).
    assert "Stopped all mail to a member" in page.text and "bounces" not in page.text
    assert "{" not in page.text.split("<tbody>")[1].split("</tbody>")[0]
    assert "Allowed mail to a member again" not in page.text.split("<tbody>")[1]
    page = await client.get("/admin/audit", params={"q": "ADMIN@EXAMPLE"})
    assert 'data-action="member.suppress"' in page.text
    page = await client.get("/admin/audit", params={"target_type": "person", "target_id": str(member_id)})
    assert 'data-action="member.unsuppress"' in page.text
    page = await client.get("/admin/audit", params={"q": "100%_'\""})
    assert page.status_code == 200 and "No entries match." in page.text
    assert "admin@example.org" in (await client.get("/admin/audit")).text
    await log_in(client, db, member)
    assert (await client.get("/admin/audit")).status_code == 403
