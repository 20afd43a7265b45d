"""The members' pages in each language, and the privacy notice."""

import pytest

from tests.factories import log_in, make_person

PUBLIC = ("/join", "/join/sent", "/login", "/login/sent", "/privacy", "/goodbye")


@pytest.mark.parametrize("language,sample", [("nl", "Word lid"), ("en", "Join the club"), ("ja", "入会")])
async def test_public_pages_in_each_language(client, language, sample):
    for path in PUBLIC:
        page = await client.get(path, headers={"Accept-Language": language})
        assert page.status_code == 200, path
        assert f'<html lang="{language}">' in page.text
    assert sample in (await client.get("/join", headers={"Accept-Language": language})).text
    invalid_link = await client.get("/unsubscribe/1-x", headers={"Accept-Language": language})
    assert invalid_link.status_code == 400 and f'<html lang="{language}">' in invalid_link.text


async def test_privacy_notice_says_what_is_kept_and_for_how_long(client):
    page = await client.get("/privacy")
    assert "48 hours" in page.text and "30 days" in page.text
    assert "download" in page.text


async def test_member_pages_follow_the_members_language(client, db):
    await log_in(client, db, await make_person(db, language="ja"))
    for path in ("/me", "/me/erase"):
        page = await client.get(path)
        assert page.status_code == 200 and '<html lang="ja">' in page.text
