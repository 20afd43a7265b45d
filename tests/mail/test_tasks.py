from sqlalchemy import select

from club import tasks
from club.db import create_sessionmaker
from club.mail.models import Delivery, Mail
from club.mail.outbox import Recipient, queue_mail, queue_newsletter


async def test_sent_transactional_bodies_are_forgotten_but_waiting_ones_and_newsletters_kept(engine, settings, db):
    sent = await queue_mail(
        db,
        to_email="a@example.org",
        to_name="A",
        subject="Your login link",
        text="http://testserver/login/SECRET",
        html="<a>SECRET</a>",
        language="en",
    )
    waiting = await queue_mail(
        db,
        to_email="b@example.org",
        to_name="B",
        subject="Confirm",
        text="http://testserver/join/confirm/OTHER",
        html="<a>OTHER</a>",
        language="en",
    )
    newsletter, _ = await queue_newsletter(
        db,
        subject="News",
        text="Hello %%name%%",
        html="<p>Hello</p>",
        language="en",
        recipients=[Recipient("c@example.org", "C", None, "http://testserver/unsubscribe/x")],
    )
    (await db.get(Delivery, sent.id)).status = "sent"
    for delivery in (await db.execute(select(Delivery).where(Delivery.mail_id == newsletter.id))).scalars():
        delivery.status = "sent"
    await db.commit()

    job = next(job for job in tasks.jobs() if job.name == "forget sent transactional bodies")
    assert await tasks.run_job_once(job, create_sessionmaker(engine), settings)

    bodies = {
        mail.id: (mail.text, mail.html)
        for mail in (await db.execute(select(Mail).execution_options(populate_existing=True))).scalars()
    }
    assert bodies[sent.mail_id] == ("", "")
    assert "OTHER" in bodies[waiting.mail_id][0]
    assert bodies[newsletter.id][0] == "Hello %%name%%"  # the archive and the report still need it
