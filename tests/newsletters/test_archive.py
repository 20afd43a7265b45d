"""The public archive: sent, public newsletters per language, an Atom feed announced in the head, no personal data."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sqlalchemy import update

from club.db import utcnow
from club.newsletters.models import Newsletter
from club.newsletters.routes import FEED_ENTRIES
from tests.factories import make_person
from tests.helpers import create_newsletter

ATOM = "{http://www.w3.org/2005/Atom}"


async def sent(db, newsletter_id: int) -> None:
    await db.execute(
        update(Newsletter)
        .where(Newsletter.id == newsletter_id)
        .values(status="sent", started_at=utcnow(), finished_at=utcnow())
    )
    await db.commit()


async def test_archive_lists_sent_public_newsletters_per_language_without_personal_data(client, admin_client, post, db):
    await make_person(db, email="jan@example.be", name="Jan Peeters", language="nl", newsletter=True)
    public = await create_newsletter(post, body_nl="Beste %%name%% (%%email%%), [uit](%%unsubscribe_url%%)")
    private = await create_newsletter(post, subject_nl="Alleen voor leden", subject_ja="会員限定", private="1")
    draft = await create_newsletter(post, subject_nl="Nog een ontwerp", subject_ja="下書き")
    await sent(db, public)
    await sent(db, private)

    client.cookies.clear()
    dutch = await client.get("/newsletters", headers={"Accept-Language": "nl"})
    assert dutch.status_code == 200
    assert "Nieuws uit Gent" in dutch.text
    assert "Alleen voor leden" not in dutch.text and "Nog een ontwerp" not in dutch.text
    assert '<link rel="alternate" type="application/atom+xml" href="/newsletters/feed/nl.atom"' in dutch.text
    japanese = await client.get("/newsletters", headers={"Accept-Language": "ja"})
    assert "ヘントからのお知らせ" in japanese.text and "Nieuws uit Gent" not in japanese.text

    page = await client.get(f"/newsletters/{public}?lang=nl")
    assert page.status_code == 200
    assert "%%" not in page.text and "@example" not in page.text and "Admin Gent" not in page.text
    assert "/unsubscribe/" not in page.text
    assert "application/atom+xml" in page.text
    assert (await client.get(f"/newsletters/{private}")).status_code == 404
    assert (await client.get(f"/newsletters/{draft}")).status_code == 404

    feed = await client.get("/newsletters/feed/ja.atom")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(feed.content)
    titles = [entry.find(f"{ATOM}title").text for entry in root.findall(f"{ATOM}entry")]
    assert titles == ["ヘントからのお知らせ"]
    dutch_feed = ET.fromstring((await client.get("/newsletters/feed/nl.atom")).content)
    content = dutch_feed.find(f"{ATOM}entry/{ATOM}content").text
    assert "<p>" in content and "%%" not in content
    assert (await client.get("/newsletters/feed/xx.atom")).status_code == 404


async def test_the_feed_carries_the_newest_twenty_and_the_archive_all(client, admin_client, post, db):
    ids = []
    for number in range(FEED_ENTRIES + 2):
        ids.append(await create_newsletter(post, subject_nl=f"Nieuwsbrief {number}", subject_ja=f"ニュース{number}"))
        await sent(db, ids[-1])
    client.cookies.clear()
    root = ET.fromstring((await client.get("/newsletters/feed/nl.atom")).content)
    titles = [entry.find(f"{ATOM}title").text for entry in root.findall(f"{ATOM}entry")]
    assert titles == [f"Nieuwsbrief {number}" for number in reversed(range(2, FEED_ENTRIES + 2))]
    archive = await client.get("/newsletters", headers={"Accept-Language": "nl"})
    assert all(f"/newsletters/{newsletter_id}" in archive.text for newsletter_id in ids)
