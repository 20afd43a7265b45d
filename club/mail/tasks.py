"""Mail housekeeping: once a transactional mail has left (or failed for good), its bodies are emptied, so the
database does not keep working login and confirmation links, nor personal text, longer than needed."""

from __future__ import annotations

from sqlalchemy import exists, update
from sqlalchemy.ext.asyncio import AsyncSession

from club.config import Settings
from club.mail.models import Delivery, Mail
from club.tasks import Job, in_transaction


@in_transaction
async def forget_sent_bodies(db: AsyncSession, settings: Settings) -> None:
    unfinished = exists().where(Delivery.mail_id == Mail.id, Delivery.status.in_(("queued", "sending")))
    await db.execute(
        update(Mail)
        .where(Mail.bulk.is_(False), Mail.text != "", ~unfinished)
        .values(text="", html="")
        .execution_options(synchronize_session=False)
    )


JOBS = [Job("forget sent transactional bodies", 300, forget_sent_bodies)]
