"""An ambassador takes their data and erases their account: the export holds every feature's data in one file
(and the privacy notice names each part), and the erasure reaches every feature's rows and files, keeping only
what the erase page promises: the approved activities, with their photos, credited to a former ambassador."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import ForeignKey, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from club.accounts.models import Person
from club.admin.models import AuditEntry
from club.ambassadors import photos, service
from club.ambassadors.models import Activity, ActivityPhoto, Appointment
from club.db import is_postgres
from club.mail.mailbox import mailbox_dir, running_mailbox
from club.mail.outbox import queue_mail
from club.members.service import address_key
from club.models import metadata
from tests.factories import (
    csrf_token,
    eventually,
    image_bytes,
    log_in,
    make_activity,
    make_admin,
    make_ambassador,
    make_person,
    running_sender,
)
from tests.helpers import upload

EMAIL = "sofie.claeys@example.be"
NAME = "Sofie Claeys-Verhaeghe"
NEW_NAME = "Sofie Claeys"


def client_from(app: object, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def activity_form(token: str, title: str, action: str = "submit") -> dict[str, str]:
    return {
        "csrf_token": token,
        "happened_on": (service.club_today() - dt.timedelta(days=2)).isoformat(),
        "title": title,
        "category": "crafts",
        "city": "ghent",
        "venue": "Het Pand",
        "description": "Gold leaf from Kanazawa, shown in Ghent.",
        "people_reached": "35",
        "hours": "2.75",
        "link": "",
        "public": "1",
        "action": action,
    }


async def log_activity(client: httpx.AsyncClient, title: str, *, action: str = "submit", photo_count: int = 1) -> int:
    token = await csrf_token(client, "/activities/new")
    files = [("photos", (f"p{i}.jpg", image_bytes("JPEG", (320, 200)), "image/jpeg")) for i in range(photo_count)]
    response = await client.post("/activities/new", data=activity_form(token, title, action), files=files)
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


async def keys_of(db: AsyncSession, activity_id: int) -> list[str]:
    return list((await db.execute(select(ActivityPhoto.key).where(ActivityPhoto.activity_id == activity_id))).scalars())


def photo_files(var_dir: Path, keys: list[str]) -> list[Path]:
    return [photos.photo_path(var_dir, key, size) for key in keys for size in photos.SIZES]


async def every_row(db: AsyncSession) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table in the database, the ones no model describes included (SQLite's search index)."""
    if is_postgres(db):
        names = (
            (
                await db.execute(
                    text(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
                        "AND table_type = 'BASE TABLE'"
                    )
                )
            )
            .scalars()
            .all()
        )
    else:
        names = (await db.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))).scalars().all()
    dump = {}
    for name in names:
        result = await db.execute(text(f'SELECT * FROM "{name}"'))
        dump[name] = [dict(row._mapping) for row in result]
    return dump


def person_columns() -> list[tuple[str, str]]:
    """(table, column) of every column that points at a person."""
    found = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            for key in column.foreign_keys:
                assert isinstance(key, ForeignKey)
                if key.target_fullname in ("people.id", "ambassadors.person_id"):
                    found.append((table.name, column.name))
    return found


def main(page: str) -> str:
    """The page's own content, without the navigation (which changes with the login)."""
    return page[page.index("<main") : page.index("</main>")]


def mentions(value: object, needles: tuple[str, ...]) -> bool:
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value).lower()
        return any(needle.encode() in data for needle in needles)
    return any(needle in str(value).lower() for needle in needles)


async def test_an_ambassador_exports_everything_and_erasure_leaves_only_what_the_page_promises(
    app, client, db, settings, engine
):
    var_dir = settings.var_dir
    person, appointment = await make_ambassador(db, name=NAME, email=EMAIL)
    person_id = person.id
    code = (await db.execute(text("SELECT ref FROM ambassadors"))).scalar_one()
    recruit = await make_person(db, name="Recruited Member")
    recruit.ref = code
    await db.commit()
    other, other_term = await make_ambassador(db, name="Kenji Tanaka", email="kenji@example.jp")
    admin = await make_admin(db)
    other_id, other_term_id, recruit_id = other.id, other_term.id, recruit.id
    await log_in(client, db, person)

    # Through the pages: an approved activity with two photos, one waiting for review, one sent back, one draft.
    approved_id = await log_activity(client, "Gold leaf workshop", photo_count=2)
    waiting_id = await log_activity(client, "Tea ceremony in the Vooruit")
    returned_id = await log_activity(client, "Kutani porcelain evening")
    draft_id = await log_activity(client, "Draft about Kenroku-en", action="draft")
    async with client_from(app, "198.51.100.20") as admin_browser:
        await log_in(admin_browser, db, admin)
        for activity_id, data in (
            (approved_id, {"action": "approve"}),
            (returned_id, {"action": "return", "comment": f"Dear {NAME}, add the date."}),
        ):
            token = await csrf_token(admin_browser, f"/admin/ambassadors/review/{activity_id}")
            response = await admin_browser.post(
                f"/admin/ambassadors/review/{activity_id}", data={"csrf_token": token, **data}
            )
            assert response.status_code == 303, response.text
        # The admin renames her (the log keeps that the name changed, not the names) and suppresses her mail.
        token = await csrf_token(admin_browser, f"/admin/members/{person_id}/edit")
        response = await admin_browser.post(
            f"/admin/members/{person_id}/edit",
            data={
                "csrf_token": token,
                "name": NEW_NAME,
                "email": EMAIL,
                "city": "ghent",
                "language": "en",
                "role": "ambassador",
            },
        )
        assert response.status_code == 303, response.text
        token = await csrf_token(admin_browser, f"/admin/members/{person_id}")
        await admin_browser.post(
            f"/admin/members/{person_id}/suppress", data={"csrf_token": token, "reason": f"{NAME} asked by phone"}
        )
        await admin_browser.post(f"/admin/members/{person_id}/unsuppress", data={"csrf_token": token})
        # A member list waiting to be imported holds her address.
        response = await upload(
            admin_browser,
            (
                "email,name,city,language,interests,newsletter,consent_date\n"
                f"{EMAIL},{NAME},ghent,en,,no,\n"
                "someone.else@example.be,Someone Else,ghent,en,,no,\n"
                f"{EMAIL},{NAME} again,ghent,en,,no,\n"
            ).encode(),
        )
        assert response.status_code == 303
        # The admin's member page lists her activities (it said "No activities" before).
        member_page = (await admin_browser.get(f"/admin/members/{person_id}")).text
        assert "Gold leaf workshop" in member_page and "Draft about Kenroku-en" in member_page
        assert "No activities." not in member_page
    # An entry written before the log stopped keeping values: old and new name and address of an edit.
    db.add(
        AuditEntry(
            actor_id=admin.id,
            actor_email=admin.email,
            action="member.edit",
            target_type="person",
            target_id=str(person_id),
            details=json.dumps({"changes": {"email": ["sofie@old.example", EMAIL], "name": [NAME, NEW_NAME]}}),
        )
    )
    db.add(
        AuditEntry(
            actor_email=admin.email, action="admin.invite", target_type="email", details=json.dumps({"email": EMAIL})
        )
    )
    await db.commit()
    # She asked for a login link: a rate counter names her address by its hash.
    async with client_from(app, "198.51.100.30") as stranger:
        token = await csrf_token(stranger, "/login")
        assert (await stranger.post("/login", data={"csrf_token": token, "email": EMAIL})).status_code == 303
    counters = (await db.execute(text("SELECT key FROM rate_counters"))).scalars().all()
    assert any(address_key(EMAIL) in key for key in counters)
    imports_dir = var_dir / "imports"
    assert any(EMAIL in path.read_text() for path in imports_dir.glob("*.jsonl"))

    # Mail to her reaches the development mailbox through the real sender.
    await queue_mail(
        db,
        to_email=EMAIL,
        to_name=NEW_NAME,
        subject="Your activity",
        text="Hello %%name%%",
        html="<p>Hello %%name%%</p>",
        language="en",
        person_id=person_id,
    )
    await queue_mail(
        db,
        to_email="kenji@example.jp",
        to_name="Kenji Tanaka",
        subject="Hello Kenji",
        text="Hello %%name%%",
        html="<p>Hello %%name%%</p>",
        language="en",
        person_id=other.id,
    )
    await db.commit()
    async with running_mailbox(var_dir) as port, running_sender(engine, port):

        async def caught() -> bool:
            return len(list(mailbox_dir(var_dir).glob("*.eml"))) >= 3  # the sent-back mail and the two above

        await eventually(caught)
    mails_before = list(mailbox_dir(var_dir).glob("*.eml"))
    # A relay once refused her address, quoting it.
    await db.execute(
        text("UPDATE mail_deliveries SET last_error = :error WHERE to_email = :email"),
        {"error": f"550 5.1.1 <{EMAIL.upper()}>: mailbox full", "email": EMAIL},
    )
    await db.commit()
    assert any(EMAIL.encode() in path.read_bytes() for path in mails_before)

    approved_keys, dropped_keys = await keys_of(db, approved_id), []
    for activity_id in (waiting_id, returned_id, draft_id):
        dropped_keys += await keys_of(db, activity_id)
    assert len(approved_keys) == 2 and len(dropped_keys) == 3
    assert all(path.is_file() for path in photo_files(var_dir, approved_keys + dropped_keys))

    # ---- the export: every feature's data in one file, each part named on the privacy page ----
    response = await client.get("/me/export")
    assert response.status_code == 200
    data = response.json()
    assert data["profile"]["email"] == EMAIL and data["profile"]["name"] == NEW_NAME
    assert data["recruiting"]["code"] == code and data["recruiting"]["recruits"] == 1
    assert [(term["home_institution"], term["stationed_in"]) for term in data["appointments"]] == [
        ("ugent", "kanazawa")
    ]
    by_title = {activity["title"]: activity for activity in data["activities"]}
    assert set(by_title) == {
        "Gold leaf workshop",
        "Tea ceremony in the Vooruit",
        "Kutani porcelain evening",
        "Draft about Kenroku-en",
    }
    assert {a["title"]: a["status"] for a in data["activities"]}["Kutani porcelain evening"] == "returned"
    assert by_title["Kutani porcelain evening"]["review_comment"] == f"Dear {NAME}, add the date."
    links = [photo["large"] for activity in data["activities"] for photo in activity["photos"]]
    assert len(links) == 5
    for link in links:  # each link opens the photo for its author
        photo = await client.get(link.removeprefix("http://testserver"))
        assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert [mail["subject"] for mail in data["mails"]].count("Your activity") == 1
    assert data["sessions"] and data["consents"] == [] and data["interests"] == []
    privacy = (await client.get("/privacy")).text
    named_on_privacy_page = {
        "profile": "Your email address, your name",
        "interests": "areas of the twinning",
        "consents": "record of every consent",
        "mails": "Which mails we sent you",
        "sessions": "Your logins",
        "recruiting": "your join link and how many members joined through it",
        "appointments": "your terms (dates, institutions, where you are stationed)",
        "activities": "the activities you log, with their photos",
        "event_answers": "Your answers to events",
    }
    assert set(data) == set(named_on_privacy_page)  # a new part of the export must be named on the page
    for part, words in named_on_privacy_page.items():
        assert words in privacy, part

    # ---- the erase page says what stays; erasing does that and nothing else ----
    page = await client.get("/me/erase")
    assert "credited to “a former ambassador”" in page.text and 'id="dropped-activities"' in page.text
    wall_before = (await client.get("/ambassadors")).text
    token = await csrf_token(client, "/me/erase")
    response = await client.post("/me/erase", data={"csrf_token": token, "confirm": "yes"})
    assert response.status_code == 303 and response.headers["location"] == "/goodbye"
    db.expire_all()

    # What stays: the approved activity, its photos (rows and files), its term, all without a person.
    kept = await db.get(Activity, approved_id, populate_existing=True)
    assert kept is not None and kept.status == "approved" and kept.person_id is None
    assert kept.former_ambassador_key is not None
    assert await keys_of(db, approved_id) == approved_keys
    assert all(path.is_file() for path in photo_files(var_dir, approved_keys))
    term = await db.get(Appointment, kept.appointment_id, populate_existing=True)
    assert term is not None and term.person_id is None
    wall = (await client.get("/ambassadors")).text
    assert "Gold leaf workshop" in wall and "by a former ambassador" in wall
    assert main(wall) == main(wall_before).replace(f"by {NEW_NAME}", "by a former ambassador")
    assert (await client.get(f"/ambassadors/activities/{approved_id}")).status_code == 200
    assert (await client.get(f"/ambassadors/photos/{approved_keys[0]}-large.jpg")).status_code == 200

    # What goes: the other activities, their photo rows and files, the mailbox's copies, the import rows.
    for activity_id in (waiting_id, returned_id, draft_id):
        assert await db.get(Activity, activity_id) is None
    assert not any(path.exists() for path in photo_files(var_dir, dropped_keys))
    remaining_mail = list(mailbox_dir(var_dir).glob("*.eml"))
    assert remaining_mail and all(EMAIL.encode() not in path.read_bytes() for path in remaining_mail)
    assert any(b"kenji@example.jp" in path.read_bytes() for path in remaining_mail)  # others' mail stays

    # Every table, every row: no address, no name, no pointer to her id; the audit log keeps what was done.
    needles = (EMAIL.lower(), NAME.lower(), NEW_NAME.lower(), "sofie@old.example")
    dump = await every_row(db)
    found = [
        (table, row)
        for table, rows in dump.items()
        for row in rows
        if any(mentions(value, needles) for value in row.values())
    ]
    assert found == [], [
        (table, {key: value for key, value in row.items() if mentions(value, needles)}) for table, row in found
    ]
    for table, column in person_columns():
        assert all(row[column] != person_id for row in dump[table]), (table, column)
    about_her = [
        row for row in dump["audit_log"] if row["target_type"] == "person" and row["target_id"] == str(person_id)
    ]
    assert about_her == []
    edits = [json.loads(row["details"]) for row in dump["audit_log"] if row["action"] == "member.edit"]
    assert {"fields": ["email", "name"]} in edits and {"fields": ["name"]} in edits
    suppressions = [json.loads(row["details"]) for row in dump["audit_log"] if row["action"] == "member.suppress"]
    assert suppressions == [{"with_reason": True}]
    assert [row["count"] for row in dump["erasure_counts"]] == [1]
    assert not any(address_key(EMAIL) in row["key"] for row in dump["rate_counters"])
    # Other people's data stays as it was.
    assert await db.get(Person, other_id) is not None and await db.get(Person, recruit_id) is not None
    assert await db.get(Appointment, other_term_id) is not None

    # Every file under var/: none holds her address or name (the kept photos are pictures, not text).
    for path in var_dir.rglob("*"):
        if path.is_file():
            assert not mentions(path.read_bytes(), needles), path
    import_rows = [
        json.loads(line)
        for path in imports_dir.glob("*.jsonl")
        if not path.name.endswith("-rejected.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert [row["email"] for row in import_rows] == ["someone.else@example.be"]


async def test_the_admin_member_page_lists_an_ambassadors_activities(client, db):
    person, term = await make_ambassador(db, name=NAME, email=EMAIL)
    for index in range(12):
        await make_activity(db, person, term, title=f"Talk number {index}", status="approved" if index else "draft")
    await log_in(client, db, await make_admin(db))
    page = (await client.get(f"/admin/members/{person.id}")).text
    assert "No activities." not in page
    assert all(f"Talk number {index}" in page for index in range(12))
    assert page.count("Approved") >= 11 and "Draft" in page
