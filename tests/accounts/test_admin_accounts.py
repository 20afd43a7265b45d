"""Admins keep their language and zone, change and reset their password, manage invitations, can be required to
use two-factor login, and are made through an invitation, never through the Role select alone."""

from __future__ import annotations

import re

from sqlalchemy import select, update

from club.accounts import service
from club.accounts.models import Person
from club.mail.models import Delivery, Mail
from tests.admin.test_admins import enable_totp
from tests.factories import ADMIN_PASSWORD, CSRF_RE, csrf_token, log_in, make_admin, make_person
from tests.helpers import actions, log_in_admin, post_form

NEW_PASSWORD = "gold-leaf-and-waffles-2027"


async def mails_to(db, address: str) -> list[Mail]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return list(
        (await db.execute(select(Mail).join(Delivery).where(Delivery.to_email == address).order_by(Mail.id))).scalars()
    )


async def login(client, email: str, password: str):  # type: ignore[no-untyped-def]
    token = await csrf_token(client, "/admin/login")
    return await client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token, "next": "/admin"}
    )


async def test_the_first_admin_keeps_the_language_of_the_setup(client, db):
    token = await service.issue_setup_link(db)
    await db.commit()
    client.cookies.set("club_lang", "ja", domain="testserver.local")
    page = await client.get(f"/setup/{token}")
    assert 'lang="ja"' in page.text
    response = await client.post(
        f"/setup/{token}",
        data={
            "csrf_token": CSRF_RE.search(page.text).group(1),
            "name": "山田 花子",
            "email": "hanako@example.jp",
            "password": ADMIN_PASSWORD,
            "password_again": ADMIN_PASSWORD,
        },
    )
    assert response.status_code == 303
    admin = (await db.execute(select(Person))).scalar_one()
    assert admin.language == "ja"
    client.cookies.delete("club_lang", domain="testserver.local")
    assert '<html lang="ja">' in (await client.get("/admin")).text


async def test_an_invited_admin_keeps_the_language_they_accepted_in(client, db):
    await log_in_admin(client, db)
    await post_form(
        client,
        "/admin/admins/invite",
        {"email": "kanazawa@example.jp", "name": "Coordinator", "language": "ja"},
        page="/admin/admins",
    )
    mail = (await mails_to(db, "kanazawa@example.jp"))[0]
    link = re.search(r"http://testserver(/admin/invite/\S+)", mail.text).group(1)
    client.cookies.clear()
    client.cookies.set("club_lang", "ja", domain="testserver.local")
    token = await csrf_token(client, link)
    response = await client.post(
        link,
        data={"csrf_token": token, "name": "Coordinator", "password": ADMIN_PASSWORD, "password_again": ADMIN_PASSWORD},
    )
    assert response.status_code == 303
    person = (await db.execute(select(Person).where(Person.email == "kanazawa@example.jp"))).scalar_one()
    assert person.language == "ja"


async def test_console_language_newsletter_language_and_zone_are_separate(client, db):
    admin_id = (await log_in_admin(client, db)).id
    response = await post_form(
        client,
        "/admin/security/settings",
        {"console_language": "en", "language": "ja", "time_zone": "Asia/Tokyo"},
        page="/admin/security",
    )
    assert response.status_code == 303
    db.expire_all()
    admin = await db.get(Person, admin_id)
    assert (admin.language, admin.page_language, admin.time_zone) == ("ja", "en", "Asia/Tokyo")
    page = (await client.get("/admin/audit")).text
    assert '<html lang="en">' in page
    assert re.search(r"<td>[^<]*\d:\d\d:\d\d[^<]* JST</td>", page)  # times say their zone
    # Every admin page, also those of other features (the mail queue here), through the shared filter.
    await post_form(
        client,
        "/admin/admins/invite",
        {"email": "zone@example.org", "name": "Zone", "language": "en"},
        page="/admin/admins",
    )
    await db.execute(update(Delivery).values(attempts=1, last_error="451 try again later"))
    await db.commit()
    queue = (await client.get("/admin/mail/queue")).text
    assert re.search(r"<td>[^<]*\d:\d\d:\d\d[^<]* JST</td>", queue)
    # The language switcher changes the console, not the newsletter the admin receives.
    await post_form(client, "/language", {"language": "nl", "next": "/admin"}, page="/admin")
    db.expire_all()
    admin = await db.get(Person, admin_id)
    assert (admin.language, admin.page_language) == ("ja", "nl")
    bad = await post_form(
        client,
        "/admin/security/settings",
        {"console_language": "xx", "language": "ja", "time_zone": "Mars/Olympus"},
        page="/admin/security",
    )
    assert bad.status_code == 400


async def test_an_admin_changes_their_password(client, db):
    await log_in_admin(client, db)
    wrong = await post_form(
        client,
        "/admin/security/password",
        {"current_password": "not it at all", "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        page="/admin/security",
    )
    assert wrong.status_code == 400 and "That is not your current password." in wrong.text
    response = await post_form(
        client,
        "/admin/security/password",
        {"current_password": ADMIN_PASSWORD, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        page="/admin/security",
    )
    assert response.status_code == 303
    assert (await client.get("/admin")).status_code == 200  # still logged in
    client.cookies.clear()
    assert (await login(client, "admin@example.org", ADMIN_PASSWORD)).status_code == 400
    assert (await login(client, "admin@example.org", NEW_PASSWORD)).status_code == 303
    assert "admin.password_change" in await actions(db)


async def test_a_forgotten_password_is_reset_through_a_single_use_link_by_mail(client, db):
    await make_admin(db)
    member = await make_person(db, email="member@example.org")
    for address in ("admin@example.org", member.email, "nobody@example.org"):
        token = await csrf_token(client, "/admin/password")
        page = await client.post("/admin/password", data={"csrf_token": token, "email": address})
        assert page.status_code == 200 and 'id="reset-sent"' in page.text  # the same answer for everyone
    assert await mails_to(db, member.email) == [] and await mails_to(db, "nobody@example.org") == []
    mail = (await mails_to(db, "admin@example.org"))[0]
    link = re.search(r"http://testserver(/admin/password/\S+)", mail.text).group(1)
    token = await csrf_token(client, link)
    short = await client.post(link, data={"csrf_token": token, "password": "short", "password_again": "short"})
    assert short.status_code == 400
    response = await client.post(
        link, data={"csrf_token": token, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    )
    assert response.status_code == 303
    assert (await client.get("/admin")).status_code == 200
    assert (await client.get(link)).status_code == 404  # used once
    client.cookies.clear()
    assert (await login(client, "admin@example.org", NEW_PASSWORD)).status_code == 303
    assert {"admin.password.reset_request", "admin.password.reset"} <= set(await actions(db))


async def test_pending_invitations_are_listed_resent_and_withdrawn(client, db):
    await log_in_admin(client, db)
    await post_form(
        client,
        "/admin/admins/invite",
        {"email": "later@example.org", "name": "Later Admin", "language": "nl"},
        page="/admin/admins",
    )
    page = (await client.get("/admin/admins")).text
    section = page.split('id="invitations"')[1].split("</section>")[0]
    assert "later@example.org" in section and "Later Admin" in section
    first_link = re.search(
        r"http://testserver(/admin/invite/\S+)", (await mails_to(db, "later@example.org"))[0].text
    ).group(1)
    invitation = re.search(r'name="invitation" value="([^"]+)"', section).group(1)
    response = await post_form(
        client, "/admin/admins/invitations/resend", {"invitation": invitation}, page="/admin/admins"
    )
    assert response.status_code == 303
    mails = await mails_to(db, "later@example.org")
    assert len(mails) == 2 and mails[1].language == "nl"
    second_link = re.search(r"http://testserver(/admin/invite/\S+)", mails[1].text).group(1)
    assert (await client.get(first_link)).status_code == 404
    assert (await client.get(second_link)).status_code == 200
    section = (await client.get("/admin/admins")).text.split('id="invitations"')[1].split("</section>")[0]
    invitation = re.search(r'name="invitation" value="([^"]+)"', section).group(1)
    await post_form(client, "/admin/admins/invitations/revoke", {"invitation": invitation}, page="/admin/admins")
    assert (await client.get(second_link)).status_code == 404
    assert (
        "later@example.org"
        not in (await client.get("/admin/admins")).text.split('id="invitations"')[1].split("</section>")[0]
    )
    forged = await post_form(client, "/admin/admins/invitations/revoke", {"invitation": "x" * 64}, page="/admin/admins")
    assert forged.status_code == 404


async def test_two_factor_login_can_be_required_for_every_admin(client, db):
    await log_in_admin(client, db)
    refused = await post_form(client, "/admin/admins/require-totp", {"required": "1"}, page="/admin/admins")
    assert refused.headers["location"] == "/admin/security"  # the one who requires it needs it first
    await enable_totp(client, db)
    response = await post_form(client, "/admin/admins/require-totp", {"required": "1"}, page="/admin/admins")
    assert response.status_code == 303
    assert (await client.get("/admin/members")).status_code == 200
    other = await make_admin(db, email="other@example.org", name="Other Admin")
    client.cookies.clear()
    await log_in(client, db, other)
    blocked = await client.get("/admin/members")
    assert blocked.status_code == 303 and blocked.headers["location"] == "/admin/security"
    page = await client.get("/admin/security")
    assert page.status_code == 200 and "Two-factor login is required for every admin" in page.text


async def test_the_role_select_invites_instead_of_making_an_admin_without_a_password(client, db):
    await log_in_admin(client, db)
    member = await make_person(db, name="Promoted Member", email="promote@example.org", language="nl")
    member_id = member.id
    edit = f"/admin/members/{member_id}/edit"
    page = (await client.get(edit)).text
    assert "Admin (by invitation)" in page
    response = await post_form(
        client,
        edit,
        {"name": member.name, "email": member.email, "city": "ghent", "language": "nl", "role": "admin"},
        page=edit,
    )
    assert response.status_code == 303
    db.expire_all()
    member = await db.get(Person, member_id)
    assert member.role == "member" and member.password_hash is None
    mails = await mails_to(db, "promote@example.org")
    assert len(mails) == 1 and "/admin/invite/" in mails[0].text and mails[0].language == "nl"
    assert "admin.promote" in await actions(db)


async def test_a_reset_link_does_not_skip_the_second_factor(client, db):
    await log_in_admin(client, db)
    await enable_totp(client, db)
    client.cookies.clear()
    token = await csrf_token(client, "/admin/password")
    await client.post("/admin/password", data={"csrf_token": token, "email": "admin@example.org"})
    mail = (await mails_to(db, "admin@example.org"))[-1]
    link = re.search(r"http://testserver(/admin/password/\S+)", mail.text).group(1)
    token = await csrf_token(client, link)
    response = await client.post(
        link, data={"csrf_token": token, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    )
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"
    assert (await client.get("/admin")).status_code == 303  # not logged in
    page = await client.get("/admin/login")
    assert "Log in with it and a code from your app." in page.text
    step = await login(client, "admin@example.org", NEW_PASSWORD)
    assert step.status_code == 200 and 'name="token"' in step.text  # the code is still asked
