"""Admins keep the list of interests and the welcome mail per language."""

from sqlalchemy import select

from club.members.models import Interest, WelcomeText
from tests.factories import csrf_token, log_in, make_admin, make_person
from tests.helpers import client_from, html_of, link_in, signup, text_of


async def test_only_admins_reach_the_admin_pages(client, db):
    for path in ("/admin/interests", "/admin/welcome"):
        assert (await client.get(path)).status_code == 303
    await log_in(client, db, await make_person(db))
    for path in ("/admin/interests", "/admin/welcome"):
        assert (await client.get(path)).status_code == 403


async def test_admin_adds_renames_and_deletes_an_interest(app, client, db):
    await log_in(client, db, await make_admin(db))
    page = await client.get("/admin/interests")
    assert page.status_code == 200 and "Jazz and music" in page.text
    token = await csrf_token(client, "/admin/interests")
    added = await client.post(
        "/admin/interests", data={"csrf_token": token, "name_nl": "Tuinen", "name_en": "Gardens", "name_ja": "庭園"}
    )
    assert added.status_code == 303
    interest_id = (await db.execute(select(Interest.id).where(Interest.slug == "gardens"))).scalar_one()
    async with client_from(app, "198.51.100.1") as visitor:
        assert "庭園" in (await visitor.get("/join", headers={"Accept-Language": "ja"})).text
    duplicate = await client.post(
        "/admin/interests", data={"csrf_token": token, "name_nl": "x", "name_en": "Gardens!", "name_ja": "x"}
    )
    assert duplicate.status_code == 400
    renamed = await client.post(
        f"/admin/interests/{interest_id}",
        data={"csrf_token": token, "name_nl": "Japanse tuinen", "name_en": "Japanese gardens", "name_ja": "日本庭園"},
    )
    assert renamed.status_code == 303
    db.expire_all()
    assert (await db.get(Interest, interest_id)).name_nl == "Japanse tuinen"
    bad = await client.post(
        f"/admin/interests/{interest_id}",
        data={"csrf_token": token, "name_nl": "<b>", "name_en": "", "name_ja": "x" * 101},
    )
    assert bad.status_code == 400 and "A name cannot contain" in bad.text
    deleted = await client.post(f"/admin/interests/{interest_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    db.expire_all()
    assert await db.get(Interest, interest_id) is None
    assert (await client.post("/admin/interests/99999/delete", data={"csrf_token": token})).status_code == 404


async def test_the_welcome_mail_uses_the_admins_text_in_the_members_language(client, db, mailbox):
    await log_in(client, db, await make_admin(db))
    token = await csrf_token(client, "/admin/welcome")
    saved = await client.post(
        "/admin/welcome/nl",
        data={
            "csrf_token": token,
            "subject": "Welkom in de club, %%name%%",
            "body": "Beste %%name%%,\n\nKom naar de <receptie> in het Citadelpark.",
        },
    )
    assert saved.status_code == 303
    assert (await db.get(WelcomeText, "nl")) is not None
    bad = await client.post("/admin/welcome/nl", data={"csrf_token": token, "subject": "a\r\nBcc: x", "body": ""})
    assert bad.status_code == 400
    assert (
        await client.post("/admin/welcome/fr", data={"csrf_token": token, "subject": "x", "body": "y"})
    ).status_code == 404
    client.cookies.clear()
    token = await csrf_token(client, "/join")
    await client.post("/join", data=signup(token, email="jan@example.be", name="Jan", language="nl"))
    await mailbox.wait_for(1)
    path = link_in(mailbox.messages[0])
    await client.post(path, data={"csrf_token": await csrf_token(client, path)})
    await mailbox.wait_for(2)
    welcome = mailbox.messages[1]
    assert "Citadelpark" in text_of(welcome) and "Beste Jan," in text_of(welcome)
    assert "&lt;receptie&gt;" in html_of(welcome) and "<receptie>" not in html_of(welcome)


async def test_admin_can_go_back_to_the_built_in_welcome_text(client, db):
    await log_in(client, db, await make_admin(db))
    token = await csrf_token(client, "/admin/welcome")
    await client.post("/admin/welcome/ja", data={"csrf_token": token, "subject": "ようこそ", "body": "本文"})
    assert await db.get(WelcomeText, "ja") is not None
    await client.post("/admin/welcome/ja", data={"csrf_token": token, "reset": "1"})
    db.expire_all()
    assert await db.get(WelcomeText, "ja") is None
