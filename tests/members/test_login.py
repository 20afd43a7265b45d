"""Passwordless login: a single-use link valid 10 minutes, confirmed by one POST; no account enumeration."""

import datetime as dt

from sqlalchemy import func, select, update

from club.accounts.models import AuthSession, OneTimeToken
from club.db import utcnow
from club.mail.models import Delivery
from tests.factories import csrf_token, make_admin, make_person
from tests.helpers import client_from, link_in, text_of


async def ask(client, email, next_url="/me"):
    token = await csrf_token(client, "/login")
    return await client.post("/login", data={"email": email, "csrf_token": token, "next": next_url})


async def test_a_member_logs_in_with_the_link_from_the_mail(app, client, db, mailbox):
    await make_person(db, email="hanako@example.jp", name="山田 花子", language="ja")
    response = await ask(client, "Hanako@Example.JP")
    assert response.status_code == 303 and response.headers["location"] == "/login/sent"
    await mailbox.wait_for(1)
    mail = mailbox.to("hanako@example.jp")[0]
    assert "ログイン" in mail["Subject"] and "10分" in text_of(mail)
    path = link_in(mail)
    assert path.startswith("/login/")
    page = await client.get(path)
    assert page.status_code == 200 and "autosubmit" not in page.text and "<script" not in page.text
    assert (await db.execute(select(func.count()).select_from(AuthSession))).scalar_one() == 0
    form_token = await csrf_token(client, path)
    logged_in = await client.post(path, data={"csrf_token": form_token})
    assert logged_in.status_code == 303 and logged_in.headers["location"] == "/me"
    assert (await client.get("/me")).status_code == 200
    reused = await client.post(path, data={"csrf_token": form_token})
    assert reused.status_code == 303 and reused.headers["location"] == "/me"  # logged in: to the account
    async with client_from(app, "192.0.2.9") as stranger:
        used = await stranger.post(path, data={"csrf_token": await csrf_token(stranger, "/login")})
        assert used.status_code == 400 and "no longer works" in used.text


async def test_the_link_takes_the_member_back_where_they_were_going(client, db, mailbox):
    await make_person(db, email="jan@example.be")
    assert (await client.get("/me/export")).headers["location"] == "/login?next=/me/export"
    page = await client.get("/login?next=/me/export")
    assert 'name="next" value="/me/export"' in page.text
    await ask(client, "jan@example.be", next_url="/me/export")
    await mailbox.wait_for(1)
    path = link_in(mailbox.messages[0])
    response = await client.post(path, data={"csrf_token": await csrf_token(client, path)})
    assert response.headers["location"] == "/me/export"


async def test_a_login_link_expires_after_10_minutes(client, db, mailbox):
    await make_person(db, email="jan@example.be")
    await ask(client, "jan@example.be")
    expires_at = (await db.execute(select(OneTimeToken.expires_at))).scalar_one()
    assert dt.timedelta(minutes=9) < expires_at - utcnow() <= dt.timedelta(minutes=10)
    await mailbox.wait_for(1)
    path = link_in(mailbox.messages[0])
    form_token = await csrf_token(client, "/login")
    await db.execute(update(OneTimeToken).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    await db.commit()
    assert (await client.get(path)).status_code == 400
    assert (await client.post(path, data={"csrf_token": form_token})).status_code == 400
    assert (await db.execute(select(func.count()).select_from(AuthSession))).scalar_one() == 0


async def test_known_and_unknown_addresses_get_the_same_page(client, db, mailbox):
    await make_person(db, email="member@example.org")
    known = await ask(client, "member@example.org")
    unknown = await ask(client, "stranger@example.org")
    assert known.status_code == unknown.status_code == 303
    assert known.headers["location"] == unknown.headers["location"]
    assert known.text == unknown.text
    await mailbox.wait_for(1)
    addresses = (await db.execute(select(Delivery.to_email))).scalars().all()
    assert addresses == ["member@example.org"]


async def test_an_unconfirmed_sign_up_asking_to_log_in_gets_a_fresh_confirmation_link(client, db, mailbox):
    await make_person(db, email="pending@example.org", confirmed=False)
    await ask(client, "pending@example.org")
    await mailbox.wait_for(1)
    assert link_in(mailbox.messages[0]).startswith("/join/confirm/")


async def test_admins_do_not_get_login_links(client, db):
    await make_admin(db)
    await ask(client, "admin@example.org")
    assert (await db.execute(select(func.count()).select_from(Delivery))).scalar_one() == 0


async def test_login_refuses_bad_input_and_missing_csrf(client, db):
    response = await ask(client, "not an address")
    assert response.status_code == 400 and "Enter an email address" in response.text
    await client.get("/login")
    assert (await client.post("/login", data={"email": "a@example.org"})).status_code == 403
    assert (await client.post("/login/" + "A" * 43, data={})).status_code == 403
    forged = await client.post("/login/" + "A" * 43, data={"csrf_token": await csrf_token(client, "/login")})
    assert forged.status_code == 400


async def test_login_requests_are_rate_limited_per_ip_and_per_address(app, client, db):
    statuses = [(await ask(client, f"someone{n}@example.org")).status_code for n in range(25)]
    assert statuses[:20] == [303] * 20 and statuses[20:] == [429] * 5
    per_address = []
    for n in range(7):
        async with client_from(app, f"198.51.100.{n + 1}") as other:
            per_address.append((await ask(other, "target@example.org")).status_code)
    assert per_address == [303] * 5 + [429] * 2
    page = await ask(client, "x@example.org")
    assert "Too many requests" in page.text


async def test_a_new_login_link_makes_the_older_ones_unusable(client, db, mailbox):
    """Issue 12 item 10: every link mailed stayed valid for its 10 minutes, however many were asked for."""
    await make_person(db, email="jan@example.be")
    await ask(client, "jan@example.be")
    await ask(client, "jan@example.be")
    await mailbox.wait_for(2)
    older, newer = (link_in(m) for m in mailbox.to("jan@example.be"))
    assert older != newer
    form_token = await csrf_token(client, "/login")
    assert (await client.get(older)).status_code == 400
    refused = await client.post(older, data={"csrf_token": form_token})
    assert refused.status_code == 400 and "club_session" not in refused.cookies
    assert (await db.execute(select(func.count()).select_from(AuthSession))).scalar_one() == 0
    assert (await client.get(newer)).status_code == 200
    assert (await client.post(newer, data={"csrf_token": form_token})).status_code == 303


async def test_the_link_pages_log_in_and_confirm_only_on_the_persons_click(client, db, mailbox):
    """A mail scanner that runs the page's JavaScript must not use the link: no script submits the form."""
    await make_person(db, email="jan@example.be")
    await ask(client, "jan@example.be")
    await mailbox.wait_for(1)
    path = link_in(mailbox.messages[0])
    page = await client.get(path)
    assert page.status_code == 200
    assert "<script" not in page.text and "autosubmit" not in page.text and "onload" not in page.text
    assert page.text.count("<form") - page.text.count('action="/logout"') - page.text.count('action="/language"') == 1
    assert f'<form method="post" action="{path}" novalidate>' in page.text
    assert (await client.get("/static/js/autosubmit.js")).status_code == 404
    assert (await db.execute(select(func.count()).select_from(AuthSession))).scalar_one() == 0
