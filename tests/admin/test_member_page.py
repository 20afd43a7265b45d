"""One member's page: profile, consents, mails, sessions; edit, suppress, delete, revoke, re-permission."""

import datetime as dt
import re

from sqlalchemy import select

from club.accounts.models import AuthSession, Person
from club.db import utcnow
from club.mail.models import Delivery, Mail
from club.members import service as members
from club.members.models import Consent
from tests.factories import make_person
from tests.helpers import actions, log_in_admin, post_form


async def member_with_history(db) -> int:
    person = await make_person(db, name="Hanako Yamada", email="hanako@example.jp", language="ja")
    await members.set_newsletter(db, person, True, method="form", language="ja")
    await members.set_newsletter(db, person, False, method="one-click", language="ja")
    db.add(
        AuthSession(
            id="s" * 64,
            person_id=person.id,
            expires_at=utcnow() + dt.timedelta(days=1),
            ip="198.51.100.4",
            user_agent="Firefox",
        )
    )
    await db.commit()
    return person.id


async def test_member_page_shows_profile_consents_and_sessions(client, db):
    await log_in_admin(client, db)
    member_id = await member_with_history(db)
    page = await client.get(f"/admin/members/{member_id}")
    assert page.status_code == 200
    assert "hanako@example.jp" in page.text
    assert "Given" in page.text and "Withdrawn" in page.text
    assert "198.51.100.4" in page.text
    assert (await client.get("/admin/members/999999")).status_code == 404


async def test_revoking_a_session_logs_the_member_out(client, db):
    await log_in_admin(client, db)
    member_id = await member_with_history(db)
    response = await post_form(
        client, f"/admin/members/{member_id}/sessions/revoke", {"session": "s" * 64}, page=f"/admin/members/{member_id}"
    )
    assert response.status_code == 303
    assert (await db.execute(select(AuthSession).where(AuthSession.person_id == member_id))).first() is None
    assert "member.session.revoke" in await actions(db)


async def test_edit_saves_and_refuses_bad_input_keeping_it(client, db):
    await log_in_admin(client, db)
    member_id = await member_with_history(db)
    await make_person(db, email="taken@example.org")
    url = f"/admin/members/{member_id}/edit"
    bad = await post_form(
        client,
        url,
        {
            "name": "<script>x</script>",
            "email": "taken@example.org",
            "city": "paris",
            "language": "ja",
            "role": "member",
        },
        page=url,
    )
    assert bad.status_code == 400
    assert "&lt;script&gt;" in bad.text and "Choose one of the options." in bad.text
    good = await post_form(
        client,
        url,
        {
            "name": "山田 花子",
            "email": "Hanako@Example.JP",
            "city": "kanazawa",
            "language": "ja",
            "role": "ambassador",
            "interests": ["food"],
        },
        page=url,
    )
    assert good.status_code == 303
    db.expire_all()
    person = await db.get(Person, member_id)
    assert (person.name, person.city, person.role) == ("山田 花子", "kanazawa", "ambassador")
    assert (await db.execute(select(AuthSession).where(AuthSession.person_id == member_id))).first() is None
    assert "member.edit" in await actions(db)


async def test_delete_asks_for_the_address_then_erases(client, db):
    await log_in_admin(client, db)
    member_id = await member_with_history(db)
    url = f"/admin/members/{member_id}/delete"
    assert "type the member" in (await client.get(url)).text
    wrong = await post_form(client, url, {"confirm_email": "someone@else.org"}, page=url)
    assert wrong.status_code == 400
    assert await db.get(Person, member_id) is not None
    response = await post_form(client, url, {"confirm_email": "hanako@example.jp"}, page=url)
    assert response.status_code == 303
    db.expire_all()
    assert await db.get(Person, member_id) is None
    assert (await db.execute(select(Consent))).first() is None
    assert "member.delete" in await actions(db)


async def test_suppress_and_repermission(client, db):
    await log_in_admin(client, db)
    member_id = await member_with_history(db)
    response = await post_form(client, f"/admin/members/{member_id}/repermission", page=f"/admin/members/{member_id}")
    assert response.headers["location"] == f"/admin/members/{member_id}"
    assert "The re-permission mail is on its way." in (await client.get(response.headers["location"])).text
    delivery, mail = (await db.execute(select(Delivery, Mail).join(Mail))).one()
    assert delivery.to_email == "hanako@example.jp" and mail.language == "ja"
    link = re.search(r"http://testserver(/newsletter/opt-in/\S+)", mail.text).group(1)
    page = await client.get(link)
    assert page.status_code == 200
    db.expire_all()
    assert (await db.get(Person, member_id)).newsletter is False  # a GET changes nothing
    response = await post_form(client, link, page=link)
    assert response.status_code == 200
    db.expire_all()
    assert (await db.get(Person, member_id)).newsletter is True
    assert (await post_form(client, link, page="/admin")).status_code == 404  # single use

    await post_form(
        client, f"/admin/members/{member_id}/suppress", {"reason": "bounces"}, page=f"/admin/members/{member_id}"
    )
    db.expire_all()
    assert (await db.get(Person, member_id)).suppressed_at is not None
    assert "Suppressed since" in (await client.get(f"/admin/members/{member_id}")).text
