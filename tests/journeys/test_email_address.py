"""One rule for an email address, from the join and login forms to the outbox and the SMTP envelope (issue 10, 3).

`jan@example.c` passed the join form and was refused by the outbox: the visitor got a 500 page. Now the forms and
the outbox share club/email_address.py; a full-width address typed with a Japanese IME is folded, and an
international domain is kept in Unicode for people and sent as punycode on the wire."""

import re

import pytest
from sqlalchemy import func, select

from club import email_address
from club.accounts.models import OneTimeToken, Person
from club.mail.models import Delivery, Mail
from club.mail.outbox import queue_mail
from club.members import service
from club.members.models import Consent, MemberInterest
from tests.factories import csrf_token, eventually, log_in, running_sender

LINK_RE = re.compile(r"http://testserver(/join/confirm/[^\s<>\"]+)")


def signup(token: str, email: str, **fields: str) -> dict[str, object]:
    return {
        "email": email,
        "name": "山田 太郎",
        "city": "kanazawa",
        "language": "ja",
        "csrf_token": token,
        "interests": ["food"],
        "newsletter": "yes",
        **fields,
    }


async def count(db, model) -> int:
    return (await db.execute(select(func.count()).select_from(model))).scalar_one()


@pytest.fixture(autouse=True)
async def interests(db):
    if await service.seed_interests(db):
        await db.commit()


@pytest.mark.parametrize(
    "language,message",
    [
        ("en", "Enter an email address like name@example.org."),
        ("nl", "Geef een e-mailadres zoals naam@voorbeeld.be."),
        ("ja", "name@example.org のような形式でメールアドレスを入力してください。"),
    ],
)
async def test_a_typo_in_the_domain_gets_a_translated_form_error_and_nothing_is_stored(client, db, language, message):
    client.headers["Accept-Language"] = language
    token = await csrf_token(client, "/join")
    for typo in ("jan@example.c", "jan@example.", "jan@.example.org", "jan@example..org"):
        response = await client.post("/join", data=signup(token, typo))
        assert response.status_code == 400, typo
        assert message in response.text
        assert f'value="{typo}"' in response.text  # what was typed stays in the field
    login = await client.post("/login", data={"email": "jan@example.c", "csrf_token": token})
    assert login.status_code == 400 and message in login.text
    for model in (Person, Consent, MemberInterest, Mail, Delivery, OneTimeToken):
        assert await count(db, model) == 0, model


async def test_the_outbox_refuses_exactly_what_the_forms_refuse(db):
    with pytest.raises(ValueError):
        await queue_mail(db, to_email="jan@example.c", to_name="Jan", subject="s", text="t", html="h", language="en")
    delivery = await queue_mail(
        db, to_email="ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", to_name="Taro", subject="s", text="t", html="h", language="ja"
    )
    assert delivery.to_email == "taro@example.jp"
    for address in ("jan@example.c", "a@b", "jan@@example.org", "山田@example.jp", "x@exa mple.org"):
        assert not email_address.is_valid(address), address


async def test_a_full_width_address_typed_with_an_ime_is_folded_and_the_mail_arrives(client, db, engine, smtp_server):
    mailbox, port = smtp_server
    client.headers["Accept-Language"] = "ja"
    token = await csrf_token(client, "/join")
    async with running_sender(engine, port):
        response = await client.post("/join", data=signup(token, "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ"))
        assert response.status_code == 303 and response.headers["location"] == "/join/sent"
        await eventually(lambda: _received(mailbox, 1))
    person = (await db.execute(select(Person))).scalar_one()
    assert person.email == "taro@example.jp"
    assert mailbox.envelopes[0][1] == ["taro@example.jp"]
    body = mailbox.messages[0].get_body(("plain",)).get_content()
    assert LINK_RE.search(body) is not None  # the confirmation link reached the folded address


async def test_an_international_domain_is_shown_in_unicode_and_sent_as_punycode(client, db, engine, smtp_server):
    mailbox, port = smtp_server
    token = await csrf_token(client, "/join")
    async with running_sender(engine, port):
        response = await client.post("/join", data=signup(token, "Taro@XN--R8JZ45G.JP", language="en"))
        assert response.status_code == 303
        await eventually(lambda: _received(mailbox, 1))
    person = (await db.execute(select(Person))).scalar_one()
    assert person.email == "taro@例え.jp"  # stored and shown as people read it
    assert mailbox.envelopes[0][1] == ["taro@xn--r8jz45g.jp"]  # the wire gets the ASCII form
    await log_in(client, db, person)
    profile = await client.get("/me")
    assert "taro@例え.jp" in profile.text and "xn--" not in profile.text
    # Typing either form finds the same member.
    assert email_address.normalize("taro@xn--r8jz45g.jp") == email_address.normalize("TARO@例え.JP") == person.email


async def _received(mailbox, number: int) -> bool:
    return len(mailbox.envelopes) >= number


async def test_a_member_stored_with_a_punycode_domain_logs_in_and_sees_it_in_unicode(client, db, engine, smtp_server):
    """Before this rule an international domain could only be typed, and stored, as punycode."""
    from tests.factories import make_person

    mailbox, port = smtp_server
    member = await make_person(db, email="taro@xn--r8jz45g.jp", name="Taro")
    token = await csrf_token(client, "/login")
    async with running_sender(engine, port):
        response = await client.post("/login", data={"email": "taro@例え.jp", "csrf_token": token})
        assert response.status_code == 303
        await eventually(lambda: _received(mailbox, 1))
    assert mailbox.envelopes[0][1] == ["taro@xn--r8jz45g.jp"]
    await log_in(client, db, member)
    profile = await client.get("/me")
    assert "taro@例え.jp" in profile.text and "xn--" not in profile.text
