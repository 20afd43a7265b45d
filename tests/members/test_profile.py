"""The profile: details, interests, language and newsletter; consent history; export; erasure."""

import json

from sqlalchemy import func, select

from club.accounts import tokens
from club.accounts.models import AuthSession, OneTimeToken, Person
from club.mail.models import Delivery, Mail
from club.mail.outbox import queue_mail
from club.members import service
from club.members.models import Consent, ErasureCount, MemberInterest
from tests.factories import csrf_token, log_in, make_person
from tests.helpers import signup


async def count(db, model) -> int:
    return (await db.execute(select(func.count()).select_from(model))).scalar_one()


def profile_form(token, **fields):
    data = signup(token, **fields)
    data.pop("email", None)
    return data


async def test_the_profile_needs_a_login(client):
    response = await client.get("/me")
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/me"


async def test_a_member_changes_details_interests_language_and_newsletter(client, db):
    person = await make_person(db, name="Jan", language="en", city="ghent")
    person_id = person.id
    await log_in(client, db, person)
    page = await client.get("/me")
    assert page.status_code == 200 and person.email in page.text
    token = await csrf_token(client, "/me")
    response = await client.post(
        "/me",
        data=profile_form(
            token, name="Jan Peeters", city="kanazawa", language="nl", interests=["sport", "youth"], newsletter="yes"
        ),
    )
    assert response.status_code == 303
    assert "club_lang=nl" in response.headers["set-cookie"]
    db.expire_all()
    person = await db.get(Person, person_id)
    assert (person.name, person.city, person.language, person.newsletter) == ("Jan Peeters", "kanazawa", "nl", True)
    interests = await service.interests_of(db, person.id)
    assert [i.slug for i in interests] == ["sport", "youth"]
    consent = (await db.execute(select(Consent))).scalar_one()
    assert consent.given and consent.method == "form" and consent.language == "en"
    after = await client.get(response.headers["location"])
    assert '<html lang="nl">' in after.text and "Toestemmingen" in after.text
    assert "Je wijzigingen zijn opgeslagen." in after.text


async def test_the_consent_history_shows_every_change(client, db):
    person = await make_person(db)
    await log_in(client, db, person)
    token = await csrf_token(client, "/me")
    await client.post("/me", data=profile_form(token, language="en", newsletter="yes"))
    await client.post("/me", data=profile_form(token, language="en", newsletter="yes"))  # no change: no record
    await client.post("/me", data=profile_form(token, language="en", newsletter=None))
    page = await client.get("/me")
    assert page.text.count("Newsletter: yes") == 1 and page.text.count("Newsletter: no") == 1
    assert service.NEWSLETTER_CONSENT_VERSION in page.text
    assert [c.given for c in await service.consent_history(db, person.id)] == [True, False]


async def test_bad_profile_input_changes_nothing(client, db):
    person = await make_person(db, name="Jan")
    person_id = person.id
    await log_in(client, db, person)
    token = await csrf_token(client, "/me")
    for fields in ({"name": "x" * 10_000}, {"name": "<b>Jan</b>"}, {"name": "Jan\nX"}, {"language": "de"}):
        response = await client.post("/me", data=profile_form(token, **fields))
        assert response.status_code == 400
    assert (await client.post("/me", data=profile_form(""))).status_code == 403
    db.expire_all()
    assert (await db.get(Person, person_id)).name == "Jan"
    assert await count(db, Consent) == 0


async def test_export_holds_profile_interests_consents_and_mails_of_this_member_only(client, db):
    person = await make_person(db, email="jan@example.be", name="Jan", city="ghent", language="nl")
    other = await make_person(db, email="other@example.org", name="Other")
    await service.set_interests(db, person, ["food"])
    await service.set_newsletter(db, person, True, method="form", language="nl")
    await queue_mail(
        db,
        to_email=person.email,
        to_name=person.name,
        subject="Hallo",
        text="t",
        html="h",
        language="nl",
        person_id=person.id,
    )
    await queue_mail(
        db,
        to_email=other.email,
        to_name=other.name,
        subject="Private",
        text="t",
        html="h",
        language="en",
        person_id=other.id,
    )
    await db.commit()
    await log_in(client, db, person)
    response = await client.get("/me/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert "attachment" in response.headers["content-disposition"]
    data = json.loads(response.text)
    assert data["profile"]["email"] == "jan@example.be" and data["profile"]["city"] == "ghent"
    assert data["interests"] == [{"slug": "food", "name": "Eten"}]
    assert [(c["given"], c["method"], c["text_version"]) for c in data["consents"]] == [
        (True, "form", service.NEWSLETTER_CONSENT_VERSION)
    ]
    assert "nieuwsbrief" in data["consents"][0]["text"]  # the exact text, in the language it was shown
    assert [m["subject"] for m in data["mails"]] == ["Hallo"]
    assert data["activities"] == []
    assert "other@example.org" not in response.text and "Private" not in response.text


async def test_erasure_needs_the_confirmation_step(client, db):
    person = await make_person(db)
    await log_in(client, db, person)
    page = await client.get("/me/erase")
    assert page.status_code == 200 and 'name="confirm"' in page.text
    token = await csrf_token(client, "/me/erase")
    assert (await client.post("/me/erase", data={"csrf_token": token})).status_code == 400
    assert (await client.post("/me/erase", data={"confirm": "yes"})).status_code == 403
    assert await db.get(Person, person.id) is not None


async def test_erasure_removes_personal_data_everywhere_and_keeps_an_anonymous_count(app, client, db):
    person = await make_person(db, email="jan@example.be", name="Jan Van den Bossche")
    person_id = person.id
    await service.set_interests(db, person, ["food", "sport"])
    await service.set_newsletter(db, person, True, method="form", language="en")
    await queue_mail(
        db,
        to_email=person.email,
        to_name=person.name,
        subject="Welcome",
        text="Hello Jan, link",
        html="<p>Hello Jan</p>",
        language="en",
        person_id=person.id,
    )
    await tokens.issue(db, service.LOGIN_PURPOSE, service.LOGIN_LIFETIME, person_id=person.id)
    await db.commit()
    from tests.helpers import client_from

    async with client_from(app, "198.51.100.9") as other_browser:
        await log_in(other_browser, db, person)
        await log_in(client, db, person)
        token = await csrf_token(client, "/me/erase")
        response = await client.post("/me/erase", data={"csrf_token": token, "confirm": "yes"})
        assert response.status_code == 303 and response.headers["location"] == "/goodbye"
        assert (await other_browser.get("/me")).status_code == 303  # logged out everywhere
    db.expire_all()
    assert await db.get(Person, person_id) is None
    for model in (AuthSession, OneTimeToken, Consent, MemberInterest):
        assert await count(db, model) == 0, model
    delivery = (await db.execute(select(Delivery))).scalar_one()
    assert delivery.person_id is None and delivery.to_email != "jan@example.be" and delivery.to_name == ""
    mail = (await db.execute(select(Mail))).scalar_one()
    assert "Jan" not in mail.text + mail.html
    assert (await db.execute(select(func.sum(ErasureCount.count)))).scalar_one() == 1
    goodbye = await client.get("/goodbye")
    assert goodbye.status_code == 200 and "erased" in goodbye.text
