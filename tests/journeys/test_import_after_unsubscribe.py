"""A member leaves with one click from a real newsletter mail, then an admin imports an old spreadsheet that says
they want the newsletter: the withdrawal is later than the row's consent date, so it wins, and the preview says so."""

from __future__ import annotations

import asyncio
import re

import httpx
from sqlalchemy import select

from club.accounts.models import Person
from club.mail.outbox import Recipient, queue_newsletter
from club.members import service as members
from club.members.models import Consent
from tests.factories import make_person, running_sender
from tests.helpers import log_in_admin, post_form, upload

OLD_SPREADSHEET = (
    "email,name,city,language,newsletter,consent_date\n"
    "mieke@example.be,Mieke Claes,gent,nl,yes,2024-04-01\n"
    "newcomer@example.be,Nieuw Lid,gent,nl,yes,2024-04-01\n"
)


async def test_a_one_click_unsubscribe_wins_over_an_older_spreadsheet(app, client, db, engine, settings, smtp_server):
    box, port = smtp_server
    mieke = await make_person(db, email="mieke@example.be", name="Mieke Claes", language="nl")
    mieke_id = mieke.id
    await members.set_newsletter(db, mieke, True, method="form", language="nl")
    await queue_newsletter(
        db,
        subject="Nieuws uit Gent",
        text="Beste %%name%%",
        html="<p>Beste %%name%%</p>",
        language="nl",
        recipients=[
            Recipient(
                email="mieke@example.be",
                name="Mieke Claes",
                person_id=mieke_id,
                unsubscribe_url=members.unsubscribe_url(settings, mieke_id),
            )
        ],
    )
    await db.commit()
    async with running_sender(engine, port):
        await box.wait_for(1)
    mail = box.to("mieke@example.be")[0]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = re.search(r"<(http://testserver(/unsubscribe/[^>]+))>", mail["List-Unsubscribe"]).group(2)
    mail_client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("192.0.2.1", 1)), base_url="http://testserver"
    )
    async with mail_client:  # the mail program's POST: no cookie, no CSRF token
        assert (await mail_client.post(link, data={"List-Unsubscribe": "One-Click"})).status_code == 200
    db.expire_all()
    assert (await db.get(Person, mieke_id)).newsletter is False

    await log_in_admin(client, db)
    response = await upload(client, OLD_SPREADSHEET.encode(), filename="leden-2024.csv")
    job_url = response.headers["location"]
    preview = (await client.get(job_url)).text
    assert re.search(r'id="conflict-rows">1<', preview)
    conflicts = preview.split('id="conflicts"', 1)[1].split("</table>", 1)[0]
    assert "mieke@example.be" in conflicts and "newcomer@example.be" not in conflicts
    await post_form(client, job_url + "/run", page=job_url)
    for _ in range(400):
        if 'id="import-done"' in (await client.get(job_url)).text:
            break
        await asyncio.sleep(0.05)
    db.expire_all()
    assert (await db.get(Person, mieke_id)).newsletter is False  # still unsubscribed
    given = (
        await db.execute(
            select(Consent.given, Consent.method).where(Consent.person_id == mieke_id).order_by(Consent.id)
        )
    ).all()
    assert given == [(True, "form"), (False, "one-click")]  # the import added no consent over the withdrawal
    newcomer = (await db.execute(select(Person).where(Person.email == "newcomer@example.be"))).scalar_one()
    assert newcomer.newsletter is True  # the same file's other rows are imported as before
