"""Public pages are kept until what they show changes (in every process), gzipped, and never shared with
someone logged in; static files and feeds tell browsers and feed readers how long to keep them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from club import publicpages
from club.app import create_app
from club.db import create_engine, create_sessionmaker
from club.newsletters.models import Newsletter
from club.templating import static_url
from tests.factories import CSRF_RE, csrf_token, eventually, log_in, make_activity, make_admin, make_ambassador
from tests.helpers import ON_POSTGRES, client_from, create_newsletter, pg_execute


@contextlib.asynccontextmanager
async def second_process(settings: object) -> AsyncIterator[httpx.AsyncClient]:
    """Another web process on the same database: its own app, engine and kept pages."""
    engine = create_engine(settings.database_url)  # type: ignore[attr-defined]
    other = create_app(settings, engine=engine)  # type: ignore[arg-type]
    try:
        async with other.router.lifespan_context(other):
            async with client_from(other, "198.51.100.9") as visitor:
                yield visitor
    finally:
        await engine.dispose()


async def approve(client: httpx.AsyncClient, db: object, activity_id: int) -> None:
    """The admin approves the activity through the review page, as in the console."""
    await log_in(client, db, await make_admin(db))  # type: ignore[arg-type]
    token = await csrf_token(client, f"/admin/ambassadors/review/{activity_id}")
    review = f"/admin/ambassadors/review/{activity_id}"
    response = await client.post(review, data={"csrf_token": token, "action": "approve"})
    assert response.status_code == 303


async def test_an_approved_activity_is_on_the_kept_wall_at_once(app, client, db):
    person, appointment = await make_ambassador(db, name="Lotte Peeters")
    activity = await make_activity(db, person, appointment, status="submitted", title="Jazz-21 meets GYJO")
    visitor = client_from(app, "198.51.100.7")
    for path in ("/ambassadors", "/ambassadors?category=culture", "/ambassadors/feed.atom", "/"):
        assert "Jazz-21 meets GYJO" not in (await visitor.get(path)).text
    assert (await visitor.get(f"/ambassadors/activities/{activity.id}")).status_code == 404

    await approve(client, db, activity.id)

    assert "Jazz-21 meets GYJO" in (await visitor.get("/ambassadors")).text
    assert "Jazz-21 meets GYJO" in (await visitor.get("/ambassadors/feed.atom")).text
    assert (await visitor.get(f"/ambassadors/activities/{activity.id}")).status_code == 200


async def test_a_sent_newsletter_is_in_the_kept_archive_at_once(app, admin_client, post, db, engine, smtp_server):
    from tests.factories import make_person, running_sender

    mailbox, port = smtp_server
    await make_person(db, email="jan@example.be", name="Jan Peeters", language="nl", newsletter=True)
    visitor = client_from(app, "198.51.100.7")
    archive = await visitor.get("/newsletters", headers={"Accept-Language": "nl"})
    assert archive.status_code == 200 and "Nieuws uit Gent" not in archive.text
    newsletter_id = await create_newsletter(post)
    sent = await post(f"/admin/newsletters/{newsletter_id}/send", page=f"/admin/newsletters/{newsletter_id}/confirm")
    assert sent.status_code == 303
    async with running_sender(engine, port):
        await mailbox.wait_for(1)
    report = await admin_client.get(f"/admin/newsletters/{newsletter_id}/report")  # the send is seen to finish
    assert report.status_code == 200
    assert (await db.scalar(select(Newsletter.status).where(Newsletter.id == newsletter_id))) == "sent"

    assert "Nieuws uit Gent" in (await visitor.get("/newsletters", headers={"Accept-Language": "nl"})).text
    assert (await visitor.get(f"/newsletters/{newsletter_id}?lang=nl")).status_code == 200
    assert "Nieuws uit Gent" in (await visitor.get("/newsletters/feed/nl.atom")).text


async def test_a_change_through_one_process_shows_in_another_at_once(client, db, settings):
    person, appointment = await make_ambassador(db, name="Lotte Peeters")
    activity = await make_activity(db, person, appointment, status="submitted", title="Jazz-21 meets GYJO")
    async with second_process(settings) as other:
        assert "Jazz-21 meets GYJO" not in (await other.get("/ambassadors")).text  # kept there

        await approve(client, db, activity.id)  # through this process

        async def shown() -> bool:  # on PostgreSQL the NOTIFY reaches the other process a moment later
            return "Jazz-21 meets GYJO" in (await other.get("/ambassadors")).text

        await eventually(shown, timeout=5)


async def test_text_is_gzipped_and_images_are_not(client, app):
    visitor = client_from(app, "198.51.100.7")
    for path in ("/", "/", "/ambassadors/feed.atom", "/events/feed.ics", static_url("css/club.css")):
        response = await visitor.get(path, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200 and response.headers.get("content-encoding") == "gzip", path
        assert "Accept-Encoding" in response.headers["vary"], path
    home = await visitor.get("/", headers={"Accept-Encoding": "gzip"})
    assert home.text.rstrip().endswith("</html>")  # httpx checked the gzip stream and its CRC
    assert CSRF_RE.search(home.text).group(1) != publicpages.TOKEN  # type: ignore[union-attr]
    plain = await visitor.get("/", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text == home.text
    png = await visitor.get(static_url("img/screenshot-home.png"), headers={"Accept-Encoding": "gzip"})
    assert png.status_code == 200 and "content-encoding" not in png.headers


async def test_versioned_static_files_are_immutable(client):
    versioned = await client.get(static_url("css/club.css"))
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    plain = await client.get("/static/css/club.css")
    assert plain.headers["cache-control"] == "public, max-age=300"


async def test_feeds_answer_304_to_a_reader_that_has_them(client, db):
    person, appointment = await make_ambassador(db, name="Lotte Peeters")
    await make_activity(db, person, appointment, status="approved", title="Jazz-21 meets GYJO")
    for path in ("/ambassadors/feed.atom", "/newsletters/feed/en.atom", "/events/feed.xml", "/events/feed.ics"):
        first = await client.get(path)
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        again = await client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag, path
        assert (await client.get(path, headers={"If-Modified-Since": modified})).status_code == 304, path
        assert (await client.get(path, headers={"If-None-Match": '"other"'})).status_code == 200, path
        older = "Mon, 01 Jan 2024 00:00:00 GMT"
        assert (await client.get(path, headers={"If-Modified-Since": older})).status_code == 200, path


async def test_logged_in_people_get_their_own_page_and_visitors_their_own_token(app, client, db):
    first = client_from(app, "198.51.100.7")
    second = client_from(app, "198.51.100.8")
    one = await first.get("/join?ref=ABC123")
    two = await second.get("/join?ref=ABC123")
    tokens = [CSRF_RE.search(page.text).group(1) for page in (one, two)]  # type: ignore[union-attr]
    assert tokens[0] != tokens[1] and tokens[0] not in two.text and publicpages.TOKEN not in two.text
    assert 'value="ABC123"' in two.text

    for path in ("/", "/ambassadors", "/newsletters", "/events", "/privacy"):
        await client.get(path)  # kept for visitors
    admin = await make_admin(db, name="Admin Gent")
    await log_in(client, db, admin)
    for path in ("/", "/ambassadors", "/newsletters", "/events", "/privacy"):
        page = await client.get(path)
        assert 'action="/logout"' in page.text, path  # their own page, not the visitors' kept one
        assert page.headers["cache-control"] == "no-store"
    client.cookies.delete("club_session")
    assert 'action="/logout"' not in (await client.get("/ambassadors")).text  # nothing of the admin was kept


async def test_crafted_queries_do_not_grow_the_kept_pages(app, client):
    pages = app.state.public_pages
    for number in range(publicpages.KEPT + 40):
        assert (await client.get(f"/privacy?x={number}")).status_code == 200
    assert len(pages.pages) == publicpages.KEPT
    assert (await client.get("/nowhere?x=1")).status_code == 404
    assert not any(path == "/nowhere" for _language, path, _query in pages.pages)


async def test_an_error_or_a_notice_is_never_kept(app, client, db):
    assert (await client.get("/ambassadors/activities/999")).status_code == 404
    assert all(path != "/ambassadors/activities/999" for _language, path, _query in app.state.public_pages.pages)
    client.cookies.set("club_flash", "events.answered", domain="testserver.local")
    assert "Your answer is saved." in (await client.get("/privacy")).text
    client.cookies.delete("club_flash")
    assert "Your answer is saved." not in (await client.get("/privacy")).text


async def test_a_crowd_after_a_change_renders_the_page_once(app, client, engine):
    assert (await client.get("/ambassadors")).status_code == 200
    async with create_sessionmaker(engine)() as db:
        publicpages.changed(db)  # as a service does
        await db.commit()
    real, opened = app.state.sessionmaker, []

    def counting() -> object:
        opened.append(1)
        return real()

    app.state.sessionmaker = counting
    try:
        crowd = [client_from(app, f"198.51.100.{number}") for number in range(8)]
        pages = await asyncio.gather(*(visitor.get("/ambassadors") for visitor in crowd))
    finally:
        app.state.sessionmaker = real
    assert [page.status_code for page in pages] == [200] * 8
    assert len(opened) == 1


@pytest.mark.skipif(not ON_POSTGRES, reason="LISTEN/NOTIFY is PostgreSQL's")
async def test_a_process_that_lost_its_listener_renders_afresh_until_it_hears_again(app, client, db, settings):
    pages = app.state.public_pages
    await pg_execute(
        settings.database_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )

    async def deaf() -> bool:
        return not pages.listening

    async def hearing() -> bool:
        return pages.listening

    await eventually(deaf, timeout=5)
    await client.get("/privacy")
    assert not pages.pages  # nothing is kept while changes could go unheard
    await eventually(hearing, timeout=10)
    person, appointment = await make_ambassador(db, name="Lotte Peeters")
    activity = await make_activity(db, person, appointment, status="submitted", title="Jazz-21 meets GYJO")
    async with second_process(settings) as other:
        assert "Jazz-21 meets GYJO" not in (await client.get("/ambassadors")).text  # kept here

        await approve(other, db, activity.id)  # through the other process

        async def shown() -> bool:
            return "Jazz-21 meets GYJO" in (await client.get("/ambassadors")).text

        await eventually(shown, timeout=5)
