"""Unsubscribe links: one-click POST without cookie or CSRF, idempotent; GET changes nothing; forged = same answer."""

from urllib.parse import quote

from sqlalchemy import func, select

from club.accounts.models import Person
from club.mail.models import PRIORITY_BULK, Delivery
from club.mail.outbox import Recipient, queue_newsletter
from club.members import service
from club.members.models import Consent
from tests.factories import csrf_token, make_person

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


async def subscribed(db, **kwargs):
    person = await make_person(db, **kwargs)
    await service.set_newsletter(db, person, True, method="form", language=person.language)
    await db.commit()
    return person


async def newsletter_of(db, person_id) -> bool:
    db.expire_all()
    return (await db.get(Person, person_id)).newsletter


def path_of(settings, person_id):
    return service.unsubscribe_url(settings, person_id).removeprefix(settings.base_url)


async def test_the_link_is_built_from_the_base_url_and_signed(settings):
    url = service.unsubscribe_url(settings.with_(base_url="https://club.example.org"), 42)
    assert url.startswith("https://club.example.org/unsubscribe/42-")
    token = url.rsplit("/", 1)[1]
    assert service.person_id_from_unsubscribe_token(settings, token) == 42
    assert service.person_id_from_unsubscribe_token(settings, "43" + token[2:]) is None
    assert service.person_id_from_unsubscribe_token(settings.with_(secret_key="another-secret" * 4), token) is None


async def test_one_click_unsubscribes_without_cookie_or_csrf_and_is_idempotent(app, db, settings):
    import httpx

    person = await subscribed(db)
    path = path_of(settings, person.id)
    transport = httpx.ASGITransport(app=app, client=("192.0.2.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as mail_client:
        first = await mail_client.post(path, data=ONE_CLICK)
        second = await mail_client.post(path, data=ONE_CLICK)
    assert first.status_code == second.status_code == 200
    assert "You are unsubscribed" in first.text
    assert await newsletter_of(db, person.id) is False
    withdrawals = (await db.execute(select(Consent).where(Consent.given.is_(False)))).scalars().all()
    assert [(c.method, c.text_version) for c in withdrawals] == [("one-click", service.NEWSLETTER_CONSENT_VERSION)]
    assert (await db.execute(select(func.count()).select_from(Consent))).scalar_one() == 2  # the yes is kept


async def test_get_never_changes_anything_and_shows_the_masked_address_before_the_button(client, db, settings):
    person = await subscribed(db, email="hanako.yamada@example.jp")
    path = path_of(settings, person.id)
    real = await client.get(path)
    assert real.status_code == 200 and 'name="List-Unsubscribe" value="One-Click"' in real.text
    assert "h•••a@example.jp" in real.text and "hanako.yamada@" not in real.text
    assert real.text.index("h•••a@example.jp") < real.text.index('value="One-Click"')
    assert await newsletter_of(db, person.id) is True


async def test_forged_truncated_and_unicode_digit_tokens_say_the_link_is_not_valid(client, db, settings):
    """Issue 10 item 4: a bad token answered "You are unsubscribed" while nothing happened, and `²` gave a 500."""
    person = await subscribed(db)
    token = path_of(settings, person.id).rsplit("/", 1)[1]
    altered = token[:-1] + ("0" if token[-1] != "0" else "1")
    other_person = f"{person.id + 1}-{token.split('-')[1]}"
    stranger = f"999-{token.split('-')[1]}"  # names nobody: must look exactly like a forged token of a member
    answers = []
    for bad in (
        altered,
        other_person,
        stranger,
        token[:-5],
        "garbage",
        "1-" + "0" * 32,
        "²-" + "0" * 32,
        f"{person.id}²-{token.split('-')[1]}",
        "１-" + token.split("-")[1],
    ):
        forged = await client.get(f"/unsubscribe/{bad}")
        assert forged.status_code == 400, bad
        assert "This link is not valid" in forged.text and "How to unsubscribe instead" in forged.text
        assert 'href="/login?next=/me"' in forged.text and 'value="One-Click"' not in forged.text
        answers.append(forged.text.replace(quote(bad), "T").replace(bad, "T"))
        posted = await client.post(f"/unsubscribe/{bad}", data={**ONE_CLICK, "from_page": "1"})
        assert posted.status_code == 400 and "You are unsubscribed" not in posted.text
        one_click = await client.post(f"/unsubscribe/{bad}", data=ONE_CLICK)
        assert one_click.status_code == 400 and "This link is not valid" in one_click.text
        again = await client.post(
            f"/unsubscribe/{bad}/subscribe", data={"csrf_token": await csrf_token(client, "/login")}
        )
        assert again.status_code == 400 and "Thank you" not in again.text
    assert len(set(answers)) == 1  # the same page whoever the token names: it reveals no membership
    assert await newsletter_of(db, person.id) is True
    assert (await db.execute(select(func.count()).select_from(Consent))).scalar_one() == 1


async def test_an_erased_members_link_does_not_thank_them_for_subscribing(app, client, db, settings):
    person = await subscribed(db, email="leaving@example.org")
    path = path_of(settings, person.id)
    await service.erase(db, settings, person)
    await db.commit()
    page = await client.get(path)
    assert page.status_code == 200 and "no longer exists" in page.text and 'value="One-Click"' not in page.text
    response = await client.post(path + "/subscribe", data={"csrf_token": await csrf_token(client, "/login")})
    assert "Thank you" not in response.text
    assert "We could not subscribe you" in response.text and 'href="/join"' in response.text
    one_click = await client.post(path, data=ONE_CLICK)
    assert one_click.status_code == 200 and "no longer exists" in one_click.text
    assert (await db.execute(select(func.count()).select_from(Person))).scalar_one() == 0
    assert (await db.execute(select(func.count()).select_from(Consent))).scalar_one() == 0


async def test_a_post_without_the_one_click_body_changes_nothing(client, db, settings):
    person = await subscribed(db)
    response = await client.post(path_of(settings, person.id), data={"something": "else"})
    assert response.status_code == 400
    assert await newsletter_of(db, person.id) is True


async def test_unsubscribing_takes_the_member_out_of_a_send_in_progress(client, db, settings):
    person = await subscribed(db, email="leaving@example.org")
    staying = await subscribed(db, email="staying@example.org")
    recipients = [Recipient(p.email, p.name, p.id, service.unsubscribe_url(settings, p.id)) for p in (person, staying)]
    await queue_newsletter(
        db, subject="News", text="t %%unsubscribe_url%%", html="h", language="en", recipients=recipients
    )
    await db.commit()
    await client.post(path_of(settings, person.id), data=ONE_CLICK)
    db.expire_all()
    rows = dict(
        (await db.execute(select(Delivery.to_email, Delivery.status).where(Delivery.priority == PRIORITY_BULK))).all()
    )
    assert rows == {"leaving@example.org": "failed", "staying@example.org": "queued"}


async def test_subscribing_again_from_the_page_records_consent(client, db, settings):
    person = await subscribed(db)
    path = path_of(settings, person.id)
    await client.post(path, data=ONE_CLICK)
    token = await csrf_token(client, path)
    assert (await client.post(path + "/subscribe", data={})).status_code == 403
    response = await client.post(path + "/subscribe", data={"csrf_token": token})
    assert response.status_code == 200 and "Thank you! You will receive the newsletter again." in response.text
    assert await newsletter_of(db, person.id) is True
    history = await service.consent_history(db, person.id)
    assert [(c.given, c.method) for c in history] == [(True, "form"), (False, "one-click"), (True, "link")]


async def test_subscribed_members_are_confirmed_consenting_and_deliverable(db):
    from club.db import utcnow

    yes = await subscribed(db, email="yes@example.org")
    await subscribed(db, email="unconfirmed@example.org", confirmed=False)
    await make_person(db, email="no@example.org")
    bounced = await subscribed(db, email="bounced@example.org")
    bounced.suppressed_at = utcnow()
    await db.commit()
    emails = (await db.execute(service.subscribed_members())).scalars().all()
    assert [p.email for p in emails] == [yes.email]
    assert (await db.execute(service.subscribed_members(language="ja"))).scalars().all() == []
