"""Join with double opt-in: the form, the confirmation mail and link, the welcome mail, bad input, rate limits."""

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from club.accounts.models import AuthSession, OneTimeToken, Person
from club.db import utcnow
from club.mail.models import Delivery, Mail
from club.members import service
from club.members.models import Consent, Interest, MemberInterest
from club.ratelimit import RateCounter
from tests.factories import csrf_token, log_in, make_person
from tests.helpers import client_from, html_of, link_in, signup, text_of


async def count(db, model) -> int:
    return (await db.execute(select(func.count()).select_from(model))).scalar_one()


async def person_by_email(db, email):
    db.expire_all()
    return (await db.execute(select(Person).where(Person.email == email))).scalar_one_or_none()


async def test_join_form_has_the_fields_interests_unticked_consent_and_privacy_link(client):
    page = await client.get("/join")
    assert page.status_code == 200
    for name in ("email", "name", "city", "language", "interests", "newsletter", "csrf_token"):
        assert f'name="{name}"' in page.text
    for slug in (
        "student-exchange",
        "culture-crafts",
        "tourism-promotion",
        "sport",
        "youth",
        "jazz-music",
        "food",
        "sustainability",
    ):
        assert f'value="{slug}"' in page.text
    assert 'name="newsletter" value="yes">' in page.text  # not checked by default
    assert "unsubscribe at any time" in page.text
    assert 'href="/privacy"' in page.text


async def test_join_form_shows_the_interests_in_the_page_language(client):
    page = await client.get("/join", headers={"Accept-Language": "ja"})
    assert "ジャズ・音楽" in page.text and "持続可能性" in page.text
    assert '<html lang="ja">' in page.text


async def test_join_stores_an_unconfirmed_member_and_mails_a_link_in_their_language(client, db, mailbox):
    token = await csrf_token(client, "/join")
    response = await client.post("/join", data=signup(token))
    assert response.status_code == 303
    assert response.headers["location"] == "/join/sent"
    person = await person_by_email(db, "hanako@example.jp")
    assert person is not None and person.name == "山田 花子" and person.city == "kanazawa"
    assert person.confirmed_at is None and person.newsletter is True
    slugs = (
        (await db.execute(select(Interest.slug).join(MemberInterest).where(MemberInterest.person_id == person.id)))
        .scalars()
        .all()
    )
    assert sorted(slugs) == ["food", "jazz-music"]
    consent = (await db.execute(select(Consent))).scalar_one()
    assert (consent.given, consent.method, consent.text_version, consent.language) == (
        True,
        "form",
        service.NEWSLETTER_CONSENT_VERSION,
        "en",
    )  # the page was in English
    await mailbox.wait_for(1)
    mail = mailbox.to("hanako@example.jp")[0]
    assert "会員登録" in mail["Subject"]
    assert "山田 花子" in text_of(mail) and "48時間" in text_of(mail)
    assert link_in(mail).startswith("/join/confirm/")
    assert "/join/confirm/" in html_of(mail)


async def test_the_link_page_changes_nothing_until_its_form_is_posted(client, db, mailbox):
    token = await csrf_token(client, "/join")
    await client.post("/join", data=signup(token))
    await mailbox.wait_for(1)
    path = link_in(mailbox.messages[0])
    for _ in range(2):  # a mail scanner, then the person's browser
        page = await client.get(path)
        assert page.status_code == 200
    # Only the person's click confirms: no script submits the form (a scanner running JavaScript would).
    assert f'action="{path}"' in page.text
    assert "autosubmit" not in page.text and "<script>" not in page.text
    assert page.text.count('<button class="button button-primary" type="submit">') == 1
    person = await person_by_email(db, "hanako@example.jp")
    assert person.confirmed_at is None
    assert (await db.execute(select(OneTimeToken.used_at))).scalar_one() is None
    assert (await count(db, AuthSession)) == 0


async def test_confirming_logs_in_and_sends_the_welcome_mail_once(client, db, mailbox):
    token = await csrf_token(client, "/join")
    await client.post("/join", data=signup(token, language="nl", email="jan@example.be", name="Jan"))
    await mailbox.wait_for(1)
    path = link_in(mailbox.messages[0])
    form_token = await csrf_token(client, path)
    response = await client.post(path, data={"csrf_token": form_token})
    assert response.status_code == 303
    assert response.headers["location"] == "/me"
    assert "club_session" in response.cookies
    person = await person_by_email(db, "jan@example.be")
    assert person.confirmed_at is not None
    profile = await client.get("/me")
    assert profile.status_code == 200 and "jan@example.be" in profile.text
    assert "Welkom bij de club! Je lidmaatschap is bevestigd." in profile.text
    assert "Welkom bij de club!" not in (await client.get("/me")).text  # once, not again on reload
    await mailbox.wait_for(2)
    welcome = mailbox.messages[1]
    assert welcome["Subject"] == "Welkom bij de Gent–Kanazawa Supporters Club"
    assert "Hallo Jan" in text_of(welcome)
    # Clicking the link again while logged in leads to the account, not to an error page with "Log in" (issue 10).
    again = await client.post(path, data={"csrf_token": form_token})
    assert again.status_code == 303 and again.headers["location"] == "/me"
    clicked_again = await client.get(path)
    assert clicked_again.status_code == 303 and clicked_again.headers["location"] == "/me"
    assert (await count(db, Delivery)) == 2  # no second welcome


async def test_expired_forged_and_csrf_less_confirmations_change_nothing(client, db, mailbox):
    token = await csrf_token(client, "/join")
    await client.post("/join", data=signup(token))
    await mailbox.wait_for(1)
    path = link_in(mailbox.messages[0])
    form_token = await csrf_token(client, path)

    assert (await client.post(path, data={})).status_code == 403  # no CSRF token
    forged = path[:-4] + ("AAAA" if not path.endswith("AAAA") else "BBBB")
    assert (await client.get(forged)).status_code == 400
    assert (await client.post(forged, data={"csrf_token": form_token})).status_code == 400
    assert (await client.post("/join/confirm/" + "x" * 500, data={"csrf_token": form_token})).status_code == 400

    await db.execute(update(OneTimeToken).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    await db.commit()
    expired = await client.post(path, data={"csrf_token": form_token})
    assert expired.status_code == 400
    assert (await person_by_email(db, "hanako@example.jp")).confirmed_at is None
    assert (await count(db, AuthSession)) == 0


async def test_a_link_is_valid_for_48_hours(client, db, mailbox):
    token = await csrf_token(client, "/join")
    await client.post("/join", data=signup(token))
    expires_at = (await db.execute(select(OneTimeToken.expires_at))).scalar_one()
    assert dt.timedelta(hours=47, minutes=59) < expires_at - utcnow() <= dt.timedelta(hours=48)


async def test_known_and_unknown_addresses_get_the_same_answer(app, client, db, mailbox):
    member_id = (await make_person(db, email="member@example.org", name="Marie Member", language="nl")).id
    token = await csrf_token(client, "/join")
    known = await client.post("/join", data=signup(token, email="member@example.org", name="Someone Else"))
    unknown = await client.post("/join", data=signup(token, email="new@example.org"))
    assert known.status_code == unknown.status_code == 303
    assert known.headers["location"] == unknown.headers["location"]
    assert known.text == unknown.text
    await mailbox.wait_for(2)
    mail = mailbox.to("member@example.org")[0]
    assert "al lid" in mail["Subject"]  # Dutch: "already a member"
    assert link_in(mail).startswith("/login/")
    db.expire_all()
    refreshed = await db.get(Person, member_id)
    assert refreshed.name == "Marie Member"  # a stranger cannot change a member's details by joining


async def test_asking_again_sends_a_fresh_link_and_updates_the_sign_up(client, db, mailbox):
    token = await csrf_token(client, "/join")
    await client.post("/join", data=signup(token))
    await client.post("/join", data=signup(token, name="Hanako Yamada", newsletter=None, language="en"))
    await mailbox.wait_for(2)
    first, second = (link_in(m) for m in mailbox.to("hanako@example.jp"))
    assert first != second
    person = await person_by_email(db, "hanako@example.jp")
    assert person.name == "Hanako Yamada" and person.newsletter is False
    consents = (await db.execute(select(Consent.given).order_by(Consent.id))).scalars().all()
    assert consents == [True, False]  # consent given, then withdrawn
    assert "Hello Hanako Yamada" in text_of(mailbox.to("hanako@example.jp")[1])
    form_token = await csrf_token(client, first)
    assert (await client.post(first, data={"csrf_token": form_token})).status_code == 303  # the old link works too


async def test_names_in_any_script_are_kept(client, db):
    token = await csrf_token(client, "/join")
    for email, name in (
        ("a@example.org", "Jan Van den Bossche"),
        ("b@example.org", "山田 花子"),
        ("c@example.org", "Zoë D'Hondt-Çelik"),
    ):
        response = await client.post("/join", data=signup(token, email=email, name=name))
        assert response.status_code == 303
        assert (await person_by_email(db, email)).name == name


async def test_bad_input_is_refused_with_a_clear_message_and_nothing_stored(client, db):
    token = await csrf_token(client, "/join")
    cases = [
        ({"email": "not-an-address"}, "Enter an email address like name@example.org."),
        ({"email": "a@b.c\r\nBcc: x@example.org"}, "Enter an email address"),
        ({"name": "x" * 10_000}, "Use at most 100 characters (you typed 10000)."),
        ({"name": "<script>alert(1)</script>"}, "A name cannot contain"),
        ({"name": "Jan\r\nBcc: victim@example.org"}, "Use a single line, without line breaks."),
        ({"name": ""}, "This field is required."),
        ({"city": "brussels"}, "Choose one of the options."),
        ({"language": "fr"}, "Choose one of the options."),
        ({"interests": ["jazz-music", "gambling"]}, "Choose from the options shown."),
    ]
    for fields, message in cases:
        response = await client.post("/join", data=signup(token, **fields))
        assert response.status_code == 400, fields
        assert message in response.text, fields
        assert "<script>alert(1)</script>" not in response.text
    kept = await client.post("/join", data=signup(token, email="bad", name="山田 花子"))
    assert 'value="山田 花子"' in kept.text and 'value="bad"' in kept.text  # what was typed is kept
    for model in (Person, Consent, MemberInterest, Mail, OneTimeToken):
        assert await count(db, model) == 0, model


async def test_join_without_csrf_token_is_refused_and_stores_nothing(client, db):
    await client.get("/join")
    response = await client.post("/join", data=signup(""))
    assert response.status_code == 403
    assert await count(db, Person) == 0


async def test_one_ip_sending_100_join_requests_a_minute_gets_429(client, db):
    token = await csrf_token(client, "/join")
    statuses = []
    for number in range(100):
        response = await client.post("/join", data=signup(token, email=f"bot{number}@example.org"))
        statuses.append(response.status_code)
    assert statuses[0] == 303
    assert statuses[-1] == 429
    assert statuses.count(303) <= 20
    assert await count(db, Person) == statuses.count(303)
    page = await client.post("/join", data=signup(token, email="one-more@example.org"))
    assert page.status_code == 429 and "Too many requests" in page.text
    assert page.headers["retry-after"]


async def test_one_address_gets_at_most_a_few_mails_whatever_the_ip(app, db):
    statuses = []
    for number in range(7):
        async with client_from(app, f"198.51.100.{number + 1}") as other:
            token = await csrf_token(other, "/join")
            statuses.append((await other.post("/join", data=signup(token))).status_code)
    assert statuses[:5] == [303] * 5
    assert statuses[5:] == [429, 429]
    assert await count(db, Mail) == 5


async def test_ref_from_the_join_link_is_kept(client, db):
    page = await client.get("/join?ref=amb-42")
    assert 'name="ref" value="amb-42"' in page.text
    # Links printed before the join page and the QR code agreed on a name said ?via=: they still count.
    assert 'name="ref" value="amb-43"' in (await client.get("/join?via=amb-43")).text
    token = await csrf_token(client, "/join")
    await client.post("/join", data=signup(token, ref="amb-42"))
    assert (await person_by_email(db, "hanako@example.jp")).ref == "amb-42"
    assert 'name="ref"' not in (await client.get('/join?ref="><b>')).text
    assert 'name="ref"' not in (await client.get('/join?via="><b>')).text


async def test_unconfirmed_sign_ups_are_purged_after_30_days(client, db, mailbox):
    token = await csrf_token(client, "/join")
    await client.post("/join", data=signup(token, email="old@example.org"))
    await client.post("/join", data=signup(token, email="recent@example.org"))
    confirmed_id = (await make_person(db, email="member@example.org")).id
    await mailbox.wait_for(2)
    await db.execute(
        update(Person)
        .where(Person.email.in_(["old@example.org", "member@example.org"]))
        .values(updated_at=utcnow() - dt.timedelta(days=31))
    )
    await db.commit()
    assert await service.purge_unconfirmed(db) == 1
    await db.commit()
    assert await person_by_email(db, "old@example.org") is None
    assert await person_by_email(db, "recent@example.org") is not None
    assert await db.get(Person, confirmed_id) is not None
    addresses = (await db.execute(select(Delivery.to_email))).scalars().all()
    assert "old@example.org" not in addresses and "recent@example.org" in addresses


async def test_a_logged_in_member_is_sent_from_join_to_the_profile(client, db):
    from tests.factories import log_in

    await log_in(client, db, await make_person(db))
    response = await client.get("/join")
    assert response.status_code == 303 and response.headers["location"] == "/me"


async def test_housekeeping_purges_sign_ups_unconfirmed_for_30_days(engine, settings, db):
    import datetime as dt

    from sqlalchemy import select

    from club import tasks
    from club.accounts.models import Person
    from club.db import create_sessionmaker, utcnow
    from tests.factories import make_person

    stale = await make_person(db, email="stale@example.org", confirmed=False)
    fresh = await make_person(db, email="fresh@example.org", confirmed=False)
    member = await make_person(db, email="member@example.org", confirmed=True)
    for person in (stale, member):
        person.created_at = person.updated_at = utcnow() - dt.timedelta(days=31)
    await db.commit()
    job = next(job for job in tasks.jobs() if job.name == "purge unconfirmed sign-ups")
    assert await tasks.run_job_once(job, create_sessionmaker(engine), settings)
    emails = set((await db.execute(select(Person.email).execution_options(populate_existing=True))).scalars())
    assert emails == {fresh.email, member.email}


async def test_the_city_has_no_preselected_value_and_must_be_chosen(client, db):
    """Issue 10 item 10: Ghent was preselected, so Kanazawa members who skipped the field were stored as Ghent."""
    page = await client.get("/join", headers={"Accept-Language": "ja"})
    select_html = page.text[page.text.index('<select id="city"') :]
    select_html = select_html[: select_html.index("</select>")]
    assert '<option value="" selected disabled>' in select_html
    assert select_html.count(" selected") == 1
    token = await csrf_token(client, "/join")
    response = await client.post("/join", data=signup(token, city=None), headers={"Accept-Language": "ja"})
    assert response.status_code == 400 and "いずれかを選んでください。" in response.text
    assert await count(db, Person) == 0


@pytest.mark.parametrize(
    "language,required",
    [("nl", "Dit veld is verplicht."), ("en", "This field is required."), ("ja", "この項目は必須です。")],
)
async def test_member_forms_use_the_sites_translated_validation_not_the_browsers(client, db, language, required):
    """One approach for the whole site: `novalidate` on the form, the server's translated message beside the
    field (the browser's own bubbles are in the browser's language, not the page's)."""
    client.headers["Accept-Language"] = language
    for path in ("/join", "/login"):
        page = await client.get(path)
        form = page.text[page.text.index(f'action="{path}"') :]
        assert form[: form.index(">")].rstrip().endswith("novalidate")
        posted = await client.post(path, data={"csrf_token": await csrf_token(client, path), "email": ""})
        assert posted.status_code == 400 and required in posted.text
    await log_in(client, db, await make_person(db, language=language))
    profile = await client.get("/me")
    assert 'action="/me" novalidate' in profile.text
    posted = await client.post("/me", data={"csrf_token": await csrf_token(client, "/me"), "name": ""})
    assert posted.status_code == 400 and required in posted.text


async def test_failed_validations_do_not_count_against_the_join_limit(client, db):
    token = await csrf_token(client, "/join")
    for number in range(40):  # typos, a forgotten city: a person at a busy stand, not a script
        typo = await client.post("/join", data=signup(token, email=f"guest{number}@example.c"))
        assert typo.status_code == 400
    response = await client.post("/join", data=signup(token, email="guest@example.org"))
    assert response.status_code == 303
    assert await count(db, Person) == 1


async def test_a_promotion_stand_on_shared_wifi_signs_up_100_people_in_an_hour(client, db):
    """One IP (the stand's Wi-Fi), 100 people in ten waves of ten over an hour, a few typos in each wave."""
    token = await csrf_token(client, "/join")
    statuses = []
    for wave in range(10):
        for number in range(10):
            await client.post("/join", data=signup(token, email=f"visitor{wave}-{number}@example", city=None))
            response = await client.post("/join", data=signup(token, email=f"visitor{wave}-{number}@example.org"))
            statuses.append(response.status_code)
        # Six minutes pass before the next wave: age the stand's counters as the clock would.
        counters = (await db.execute(select(RateCounter).where(RateCounter.key.like("members-join%")))).scalars()
        for counter in counters:
            counter.window_start -= dt.timedelta(minutes=6)
        await db.commit()
    assert statuses == [303] * 100
    assert await count(db, Person) == 100
    db.expire_all()
    # A script from the same address still meets the hour's limit.
    extra = [
        (await client.post("/join", data=signup(token, email=f"bot{n}@example.org"))).status_code for n in range(25)
    ]
    assert extra[:20] == [303] * 20 and extra[-1] == 429
