"""The events journey in a real browser, in each language: an admin creates the reception for 120 people and
invites a segment; a member answers yes with one guest from the mail (its .ics is a valid calendar event);
another lands on the waiting list and is promoted when someone cancels; the reminder goes only to those who said
yes; at the door an ambassador on a 360 px phone checks in a ticket by its QR image and another by name, and a
second scan warns; the year's numbers show the attendance."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import re
import subprocess
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import icalendar
import pytest

from tests.browser.helpers import screenshot, start_server
from tests.helpers import SECRET

pytestmark = pytest.mark.browser
PASSWORD = "kotoji-lantern-1971-ghent"
NAMES = {
    "nl": ("An Peeters", "Bert De Smet", "Chris Claes", "Dries Maes"),
    "en": ("Ann Parker", "Ben Smith", "Cleo Brown", "Dan Miles"),
    "ja": ("山田 花子", "佐藤 健", "鈴木 明", "高橋 大輔"),
}
UI = {
    "nl": {
        "new": "Nieuw evenement",
        "waiting": "Op de wachtlijst",
        "welcome": "Welkom! Ingecheckt.",
        "again": "Al ingecheckt",
        "invited": "Uitnodiging:",
        "promoted": "Er is een plaats voor je:",
        "reminder": "Herinnering:",
    },
    "en": {
        "new": "New event",
        "waiting": "On the waiting list",
        "welcome": "Welcome! Checked in.",
        "again": "Already checked in",
        "invited": "Invitation:",
        "promoted": "A seat for you:",
        "reminder": "Reminder:",
    },
    "ja": {
        "new": "新しいイベント",
        "waiting": "キャンセル待ち",
        "welcome": "ようこそ。受付が完了しました。",
        "again": "受付済みです",
        "invited": "ご招待：",
        "promoted": "お席をご用意しました：",
        "reminder": "リマインダー：",
    },
}
EVENT_DAY = (dt.date.today() + dt.timedelta(days=12)).isoformat()


def in_thread(function, *args):  # type: ignore[no-untyped-def]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


async def _seed(database_url: str, language: str) -> None:
    from club.accounts.models import Person
    from club.accounts.passwords import hash_password
    from club.db import create_engine, create_sessionmaker, utcnow

    engine = create_engine(database_url)
    a, b, c, d = NAMES[language]
    async with create_sessionmaker(engine)() as db:
        db.add(
            Person(
                email="els@example.org",
                name="Els Van Gent",
                role="admin",
                language=language,
                console_language=language,
                password_hash=await hash_password(PASSWORD),
                confirmed_at=utcnow(),
            )
        )
        for email, name, role in (
            ("a@example.org", a, "member"),
            ("b@example.org", b, "member"),
            ("c@example.org", c, "member"),
            ("d@example.org", d, "ambassador"),
        ):
            db.add(
                Person(
                    email=email,
                    name=name,
                    language=language,
                    confirmed_at=utcnow(),
                    newsletter=True,
                    city="ghent",
                    role=role,
                )
            )
        await db.flush()
        from sqlalchemy import select

        from club.ambassadors.models import Ambassador, Appointment

        door_keeper = (await db.execute(select(Person).where(Person.email == "d@example.org"))).scalar_one()
        db.add(Ambassador(person_id=door_keeper.id, ref="dries-door"))
        db.add(
            Appointment(
                person_id=door_keeper.id,
                starts_on=dt.date.today() - dt.timedelta(days=30),
                ends_on=dt.date.today() + dt.timedelta(days=150),
                home_institution="ugent",
                host_institution="kanazawa-university",
                stationed_in="ghent",
            )
        )
        # 119 members elsewhere: outside the invited segment, they are the ones who already answered.
        for index in range(119):
            db.add(
                Person(
                    email=f"guest{index}@example.org",
                    name=f"Guest {index}",
                    language="en",
                    confirmed_at=utcnow(),
                    newsletter=True,
                    city="elsewhere",
                )
            )
        await db.commit()
    await engine.dispose()


async def _answer_for_the_others(database_url: str, event_id: int) -> None:
    """118 members elsewhere say yes: with the member's guest to come, the reception is full."""
    from sqlalchemy import select

    from club.accounts.models import Person
    from club.config import Settings
    from club.db import create_engine, create_sessionmaker
    from club.events import service
    from club.events.models import Event

    engine = create_engine(database_url)
    settings = Settings(env="development", database_url=database_url, secret_key=SECRET, base_url="http://127.0.0.1")
    async with create_sessionmaker(engine)() as db:
        event = (await db.execute(select(Event).where(Event.id == event_id))).scalar_one()
        people = (await db.execute(select(Person).where(Person.city == "elsewhere").order_by(Person.id))).scalars()
        for person in list(people)[:118]:
            await service.answer(db, settings, event, person, coming=True)
        await db.commit()
    await engine.dispose()


async def _send_reminders(database_url: str) -> int:
    from club.config import Settings
    from club.db import create_engine, create_sessionmaker
    from club.events import service

    engine = create_engine(database_url)
    settings = Settings(env="development", database_url=database_url, secret_key=SECRET, base_url="http://127.0.0.1")
    async with create_sessionmaker(engine)() as db:
        told = await service.send_reminders(db, settings, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=11))
        await db.commit()
    await engine.dispose()
    return told


@pytest.fixture(params=["nl", "en", "ja"])
def language(request) -> str:  # type: ignore[no-untyped-def]
    return str(request.param)


@pytest.fixture
def events_server(
    tmp_path: Path, live_database_url: str, smtp_server, language: str
) -> Iterator[tuple[str, object, str]]:
    from club.migrate import upgrade

    mailbox, smtp_port = smtp_server
    in_thread(upgrade, live_database_url)
    in_thread(asyncio.run, _seed(live_database_url, language))
    server = start_server(
        tmp_path, live_database_url, CLUB_SECRET_KEY=SECRET, CLUB_SMTP_HOST="127.0.0.1", CLUB_SMTP_PORT=str(smtp_port)
    )
    yield server.url, mailbox, live_database_url
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


def wait_for(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def mails(mailbox, address: str, subject_start: str) -> list[EmailMessage]:  # type: ignore[no-untyped-def]
    return [m for m in mailbox.to(address) if str(m["Subject"]).startswith(subject_start)]


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def link(message: EmailMessage, pattern: str) -> str:
    match = re.search(pattern, html_of(message))
    assert match, html_of(message)[:3000]
    return match.group(1).replace("&amp;", "&")


def test_reception_from_invitation_to_the_door(events_server, desktop, phone, language):
    url, mailbox, database_url = events_server
    ui = UI[language]
    a, b, c, d = NAMES[language]
    admin = desktop.new_page()
    admin.goto(url + "/admin/login")
    admin.fill("#email", "els@example.org")
    admin.fill("#password", PASSWORD)
    admin.click("main button[type=submit]")
    admin.wait_for_url("**/admin")

    # The admin creates the reception for 120 people, publishes it and invites Ghent's members.
    admin.goto(url + "/admin/events/new")
    assert admin.locator("h1").inner_text() == ui["new"]
    admin.fill("#title_nl", "Netwerkreceptie Gent–Kanazawa")
    admin.fill("#title_en", "Ghent–Kanazawa network reception")
    admin.fill("#title_ja", "ゲント・金沢ネットワーキング・レセプション")
    admin.fill("#description_en", "Drinks, **music** and friends.")
    admin.fill("#starts_at", f"{EVENT_DAY}T19:00")
    admin.fill("#ends_at", f"{EVENT_DAY}T22:00")
    admin.fill("#venue", "Stadhuis Gent")
    admin.fill("#address", "Botermarkt 1, 9000 Gent")
    admin.fill("#capacity", "120")
    admin.fill("#max_guests", "1")
    admin.check("input[name=cities][value=ghent]")
    admin.click("#save-button")
    admin.wait_for_url(re.compile(r".*/admin/events/\d+$"))
    event_id = int(admin.url.rsplit("/", 1)[1])
    admin.click("#publish-button")
    admin.wait_for_url(f"**/admin/events/{event_id}")
    in_thread(asyncio.run, _answer_for_the_others(database_url, event_id))
    admin.click("#invite-button")
    admin.wait_for_url(f"**/admin/events/{event_id}")
    for address in ("a@example.org", "b@example.org", "c@example.org", "d@example.org"):
        wait_for(lambda address=address: len(mails(mailbox, address, ui["invited"])) == 1)
    assert not any(mails(mailbox, f"guest{index}@example.org", ui["invited"]) for index in range(3))  # not invited

    # The invitation's .ics is a valid calendar event in the venue's zone.
    invitation = mails(mailbox, "a@example.org", ui["invited"])[0]
    [attachment] = [part for part in invitation.iter_attachments()]
    calendar = icalendar.Calendar.from_ical(attachment.get_content())
    assert calendar["METHOD"] == "REQUEST"
    [vevent] = calendar.walk("VEVENT")
    assert vevent["DTSTART"].params["TZID"] == "Europe/Brussels"
    assert vevent["DTSTART"].dt.hour == 19 and vevent["DTSTART"].dt.date().isoformat() == EVENT_DAY

    # A answers yes with one guest, from the mail: the reception is now full.
    member = phone.new_page()
    member.goto(link(invitation, r'href="(http[^"]+\?answer=yes)"'))
    assert member.locator("input[name=answer][value=yes]").is_checked()
    member.fill("#guests", "1")
    member.click("#answer-button")
    member.locator("#ticket-link").wait_for()
    assert member.evaluate("document.documentElement.scrollWidth") <= 360
    wait_for(lambda: len(mailbox.to("a@example.org")) == 2)
    confirmation = mailbox.to("a@example.org")[1]
    ticket_url = link(confirmation, r'href="(http[^"]+/ticket/[^"/]+)"')

    # B lands on the waiting list; one of the others cancels and B is promoted, by mail.
    other = phone.new_page()
    other.goto(link(mails(mailbox, "b@example.org", ui["invited"])[0], r'href="(http[^"]+\?answer=yes)"'))
    other.click("#answer-button")
    assert ui["waiting"] in other.locator("#my-answer").inner_text()
    from club.config import Settings
    from club.events.service import rsvp_url

    settings = Settings(env="development", secret_key=SECRET, base_url=url)
    with httpx.Client() as client:
        cancel_page = rsvp_url(settings, event_id, 6)  # guest0, the first of the others
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(cancel_page).text).group(1)
        assert client.post(cancel_page, data={"csrf_token": token, "answer": "no"}).status_code == 303
    wait_for(lambda: len(mails(mailbox, "b@example.org", ui["promoted"])) == 1)
    # C says no.
    declined = phone.new_page()
    declined.goto(link(mails(mailbox, "c@example.org", ui["invited"])[0], r'href="(http[^"]+\?answer=no)"'))
    declined.click("#answer-button")
    declined.locator("#my-answer").wait_for()

    # The reminder goes only to those who said yes.
    in_thread(asyncio.run, _send_reminders(database_url))
    wait_for(
        lambda: (
            len(mails(mailbox, "a@example.org", ui["reminder"])) == 1
            and len(mails(mailbox, "b@example.org", ui["reminder"])) == 1
        )
    )
    time.sleep(0.5)
    assert mails(mailbox, "c@example.org", ui["reminder"]) == []
    assert mails(mailbox, "d@example.org", ui["reminder"]) == []

    # At the door: the ambassador logs in on a phone, scans A's QR image, then finds B by name.
    door = phone.new_page()
    door.goto(url + "/login")
    door.fill("#email", "d@example.org")
    door.locator("main form button[type=submit]").last.click()
    door.wait_for_url("**/login/sent")
    wait_for(lambda: any("/login/" in html_of(m) for m in mailbox.to("d@example.org")))
    login_mail = [m for m in mailbox.to("d@example.org") if "/login/" in html_of(m)][0]
    door.goto(link(login_mail, r'href="(http[^"]+/login/[^"]+)"'))
    door.locator("main form button[type=submit]").click()
    door.wait_for_url("**/me")
    errors: list[str] = []
    door.on("pageerror", lambda error: errors.append(str(error)))
    door.on("console", lambda message: errors.append(message.text))
    door.goto(url + f"/events/{event_id}/door")
    assert door.locator("#code-form").count() == 1, door.content()[:3000]
    qr_png = httpx.get(ticket_url + "/qr.png").content
    door.set_input_files("#scan-file", files=[{"name": "ticket.png", "mimeType": "image/png", "buffer": qr_png}])
    door.locator("#door-result .door-arrived").wait_for()
    assert not [error for error in errors if "Content Security Policy" in error or "Error" in error], errors
    assert a in door.locator("#door-result").inner_text()
    door.set_input_files("#scan-file", files=[{"name": "again.png", "mimeType": "image/png", "buffer": qr_png}])
    door.locator("#door-result .door-again").wait_for()
    assert ui["again"] in door.locator("#door-result").inner_text()
    door.fill("#q", b.split()[-1])
    door.locator("#search button[type=submit]").click()
    door.locator("#found form button").click()
    door.locator("#door-result .door-arrived").wait_for()
    assert b in door.locator("#door-result").inner_text()
    assert door.evaluate("document.documentElement.scrollWidth") <= 360
    assert re.search(r"3\D+120", door.locator("#door-count").inner_text())
    screenshot(door, f"events-door-{language}")

    # The year's numbers show the attendance.
    admin.goto(url + f"/admin/ambassadors/numbers?year={EVENT_DAY[:4]}")
    row = admin.locator("#event-attendance tbody tr").first.inner_text()
    assert "120" in row and "3" in row
