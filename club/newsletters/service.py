"""Newsletters: drafts, test sends, scheduling, sending through the outbox, pause/resume/cancel, progress, report.

Every change of a newsletter's status is one conditional UPDATE (`_transition`), so pressing send twice, or two
admins at once, starts one send: the second UPDATE finds the status already changed and matches no row.
Services flush but never commit: the request (or `run_due`) owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from club import csvfile, publicpages
from club.accounts.models import Person
from club.config import Settings
from club.db import transaction, utcnow
from club.mail import outbox
from club.mail.models import Delivery, DeliveryStatus
from club.mail.outbox import Recipient, queue_mail, queue_newsletter
from club.members.models import Consent
from club.members.service import NEWSLETTER, subscribed_members, unsubscribe_url
from club.newsletters import audience as audiences
from club.newsletters import render
from club.newsletters.forms import Draft
from club.newsletters.models import STARTABLE, Newsletter, NewsletterImage, NewsletterVariant

log = logging.getLogger("club.newsletters")

# What members' cancel_queued_newsletters writes on a delivery whose member unsubscribed before it left.
TEST_UNSUBSCRIBE_PATH = "/unsubscribe/test-only"


class NoRecipients(Exception):
    """Nobody matches the audience: nothing is sent."""


TagProblems = dict[str, list[tuple[str, dict[str, str]]]]


class UnknownPlaceholders(Exception):
    """A variant holds a placeholder nothing fills in: nothing is sent."""

    def __init__(self, problems: TagProblems) -> None:
        super().__init__(problems)
        self.problems = problems


def tag_problems(newsletter: Newsletter) -> TagProblems:
    """Per language, what is wrong with the placeholders of that variant (see render.tag_problems)."""
    result: TagProblems = {}
    for variant in newsletter.variants:
        problems = render.tag_problems(variant.subject, variant.preheader, variant.body)
        if problems:
            result[variant.language] = problems
    return result


async def get(db: AsyncSession, newsletter_id: int) -> Newsletter | None:
    return (
        await db.execute(
            select(Newsletter).where(Newsletter.id == newsletter_id).options(selectinload(Newsletter.variants))
        )
    ).scalar_one_or_none()


async def listing(db: AsyncSession) -> list[Newsletter]:
    statement = select(Newsletter).options(selectinload(Newsletter.variants)).order_by(Newsletter.id.desc())
    return list((await db.execute(statement)).scalars())


def variant_map(newsletter: Newsletter) -> dict[str, NewsletterVariant]:
    return {variant.language: variant for variant in newsletter.variants}


def title_of(newsletter: Newsletter, language: str) -> str:
    variants = variant_map(newsletter)
    chosen = variants.get(language) or variants.get(newsletter.fallback_language)
    return chosen.subject if chosen else ""


async def save(db: AsyncSession, newsletter: Newsletter | None, draft: Draft, author: Person) -> Newsletter:
    """Create or update a draft (the caller checked that it is still editable)."""
    if newsletter is None:
        newsletter = Newsletter(status="draft", created_by_id=author.id, recipients=0, variants=[])
        db.add(newsletter)
    newsletter.fallback_language = draft.fallback_language
    newsletter.private = draft.private
    newsletter.audience = draft.audience.to_json()
    existing = variant_map(newsletter)
    for language, variant in existing.items():
        if language not in draft.variants:
            newsletter.variants.remove(variant)
    for language, data in draft.variants.items():
        row = existing.get(language)
        if row is None:
            newsletter.variants.append(
                NewsletterVariant(language=language, subject=data.subject, preheader=data.preheader, body=data.body)
            )
        else:
            row.subject, row.preheader, row.body = data.subject, data.preheader, data.body
    newsletter.updated_at = utcnow()
    await db.flush()
    return newsletter


async def duplicate(db: AsyncSession, newsletter: Newsletter, author: Person) -> Newsletter:
    """A new draft with the same texts, audience and images (copied, so deleting either keeps the other whole)."""
    images = list(
        (
            await db.execute(
                select(NewsletterImage)
                .where(NewsletterImage.newsletter_id == newsletter.id)
                .order_by(NewsletterImage.id)
            )
        ).scalars()
    )
    tokens = {image.token: secrets.token_urlsafe(16) for image in images}

    def retarget(text: str) -> str:
        for old, new in tokens.items():
            text = text.replace(f"/newsletters/images/{old}.", f"/newsletters/images/{new}.")
        return text

    copy = Newsletter(
        status="draft",
        created_by_id=author.id,
        recipients=0,
        fallback_language=newsletter.fallback_language,
        private=newsletter.private,
        audience=newsletter.audience,
        variants=[
            NewsletterVariant(
                language=v.language, subject=v.subject, preheader=retarget(v.preheader), body=retarget(v.body)
            )
            for v in newsletter.variants
        ],
    )
    db.add(copy)
    await db.flush()
    db.add_all(
        NewsletterImage(
            newsletter_id=copy.id,
            token=tokens[image.token],
            filename=image.filename,
            content_type=image.content_type,
            width=image.width,
            height=image.height,
            data=image.data,
        )
        for image in images
    )
    await db.flush()
    return copy


async def delete_draft(db: AsyncSession, newsletter_id: int) -> bool:
    """Delete a draft with its variants and images; False (nothing deleted) when it is no longer a draft."""
    result = await db.execute(
        delete(Newsletter)
        .where(Newsletter.id == newsletter_id, Newsletter.status == "draft")
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    for model in (NewsletterVariant, NewsletterImage):
        await db.execute(
            delete(model).where(model.newsletter_id == newsletter_id).execution_options(synchronize_session=False)
        )
    return True


async def _transition(
    db: AsyncSession, newsletter_id: int, from_statuses: Sequence[str], to: str, **values: object
) -> bool:
    """Move the newsletter to `to` if its status is one of `from_statuses`; False when someone else was first."""
    if to == "sent" or "sent" in from_statuses:
        publicpages.changed(db)  # into or out of the archive
    result = await db.execute(
        update(Newsletter)
        .where(Newsletter.id == newsletter_id, Newsletter.status.in_(from_statuses))
        .values(status=to, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# ---- audience --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AudiencePlan:
    by_member_language: dict[str, int]
    by_variant: dict[str, int]
    # Member languages without a variant of their own: they get the fallback.
    missing: list[str]

    @property
    def total(self) -> int:
        return sum(self.by_member_language.values())


async def audience_plan(db: AsyncSession, newsletter: Newsletter) -> AudiencePlan:
    counts = await audiences.counts_by_language(db, audiences.Audience.from_json(newsletter.audience))
    variants = frozenset(variant_map(newsletter))
    missing = [lang for lang, count in counts.items() if lang not in variants]
    by_variant = audiences.plan(counts, variants, newsletter.fallback_language) if variants else {}
    return AudiencePlan(counts, by_variant, missing)


async def last_pace(db: AsyncSession) -> float | None:
    """Mails per second of the most recent newsletter that was sent in full (None before the first one)."""
    row = (
        await db.execute(
            select(Newsletter.recipients, Newsletter.started_at, Newsletter.finished_at)
            .where(
                Newsletter.status == "sent",
                Newsletter.recipients > 0,
                Newsletter.started_at.is_not(None),
                Newsletter.finished_at.is_not(None),
            )
            .order_by(Newsletter.finished_at.desc())
            .limit(1)
        )
    ).one_or_none()
    if row is None:
        return None
    seconds = max((row.finished_at - row.started_at).total_seconds(), 1.0)
    return float(row.recipients) / seconds


# ---- sending ---------------------------------------------------------------------------------------------------


def web_url(settings: Settings, newsletter: Newsletter, language: str) -> str | None:
    return None if newsletter.private else settings.absolute_url(f"/newsletters/{newsletter.id}?lang={language}")


def rendered_variant(settings: Settings, newsletter: Newsletter, variant: NewsletterVariant) -> render.RenderedMail:
    return render.mail(
        settings,
        language=variant.language,
        subject=variant.subject,
        preheader=variant.preheader,
        body=variant.body,
        web_url=web_url(settings, newsletter, variant.language),
    )


async def start_sending(
    db: AsyncSession, settings: Settings, newsletter_id: int, from_statuses: Sequence[str] = STARTABLE
) -> int | None:
    """Queue one delivery per recipient, in their language's variant or the fallback.

    Returns the number queued, or None when the newsletter was not in a startable state (already started by
    another click or admin). Raises NoRecipients, changing nothing, when the audience is empty."""
    newsletter = await get(db, newsletter_id)
    if newsletter is None or newsletter.status not in from_statuses or not newsletter.variants:
        return None
    problems = tag_problems(newsletter)
    if problems:
        raise UnknownPlaceholders(problems)
    rows = (await db.execute(audiences.members(audiences.Audience.from_json(newsletter.audience)))).all()
    if not rows:
        raise NoRecipients()
    if not await _transition(db, newsletter_id, from_statuses, "sending", started_at=utcnow()):
        return None
    variants = variant_map(newsletter)
    groups: dict[str, list[tuple[int, str, str]]] = {language: [] for language in variants}
    for person_id, email, name, language in rows:
        groups[audiences.variant_for(language, frozenset(variants), newsletter.fallback_language)].append(
            (person_id, email, name)
        )
    total = 0
    for language, members in groups.items():
        if not members:
            continue
        mail = rendered_variant(settings, newsletter, variants[language])
        _mail, queued = await queue_newsletter(
            db,
            subject=mail.subject,
            text=mail.text,
            html=mail.html,
            language=language,
            recipients=_recipients(settings, members),
            reference=newsletter.reference,
        )
        total += queued
    await db.execute(
        update(Newsletter)
        .where(Newsletter.id == newsletter_id)
        .values(recipients=total)
        .execution_options(synchronize_session=False)
    )
    log.info("newsletter %d: %d deliveries queued", newsletter_id, total)
    return total


def _recipients(settings: Settings, members: list[tuple[int, str, str]]) -> Iterator[Recipient]:
    for person_id, email, name in members:
        yield Recipient(
            email=email, name=name, person_id=person_id, unsubscribe_url=unsubscribe_url(settings, person_id)
        )


def _reference(newsletter_id: int) -> str:
    return f"newsletter:{newsletter_id}"


async def pause(db: AsyncSession, newsletter_id: int) -> bool:
    """Hold every delivery not sent yet (see `outbox.hold`)."""
    if not await _transition(db, newsletter_id, ("sending",), "paused"):
        return False
    await outbox.hold(db, _reference(newsletter_id))
    return True


async def resume(db: AsyncSession, newsletter_id: int) -> bool:
    """Release held deliveries, except to members who unsubscribed or bounced in the meantime."""
    if not await _transition(db, newsletter_id, ("paused",), "sending"):
        return False
    still_subscribed = subscribed_members().with_only_columns(Person.id).order_by(None)
    await outbox.release(db, _reference(newsletter_id), to=still_subscribed, others=outbox.UNSUBSCRIBED)
    return True


async def cancel(db: AsyncSession, newsletter_id: int) -> bool:
    """Stop a send (or drop a schedule): nothing still waiting leaves, claimed deliveries included (see `pause`).
    False when it has already finished."""
    if not await _transition(
        db, newsletter_id, ("draft", "scheduled", "sending", "paused"), "cancelled", finished_at=utcnow()
    ):
        return False
    await outbox.cancel(db, _reference(newsletter_id))
    return True


async def retry_failed(db: AsyncSession, newsletter_id: int) -> int:
    """Queue the failed deliveries of a send again (e.g. after the relay refused everyone); the sender still skips
    members who have unsubscribed or are suppressed. A finished send is sending again. Returns how many."""
    newsletter = await db.get(Newsletter, newsletter_id)
    if newsletter is None or newsletter.status not in ("sending", "paused", "sent"):
        return 0
    retried = await outbox.retry_failed(db, _reference(newsletter_id), held=newsletter.status == "paused")
    if retried:
        await _transition(db, newsletter_id, ("sent",), "sending", finished_at=None)
    return retried


async def schedule(db: AsyncSession, newsletter_id: int, moment: dt.datetime, zone: str | None = None) -> bool:
    return await _transition(
        db, newsletter_id, ("draft", "scheduled"), "scheduled", scheduled_at=moment, schedule_zone=zone
    )


async def unschedule(db: AsyncSession, newsletter_id: int) -> bool:
    return await _transition(db, newsletter_id, ("scheduled",), "draft", scheduled_at=None)


# ---- progress and report ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    status: str
    total: int
    sent: int
    failed: int
    pending: int
    cancelled: int
    skipped: int  # unsubscribed before their copy left
    # Sent although Pause or Cancel had been pressed: they were already inside an SMTP transaction.
    after_stop: int = 0

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.cancelled + self.skipped

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.done / self.total)

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "done": self.done, "percent": self.percent}


async def progress(db: AsyncSession, newsletter: Newsletter) -> Progress:
    """Counts per state of this newsletter's deliveries; also notices that a send has finished."""
    counts = await outbox.count_by_state(db, _reference(newsletter.id))
    status = newsletter.status
    if status == "sending" and not counts.waiting:
        if await _transition(db, newsletter.id, ("sending",), "sent", finished_at=utcnow()):
            status = "sent"
    return Progress(
        status=status,
        total=counts.total,
        sent=counts[DeliveryStatus.SENT],
        failed=counts[DeliveryStatus.FAILED],
        pending=counts.waiting,
        cancelled=counts[DeliveryStatus.CANCELLED],
        skipped=counts.unsubscribed,
        after_stop=counts.after_stop,
    )


async def failures(db: AsyncSession, newsletter_id: int, limit: int = 200) -> list[Delivery]:
    return await outbox.failures(db, _reference(newsletter_id), limit)


async def unsubscribes(db: AsyncSession, newsletter_id: int) -> int:
    """Recipients who unsubscribed after this newsletter reached them and before another newsletter did."""
    withdrawn = select(Consent.person_id, Consent.created_at).where(
        Consent.purpose == NEWSLETTER, Consent.given.is_(False)
    )
    return await outbox.count_reached_before(db, _reference(newsletter_id), withdrawn)


CSV_COLUMNS = ("email", "name", "language", "status", "attempts", "smtp_code", "smtp_reply", "sent_at")


async def deliveries_csv(db: AsyncSession, newsletter_id: int) -> str:
    rows = await outbox.deliveries_of(db, _reference(newsletter_id))
    lines = [csvfile.row(CSV_COLUMNS)]
    for email, name, language, status, attempts, smtp_code, reply, sent_at in rows:
        values = (email, name, language, status, attempts, smtp_code, reply, sent_at.isoformat() if sent_at else "")
        lines.append(csvfile.row(values))
    return "".join(lines)


# ---- test send -------------------------------------------------------------------------------------------------


async def send_test(
    db: AsyncSession, settings: Settings, newsletter: Newsletter, admin: Person, addresses: Sequence[str]
) -> int:
    """Every variant to the admin and up to five more addresses, marked as a test, as transactional mail (it
    leaves at once). The unsubscribe link is a dummy, so a test can never unsubscribe anyone."""
    targets = [(admin.email, admin.name)] + [(address, "") for address in addresses if address != admin.email]
    dummy = settings.absolute_url(TEST_UNSUBSCRIBE_PATH)
    count = 0
    for variant in newsletter.variants:
        mail = rendered_variant(settings, newsletter, variant)
        html = mail.html.replace("%%unsubscribe_url%%", dummy)
        text = mail.text.replace("%%unsubscribe_url%%", dummy)
        for email, name in targets:
            await queue_mail(
                db,
                to_email=email,
                to_name=name,
                subject=f"[TEST] {mail.subject}",
                text=text,
                html=html,
                language=variant.language,
                kind="newsletter-test",
                person_id=admin.id if email == admin.email else None,
            )
            count += 1
    return count


# ---- scheduler -------------------------------------------------------------------------------------------------


async def run_due(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    """Start every scheduled newsletter whose moment has come, and mark finished sends as sent.

    Called periodically by the sender's worker (each call is short; several workers calling it at once start
    each newsletter once, thanks to the conditional UPDATE). Returns how many newsletters it started."""
    async with sessionmaker() as db:
        due = list(
            (
                await db.execute(
                    select(Newsletter.id)
                    .where(Newsletter.status == "scheduled", Newsletter.scheduled_at <= utcnow())
                    .order_by(Newsletter.scheduled_at)
                )
            ).scalars()
        )
        sending = list((await db.execute(select(Newsletter.id).where(Newsletter.status == "sending"))).scalars())
    started = 0
    for newsletter_id in due:
        try:
            async with transaction(sessionmaker) as db:
                if await start_sending(db, settings, newsletter_id, from_statuses=("scheduled",)) is not None:
                    started += 1
        except NoRecipients:
            async with transaction(sessionmaker) as db:
                await _transition(
                    db, newsletter_id, ("scheduled",), "sent", started_at=utcnow(), finished_at=utcnow(), recipients=0
                )
            log.warning("newsletter %d was due but its audience is empty: nothing sent", newsletter_id)
        except UnknownPlaceholders:
            async with transaction(sessionmaker) as db:
                await _transition(db, newsletter_id, ("scheduled",), "draft", scheduled_at=None)
            log.warning(
                "newsletter %d was due but holds unknown placeholders: back to draft, nothing sent", newsletter_id
            )
    for newsletter_id in sending:
        async with transaction(sessionmaker) as db:
            newsletter = await db.get(Newsletter, newsletter_id)
            if newsletter is not None:
                await progress(db, newsletter)
    return started
