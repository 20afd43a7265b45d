"""The member list keeps its rendered table, its counts and its interest choices under people_count.version (0017),
and yet shows every change on the very next request, whoever made it: a join, an admin's edit or delete, a
member's erasure or interests, or SQL typed by hand."""

import re
from html import unescape

import pytest
from sqlalchemy import select, text

from club.accounts.models import Person
from club.mail.models import Delivery, Mail
from tests.factories import add_members, csrf_token, log_in, make_person
from tests.helpers import client_from, log_in_admin, post_form, signup

ROW_NAME = re.compile(r'<a href="/admin/members/\d+">([^<]+)</a>')
COUNT = re.compile(r'<p role="status" id="result-count">([^<]*)</p>')


async def listed(client, **params) -> tuple[list[str], str]:
    """The names in the list (by name) and its count line."""
    response = await client.get("/admin/members", params={"sort": "name", **params})
    assert response.status_code == 200
    return [unescape(name) for name in ROW_NAME.findall(response.text)], COUNT.search(response.text).group(1)


async def version(db) -> int:
    return (await db.execute(text("SELECT version FROM people_count"))).scalar_one()


async def person_id(db, email: str) -> int:
    return (await db.execute(select(Person.id).where(Person.email == email))).scalar_one()


@pytest.fixture
async def admin_with_members(client, db):
    await log_in_admin(client, db)
    await add_members(
        db,
        [
            {"name": "Jan Van den Bossche", "email": "jan@gent.be", "city": "elsewhere"},
            {"name": "Els Peeters", "email": "els@gent.be", "city": "elsewhere"},
        ],
    )


async def test_a_new_member_shows_as_soon_as_they_join_and_confirm(app, client, db, admin_with_members):
    assert await listed(client) == (["Admin Gent", "Els Peeters", "Jan Van den Bossche"], "3 members found")
    assert await listed(client, status="unconfirmed") == ([], "0 members found")
    async with client_from(app, "198.51.100.20") as visitor:
        token = await csrf_token(visitor, "/join")
        assert (await visitor.post("/join", data=signup(token))).status_code == 303
        names, count = await listed(client)
        assert "山田 花子" in names and count == "4 members found"
        assert await listed(client, status="unconfirmed") == (["山田 花子"], "1 member found")
        mail = (await db.execute(select(Mail).join(Delivery).where(Delivery.to_email == "hanako@example.jp"))).scalar()
        path = re.search(r"/join/confirm/[^\s\"<]+", mail.text).group(0)
        response = await visitor.post(path, data={"csrf_token": await csrf_token(visitor, path)})
        assert response.status_code == 303 and response.headers["location"] == "/me"
    assert await listed(client, status="unconfirmed") == ([], "0 members found")
    assert "山田 花子" in (await listed(client, status="confirmed"))[0]


async def test_an_admins_edit_shows_at_once_and_the_city_filter_follows(client, db, admin_with_members):
    jan = await person_id(db, "jan@gent.be")
    assert "Jan Van den Bossche" in (await listed(client))[0]
    assert await listed(client, city="elsewhere") == (["Els Peeters", "Jan Van den Bossche"], "2 members found")
    assert await listed(client, city="kanazawa") == ([], "0 members found")
    url = f"/admin/members/{jan}/edit"
    edit = {"name": "Jan Kanazawa", "email": "jan@gent.be", "city": "kanazawa", "language": "nl", "role": "member"}
    assert (await post_form(client, url, edit, page=url)).status_code == 303
    names, _count = await listed(client)
    assert "Jan Kanazawa" in names and "Jan Van den Bossche" not in names
    assert await listed(client, city="elsewhere") == (["Els Peeters"], "1 member found")
    assert await listed(client, city="kanazawa") == (["Jan Kanazawa"], "1 member found")


async def test_an_erased_or_deleted_member_is_gone_from_the_list_and_the_count(app, client, db, admin_with_members):
    assert await listed(client) == (["Admin Gent", "Els Peeters", "Jan Van den Bossche"], "3 members found")
    assert await listed(client, city="elsewhere") == (["Els Peeters", "Jan Van den Bossche"], "2 members found")
    els = (await db.execute(select(Person).where(Person.email == "els@gent.be"))).scalar_one()
    async with client_from(app, "198.51.100.21") as member:
        await log_in(member, db, els)
        token = await csrf_token(member, "/me/erase")
        assert (await member.post("/me/erase", data={"csrf_token": token, "confirm": "yes"})).status_code == 303
    assert await listed(client) == (["Admin Gent", "Jan Van den Bossche"], "2 members found")
    assert await listed(client, city="elsewhere") == (["Jan Van den Bossche"], "1 member found")
    url = f"/admin/members/{await person_id(db, 'jan@gent.be')}/delete"
    assert (await post_form(client, url, {"confirm_email": "jan@gent.be"}, page=url)).status_code == 303
    assert await listed(client) == (["Admin Gent"], "1 member found")
    assert await listed(client, city="elsewhere") == ([], "0 members found")


async def test_the_interest_filter_follows_a_members_interests(app, client, db, admin_with_members):
    jan = (await db.execute(select(Person).where(Person.email == "jan@gent.be"))).scalar_one()
    assert await listed(client, interest="food") == ([], "0 members found")
    async with client_from(app, "198.51.100.22") as member:
        await log_in(member, db, jan)
        profile = {"name": jan.name, "city": "elsewhere", "language": "en", "interests": ["food"]}
        assert (await post_form(member, "/me", profile, page="/me")).status_code == 303
        assert await listed(client, interest="food") == (["Jan Van den Bossche"], "1 member found")
        assert (await post_form(member, "/me", {**profile, "interests": ["sport"]}, page="/me")).status_code == 303
    assert await listed(client, interest="food") == ([], "0 members found")
    assert await listed(client, interest="sport") == (["Jan Van den Bossche"], "1 member found")


async def test_changes_made_by_hand_in_sql_show_at_once(client, db, admin_with_members):
    jan = await person_id(db, "jan@gent.be")
    await db.execute(
        text("INSERT INTO member_interests (person_id, interest_id) SELECT :id, id FROM interests WHERE slug = 'food'"),
        {"id": jan},
    )
    await db.commit()
    assert "Jan Van den Bossche" in (await listed(client))[0]
    assert await listed(client, interest="food") == (["Jan Van den Bossche"], "1 member found")
    page = await client.get("/admin/members")
    assert 'value="food"' in page.text and 'value="cuisine"' not in page.text
    await db.execute(text("UPDATE people SET name = 'Jan Handwerk' WHERE id = :id"), {"id": jan})
    await db.execute(text("UPDATE interests SET slug = 'cuisine' WHERE slug = 'food'"))
    await db.commit()
    assert (await listed(client))[0] == ["Admin Gent", "Els Peeters", "Jan Handwerk"]
    assert await listed(client, interest="food") == ([], "0 members found")
    assert await listed(client, interest="cuisine") == (["Jan Handwerk"], "1 member found")
    page = await client.get("/admin/members")
    assert 'value="cuisine"' in page.text and 'value="food"' not in page.text
    await db.execute(text("DELETE FROM member_interests WHERE person_id = :id"), {"id": jan})
    await db.commit()
    assert await listed(client, interest="cuisine") == ([], "0 members found")
    await db.execute(text("DELETE FROM people WHERE id = :id"), {"id": jan})
    await db.commit()
    assert await listed(client) == (["Admin Gent", "Els Peeters"], "2 members found")


async def test_the_count_of_a_later_page_follows_a_change(client, db):
    """Past the first page the count is a query of its own, kept under the version like the table."""
    await log_in_admin(client, db)
    await add_members(
        db, [{"name": f"Lid {index:03d}", "email": f"l{index}@gent.be", "city": "kanazawa"} for index in range(55)]
    )
    first = await client.get("/admin/members", params={"city": "kanazawa", "sort": "name"})
    second_url = re.search(r'<a href="([^"]+)" rel="next">', first.text).group(1).replace("&amp;", "&")
    assert "51–55 of 55" in (await client.get(second_url)).text
    await make_person(db, email="nieuw@gent.be", name="Zeger Nieuw", city="kanazawa")
    second = await client.get(second_url)
    assert "51–56 of 56" in second.text and "Zeger Nieuw" in second.text


async def test_the_version_goes_up_with_every_change_of_the_members_and_their_interests(db):
    """0017's triggers, straight on the database: insert, update, delete of people, member_interests and interests
    each raise it once committed; members is still counted."""
    before = await version(db)
    person = await make_person(db, email="v@gent.be")  # commits
    after_insert = await version(db)
    assert after_insert > before
    await db.execute(text("UPDATE people SET name = 'V' WHERE id = :id"), {"id": person.id})
    await db.commit()
    after_update = await version(db)
    assert after_update > after_insert
    await db.execute(text("UPDATE interests SET name_en = name_en || '!' WHERE slug = 'food'"))
    await db.commit()
    after_interests = await version(db)
    assert after_interests > after_update
    await db.execute(
        text("INSERT INTO member_interests (person_id, interest_id) SELECT :id, id FROM interests WHERE slug = 'food'"),
        {"id": person.id},
    )
    await db.commit()
    after_member_interest = await version(db)
    assert after_member_interest > after_interests
    await db.execute(text("UPDATE people SET name = 'V' WHERE id = -1"))  # changes nothing
    await db.commit()
    assert await version(db) == after_member_interest
    await db.execute(text("DELETE FROM people WHERE id = :id"), {"id": person.id})
    await db.commit()
    assert await version(db) > after_member_interest
    assert (await db.execute(text("SELECT members FROM people_count"))).scalar_one() == 0


async def test_the_kept_list_comes_gzipped_as_the_very_page_it_is_plain(client, db, admin_with_members):
    await client.get("/admin/members")  # the keep is filled, the CSRF cookie set
    plain = await client.get("/admin/members", headers={"accept-encoding": "identity"})
    packed = await client.get("/admin/members", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    # The kept part went out deflated once, joined with the rest of the page: one gzip stream, the same page.
    assert packed.headers["content-encoding"] == "gzip" and "Accept-Encoding" in packed.headers["vary"]
    assert packed.text == plain.text and "Jan Van den Bossche" in packed.text
