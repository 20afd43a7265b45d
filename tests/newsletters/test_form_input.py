"""The newsletter's forms as models: bad input in compose, audience, schedule and test send gets the field's
message and changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from club.mail.models import Mail
from club.newsletters.models import Newsletter, NewsletterVariant
from tests.helpers import compose_data, create_newsletter


async def rows(db, model) -> int:
    db.expire_all()
    return int(await db.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"subject_nl": "", "body_nl": "", "subject_ja": "", "body_ja": ""},
            "Write a subject and a text in at least one language.",
        ),
        ({"subject_nl": "Nieuws\r\nBcc: x@example.org"}, "Use a single line, without line breaks."),
        ({"subject_nl": "s" * 201}, "Use at most 200 characters (you typed 201)."),
        ({"body_ja": ""}, "This field is required."),
        ({"fallback_language": "en"}, "Choose a language that has a subject and a text."),
        ({"cities": ["ghent", "atlantis"]}, "Choose from the options shown."),
        ({"joined_from": "2026-02-30"}, "Enter a date like 2026-04-01."),
        ({"joined_from": "2026-03-01", "joined_until": "2026-02-01"}, "The end date comes before the start date."),
    ],
)
async def test_bad_compose_input_is_explained_and_nothing_is_saved(post, db, overrides, message):
    response = await post("/admin/newsletters/new", compose_data(**overrides))
    assert response.status_code == 400 and message in response.text
    assert await rows(db, Newsletter) == 0 and await rows(db, NewsletterVariant) == 0


async def test_a_language_written_alone_becomes_the_fallback(post, db):
    newsletter_id = await create_newsletter(post, subject_ja="", body_ja="", preheader_ja="", fallback_language="en")
    newsletter = await db.get(Newsletter, newsletter_id)
    assert newsletter is not None and newsletter.fallback_language == "nl"


@pytest.mark.parametrize(
    ("addresses", "message"),
    [
        (", ".join(f"t{n}@example.org" for n in range(6)), "Enter at most 5 addresses."),
        ("ok@example.org; not-an-address", "Enter an email address like name@example.org."),
        ("ok@example.org\r\nBcc: x@example.org", "Enter an email address like name@example.org."),
    ],
)
async def test_bad_test_addresses_send_nothing(post, db, addresses, message):
    newsletter_id = await create_newsletter(post)
    mails = await rows(db, Mail)
    response = await post(f"/admin/newsletters/{newsletter_id}/test", {"addresses": addresses})
    assert response.status_code == 400 and message in response.text
    assert await rows(db, Mail) == mails


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"scheduled_at": "2030-01-01T09:00", "timezone": "Mars/Olympus"}, "Choose one of the options."),
        ({"scheduled_at": "", "timezone": "Asia/Tokyo"}, "This field is required."),
        ({"scheduled_at": "next tuesday", "timezone": "Asia/Tokyo"}, "Enter a date and time like 2026-04-01 09:00."),
    ],
)
async def test_bad_schedule_is_explained_and_nothing_is_scheduled(post, db, fields, message):
    newsletter_id = await create_newsletter(post)
    response = await post(f"/admin/newsletters/{newsletter_id}/schedule", fields)
    assert response.status_code == 400 and message in response.text
    db.expire_all()
    newsletter = await db.get(Newsletter, newsletter_id)
    assert newsletter is not None and newsletter.status == "draft" and newsletter.scheduled_at is None
