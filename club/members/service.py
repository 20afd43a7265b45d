"""Members: join with double opt-in, log in by link, profile, consents, export, erasure, unsubscribe.

Services flush but never commit: the request (or the periodic task) owns the transaction, so a sign-up and its
confirmation mail are stored together or not at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import html
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from club import email_address, i18n, publicpages, ratelimit
from club.accounts import sessions, tokens
from club.accounts.models import AuthSession, OneTimeToken, Person
from club.admin import audit
from club.ambassadors import service as ambassadors
from club.config import Settings
from club.db import exported, utcnow
from club.i18n import N_, _, use_language
from club.mail import mailbox, outbox
from club.mail.render import queue_rendered
from club.members.models import Consent, ErasureCount, Interest, MemberInterest, WelcomeText

CONFIRM_PURPOSE = "member-confirm"
CONFIRM_LIFETIME = dt.timedelta(hours=48)
LOGIN_PURPOSE = "member-login"
LOGIN_LIFETIME = dt.timedelta(minutes=10)
UNCONFIRMED_KEPT = dt.timedelta(days=30)

NEWSLETTER = "newsletter"
# The consent text beside the newsletter box. A changed wording gets a new version, and the old one stays here,
# because every consent record points at the exact text the person saw.
NEWSLETTER_CONSENT_VERSION = "newsletter-2026-11"
CONSENT_TEXTS = {
    NEWSLETTER_CONSENT_VERSION: N_(
        "Yes, send me the club's newsletter by email, about once a month, in my language. I can unsubscribe at "
        "any time with one click."
    )
}
METHODS = {
    "form": N_("form"),
    "link": N_("unsubscribe page"),
    "one-click": N_("one-click unsubscribe from the mail"),
    "import": N_("import"),
    "admin": N_("by an admin"),
}
FORMER_MEMBER_EMAIL = "erased@invalid"


@dataclass
class SignUp:
    email: str
    name: str
    city: str
    language: str
    interests: list[str] = field(default_factory=list)
    newsletter: bool = False
    ref: str | None = None  # the ambassador's ref from the join link
    # The language of the page, and so of the consent text, the person saw.
    page_language: str = i18n.DEFAULT_LANGUAGE


# ---- interests -------------------------------------------------------------------------------------------------

# The areas of the 2016 cooperation agreement; migration 0003_members seeds the same list.
DEFAULT_INTERESTS = (
    ("student-exchange", "Studentenuitwisseling", "Student exchange", "学生交流"),
    ("culture-crafts", "Cultuur en ambachten", "Culture and crafts", "文化・工芸"),
    ("tourism-promotion", "Toerisme en promotie", "Tourism and promotion", "観光・プロモーション"),
    ("sport", "Sport", "Sport", "スポーツ"),
    ("youth", "Jongeren", "Youth", "青少年"),
    ("jazz-music", "Jazz en muziek", "Jazz and music", "ジャズ・音楽"),
    ("food", "Eten", "Food", "食"),
    ("sustainability", "Duurzaamheid", "Sustainability", "持続可能性"),
)


async def seed_interests(db: AsyncSession) -> int:
    """Put the twinning's areas in an empty list of interests (a database emptied by tests or by hand)."""
    if (await db.execute(select(Interest.id).limit(1))).first() is not None:
        return 0
    db.add_all(
        Interest(slug=slug, name_nl=nl, name_en=en, name_ja=ja, position=position)
        for position, (slug, nl, en, ja) in enumerate(DEFAULT_INTERESTS, start=1)
    )
    await db.flush()
    return len(DEFAULT_INTERESTS)


async def all_interests(db: AsyncSession) -> list[Interest]:
    return list((await db.execute(select(Interest).order_by(Interest.position, Interest.id))).scalars())


async def interests_of(db: AsyncSession, person_id: int) -> list[Interest]:
    statement = (
        select(Interest)
        .join(MemberInterest, MemberInterest.interest_id == Interest.id)
        .where(MemberInterest.person_id == person_id)
        .order_by(Interest.position, Interest.id)
    )
    return list((await db.execute(statement)).scalars())


async def set_interests(db: AsyncSession, person: Person, slugs: list[str]) -> None:
    await db.execute(delete(MemberInterest).where(MemberInterest.person_id == person.id))
    if slugs:
        ids = (await db.execute(select(Interest.id).where(Interest.slug.in_(slugs)))).scalars().all()
        db.add_all(MemberInterest(person_id=person.id, interest_id=interest_id) for interest_id in ids)
    await db.flush()


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


async def add_interest(db: AsyncSession, *, name_nl: str, name_en: str, name_ja: str) -> Interest | None:
    """A new interest at the end of the list, or None when its English name gives a slug already in use."""
    slug = slugify(name_en) or "interest"
    if (await db.execute(select(Interest.id).where(Interest.slug == slug))).first() is not None:
        return None
    position = (await db.execute(select(func.coalesce(func.max(Interest.position), 0)))).scalar_one() + 1
    interest = Interest(slug=slug, name_nl=name_nl, name_en=name_en, name_ja=name_ja, position=position)
    db.add(interest)
    await db.flush()
    publicpages.changed(db)  # the join page lists the interests
    return interest


# ---- mail ------------------------------------------------------------------------------------------------------


async def _send(db: AsyncSession, person: Person, subject: str, template: str, **context: Any) -> None:
    # The greeting uses the %%name%% placeholder, filled by the sender, so the stored body holds no name.
    await queue_rendered(
        db, person, f"members/mail/{template}", person.language, kind=f"member-{template}", subject=subject, **context
    )


async def send_confirmation(db: AsyncSession, settings: Settings, person: Person) -> None:
    raw = await tokens.issue(db, CONFIRM_PURPOSE, CONFIRM_LIFETIME, person_id=person.id)
    with use_language(person.language):
        subject = _("Please confirm your membership of the Ghent–Kanazawa Supporters Club")
    await _send(db, person, subject, "confirm", url=settings.absolute_url(f"/join/confirm/{raw}"))


async def send_login_link(
    db: AsyncSession, settings: Settings, person: Person, *, next_url: str = "/me", already_member: bool = False
) -> None:
    # Only the newest login link works: one in an old mail, or in a mailbox someone else can read, no longer does.
    await tokens.revoke_all(db, LOGIN_PURPOSE, person_id=person.id)
    raw = await tokens.issue(db, LOGIN_PURPOSE, LOGIN_LIFETIME, person_id=person.id, data=next_url)
    url = settings.absolute_url(f"/login/{raw}")
    with use_language(person.language):
        if already_member:
            subject = _("You are already a member of the Ghent–Kanazawa Supporters Club")
        else:
            subject = _("Your login link for the Ghent–Kanazawa Supporters Club")
    await _send(db, person, subject, "already_member" if already_member else "login", url=url)


def default_welcome(language: str) -> tuple[str, str]:
    with use_language(language):
        subject = _("Welcome to the Ghent–Kanazawa Supporters Club")
        body = _(
            "Thank you for confirming your membership. From now on you are part of the community that keeps the "
            "friendship between Ghent and Kanazawa alive, twin cities since 1971.\n\n"
            "On your profile you can choose the areas you care about, your language and the newsletter, "
            "download everything we keep about you, or leave the club at any time."
        )
    return subject, body


async def welcome_text(db: AsyncSession, language: str) -> tuple[str, str, bool]:
    """Subject and body of the welcome mail in a language, and whether an admin wrote them."""
    row = await db.get(WelcomeText, language)
    if row is not None:
        return row.subject, row.body, True
    return (*default_welcome(language), False)


async def save_welcome_text(db: AsyncSession, language: str, *, subject: str, body: str) -> None:
    row = await db.get(WelcomeText, language)
    if row is None:
        db.add(WelcomeText(language=language, subject=subject, body=body))
    else:
        row.subject, row.body = subject, body
    await db.flush()


async def reset_welcome_text(db: AsyncSession, language: str) -> None:
    await db.execute(delete(WelcomeText).where(WelcomeText.language == language))


def paragraphs_html(text: str) -> list[str]:
    """Plain text as escaped paragraphs (admins write plain text; it never becomes markup)."""
    blocks = [block.strip() for block in text.replace("\r\n", "\n").split("\n\n")]
    return [html.escape(block).replace("\n", "<br>\n") for block in blocks if block]


async def send_welcome(db: AsyncSession, settings: Settings, person: Person) -> None:
    subject, body, _custom = await welcome_text(db, person.language)
    await _send(
        db,
        person,
        subject,
        "welcome",
        body=body,
        paragraphs=paragraphs_html(body),
        profile_url=settings.absolute_url("/me"),
    )


# ---- join, confirm, log in -------------------------------------------------------------------------------------


async def find_by_email(db: AsyncSession, email: str) -> Person | None:
    """The person with this (normalised) address; one stored with a punycode domain, before international
    domains were kept in Unicode, is found too."""
    forms_of_it = {email}
    if not email.isascii():
        forms_of_it.add(email_address.for_sending(email))
    statement = select(Person).where(Person.email.in_(sorted(forms_of_it))).order_by(Person.id).limit(1)
    return (await db.execute(statement)).scalar_one_or_none()


async def join(db: AsyncSession, settings: Settings, signup: SignUp) -> None:
    """Sign up, or ask again. Whatever the address, the caller shows the same page: a new or unconfirmed address
    gets a (fresh) confirmation link; a member's address gets a mail saying so, with a login link."""
    person = await find_by_email(db, signup.email)
    if person is not None and person.confirmed_at is not None:
        await send_login_link(db, settings, person, already_member=True)
        return
    if person is None:
        person = Person(email=signup.email, name=signup.name, role="member", ref=signup.ref)
        db.add(person)
    person.name = signup.name
    person.city = signup.city
    person.language = signup.language
    person.updated_at = utcnow()  # the 30 days before an unconfirmed sign-up is purged start again
    await db.flush()
    await set_interests(db, person, signup.interests)
    await set_newsletter(db, person, signup.newsletter, method="form", language=signup.page_language)
    await send_confirmation(db, settings, person)


async def request_login(db: AsyncSession, settings: Settings, email: str, *, next_url: str = "/me") -> None:
    """A login link for a member; a fresh confirmation link for an unconfirmed sign-up; nothing for a stranger."""
    person = await find_by_email(db, email)
    if person is None or person.role == "admin":
        return  # admins log in with their password at /admin/login
    if person.confirmed_at is None:
        await send_confirmation(db, settings, person)
    else:
        await send_login_link(db, settings, person, next_url=next_url)


async def peek_link(db: AsyncSession, purpose: str, raw: str) -> OneTimeToken | None:
    return await tokens.peek(db, purpose, raw)


async def confirm(db: AsyncSession, settings: Settings, raw: str) -> Person | None:
    """Use a confirmation link: the member is confirmed and welcomed (once), or None for a bad or used link."""
    token = await tokens.consume(db, CONFIRM_PURPOSE, raw)
    if token is None or token.person_id is None:
        return None
    person = await db.get(Person, token.person_id)
    if person is None:
        return None
    if person.confirmed_at is None:
        person.confirmed_at = utcnow()
        await db.flush()
        await send_welcome(db, settings, person)
        await _events().confirm_pending(db, settings, person)
    return person


async def use_login_link(db: AsyncSession, raw: str) -> tuple[Person, str] | None:
    token = await tokens.consume(db, LOGIN_PURPOSE, raw)
    if token is None or token.person_id is None:
        return None
    person = await db.get(Person, token.person_id)
    if person is None or person.role == "admin":
        return None
    if person.confirmed_at is None:  # a link to their own mailbox proves the address as well as a confirmation
        person.confirmed_at = utcnow()
    return person, token.data or "/me"


# ---- profile and consent ---------------------------------------------------------------------------------------


async def set_newsletter(
    db: AsyncSession,
    person: Person,
    subscribed: bool,
    *,
    method: str,
    language: str,
    version: str = NEWSLETTER_CONSENT_VERSION,
) -> bool:
    """Subscribe or unsubscribe, recording the consent given or withdrawn; False when nothing changed."""
    if bool(person.newsletter) == subscribed:
        return False
    person.newsletter = subscribed
    db.add(
        Consent(
            person_id=person.id,
            purpose=NEWSLETTER,
            given=subscribed,
            method=method,
            text_version=version,
            language=language if language in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE,
        )
    )
    if not subscribed:
        await cancel_queued_newsletters(db, person.id)
    await db.flush()
    return True


async def cancel_queued_newsletters(db: AsyncSession, person_id: int) -> None:
    """Take an unsubscribed member out of any newsletter still waiting in the outbox (the next batch included)."""
    await outbox.cancel_waiting(db, person_id, reason=outbox.UNSUBSCRIBED)


async def consent_history(db: AsyncSession, person_id: int) -> list[Consent]:
    statement = select(Consent).where(Consent.person_id == person_id).order_by(Consent.created_at, Consent.id)
    return list((await db.execute(statement)).scalars())


def consent_text(version: str, language: str) -> str:
    message = CONSENT_TEXTS.get(version)
    return i18n.translate_for(language, message) if message else version


def subscribed_members(*, language: str | None = None) -> Select[Person]:
    """The newsletter's audience: confirmed members who said yes and whose address does not bounce."""
    statement = select(Person).where(
        Person.confirmed_at.is_not(None), Person.newsletter.is_(True), Person.suppressed_at.is_(None)
    )
    if language is not None:
        statement = statement.where(Person.language == language)
    return statement.order_by(Person.id)


# ---- unsubscribe links -----------------------------------------------------------------------------------------


def _unsubscribe_signature(settings: Settings, person_id: int) -> str:
    message = f"unsubscribe:{person_id}".encode()
    return hmac.new(settings.secret_key.get_secret_value().encode(), message, hashlib.sha256).hexdigest()[:32]


def unsubscribe_token(settings: Settings, person_id: int) -> str:
    return f"{person_id}-{_unsubscribe_signature(settings, person_id)}"


def unsubscribe_url(settings: Settings, person_id: int) -> str:
    """A member's personal, stateless unsubscribe link, always on the configured base URL."""
    return settings.absolute_url(f"/unsubscribe/{quote(unsubscribe_token(settings, person_id))}")


UNSUBSCRIBE_TOKEN_RE = re.compile(r"([0-9]{1,12})-([0-9a-f]{32})", re.ASCII)


def person_id_from_unsubscribe_token(settings: Settings, token: str) -> int | None:
    """The member a correctly signed token names; None for anything else (truncated, altered, `²` for a digit)."""
    match = UNSUBSCRIBE_TOKEN_RE.fullmatch(token)
    if match is None:
        return None
    person_id = int(match.group(1))
    if not hmac.compare_digest(match.group(2).encode(), _unsubscribe_signature(settings, person_id).encode()):
        return None
    return person_id


@dataclass
class UnsubscribeLink:
    """What a link is about: "invalid" (not one we signed; says nothing about who is a member), "gone" (we signed
    it, but the member has left or was erased), or "member" with the person."""

    state: str
    person: Person | None = None

    @property
    def masked_email(self) -> str:
        return email_address.mask(self.person.email) if self.person is not None else ""


async def unsubscribe_link(db: AsyncSession, settings: Settings, token: str) -> UnsubscribeLink:
    person_id = person_id_from_unsubscribe_token(settings, token)
    if person_id is None:
        return UnsubscribeLink("invalid")
    person = await db.get(Person, person_id)
    if person is None or person.email == FORMER_MEMBER_EMAIL:
        return UnsubscribeLink("gone")
    return UnsubscribeLink("member", person)


async def unsubscribe(db: AsyncSession, settings: Settings, token: str, *, method: str) -> UnsubscribeLink:
    """Unsubscribe whoever the token names; a second click changes nothing."""
    link = await unsubscribe_link(db, settings, token)
    if link.person is not None and link.person.newsletter:
        await set_newsletter(db, link.person, False, method=method, language=link.person.language)
    return link


async def resubscribe(db: AsyncSession, settings: Settings, token: str, *, language: str) -> UnsubscribeLink:
    """Subscribe a member again; a link of someone who left, or never confirmed, subscribes nobody ("gone")."""
    link = await unsubscribe_link(db, settings, token)
    if link.person is not None and link.person.confirmed_at is None:
        return UnsubscribeLink("gone")
    if link.person is not None and not link.person.newsletter:
        await set_newsletter(db, link.person, True, method="link", language=language)
    return link


# ---- export, erasure, purge ------------------------------------------------------------------------------------


async def export(db: AsyncSession, settings: Settings, person: Person) -> dict[str, Any]:
    """Everything the club holds about a member, from every feature, for /me/export (the privacy notice lists
    the same): profile, interests, consents, mails, and as an ambassador the recruiting code and its recruits,
    the terms and the activities with links to their photos."""
    interests = await interests_of(db, person.id)
    consents = await consent_history(db, person.id)
    mails = await outbox.deliveries_to(db, person.id, email=person.email)
    logins = (
        await db.execute(select(AuthSession).where(AuthSession.person_id == person.id).order_by(AuthSession.created_at))
    ).scalars()
    data: dict[str, Any] = {
        "profile": exported(
            person,
            "email name city language role newsletter joined_at=created_at confirmed_at updated_at ref "
            "mail_suppressed_at=suppressed_at mail_suppressed_reason=suppressed_reason",
        ),
        "interests": [{"slug": i.slug, "name": i.name(person.language)} for i in interests],
        "consents": [
            {
                **exported(c, "purpose given method text_version"),
                "text": consent_text(c.text_version, c.language),
                **exported(c, "language at=created_at"),
            }
            for c in consents
        ],
        "mails": [
            {**exported(mail, "subject kind"), **exported(delivery, "status queued_at=created_at sent_at")}
            for delivery, mail in mails
        ],
        "sessions": [
            exported(login, "started_at=created_at last_seen_at expires_at ip browser=user_agent") for login in logins
        ],
        **await ambassadors.export_ambassador(db, settings, person),
        "event_answers": await _events().export_for(db, person.id),
    }
    return data


def _events():  # type: ignore[no-untyped-def]
    from club.events import service as events  # imported late: events reads members through the audience

    return events


async def forget_mail(db: AsyncSession, person: Person) -> None:
    await outbox.forget_recipient(db, person.id, person.email, anonymous_email=FORMER_MEMBER_EMAIL)


async def _count_erasure(db: AsyncSession) -> None:
    month = utcnow().strftime("%Y-%m")
    row = await db.get(ErasureCount, month)
    if row is None:
        db.add(ErasureCount(month=month, count=1))
    else:
        row.count += 1


async def erase(db: AsyncSession, settings: Settings, person: Person) -> None:
    """Erase a member, in every feature: an ambassador's approved activities stay, credited to a former
    ambassador (the erase page says so); everything else goes: their other activities and photo files, mail,
    sessions, links, consents, the person, their rows in imports not yet run, the personal values in the audit
    log and the development mailbox's copies of their mail. Only an anonymous count per month remains."""
    email, name = person.email, person.name
    photo_keys = await ambassadors.erase_ambassador(db, person)
    await _events().erase_for(db, settings, person.id)
    await forget_mail(db, person)
    await sessions.revoke_all(db, person.id)
    await db.execute(delete(OneTimeToken).where(OneTimeToken.person_id == person.id))
    # An admin invitation names the invitee in its data: "email\nname".
    await db.execute(delete(OneTimeToken).where(OneTimeToken.data.startswith(f"{email}\n", autoescape=True)))
    await db.execute(delete(Consent).where(Consent.person_id == person.id))
    await db.execute(delete(MemberInterest).where(MemberInterest.person_id == person.id))
    # Rate-limit counters that name them: their address (hashed or, for an admin's login, as typed), their id.
    await ratelimit.forget(db, containing=(address_key(email), email), ending=(f":account:{person.id}",))
    await audit.forget_person(db, person.id, email, name)
    from club.admin import importer  # here, not above: the importer imports this module

    await importer.forget_address(db, settings, email)
    await _count_erasure(db)
    await db.delete(person)
    await db.flush()
    # Files last, once the rows are gone (a failure above leaves them, and the erasure can simply be asked again).
    ambassadors.remove_photo_files(settings.var_dir, photo_keys)
    mailbox.forget_address(settings.var_dir, email)


async def purge_unconfirmed(db: AsyncSession, *, now: dt.datetime | None = None) -> int:
    """Delete sign-ups never confirmed within 30 days of their last request; returns how many. Run it daily."""
    cutoff = (now or utcnow()) - UNCONFIRMED_KEPT
    stale = (
        (
            await db.execute(
                select(Person).where(Person.confirmed_at.is_(None), Person.role == "member", Person.updated_at < cutoff)
            )
        )
        .scalars()
        .all()
    )
    for person in stale:
        await forget_mail(db, person)
        await db.delete(person)
    await db.flush()
    return len(stale)


def address_key(email: str) -> str:
    """Rate-limit keys name an address by a hash, so the counters hold no address."""
    return hashlib.sha256(email.encode()).hexdigest()[:32]
