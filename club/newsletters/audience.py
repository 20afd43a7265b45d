"""Who receives a newsletter: always only confirmed, subscribed, not suppressed members (the members feature's
`subscribed_members`), narrowed by city, language, interests, role and join date."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from club.accounts.models import CITIES, Person
from club.i18n import LANGUAGES
from club.members.models import Interest, MemberInterest
from club.members.service import all_interests, subscribed_members

# Join dates are the club's calendar days, as the admins in Ghent count them.
CLUB_ZONE = ZoneInfo("Europe/Brussels")


@dataclass(frozen=True)
class Audience:
    cities: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    interests: tuple[str, ...] = ()  # interest slugs: members who follow any of them
    ambassadors_only: bool = False
    joined_from: dt.date | None = None
    joined_until: dt.date | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=dt.date.isoformat)  # dates as 2026-04-01

    @classmethod
    def from_json(cls, raw: str) -> Audience:
        data = json.loads(raw or "{}")
        return cls(
            cities=tuple(c for c in data.get("cities", ()) if c in CITIES),
            languages=tuple(lang for lang in data.get("languages", ()) if lang in LANGUAGES),
            interests=tuple(str(slug) for slug in data.get("interests", ())),
            ambassadors_only=bool(data.get("ambassadors_only")),
            joined_from=dt.date.fromisoformat(data["joined_from"]) if data.get("joined_from") else None,
            joined_until=dt.date.fromisoformat(data["joined_until"]) if data.get("joined_until") else None,
        )


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=CLUB_ZONE).astimezone(dt.UTC)


def members(audience: Audience) -> Select[Any]:
    """The recipients' (id, email, name, language), in id order."""
    statement: Select[Any] = subscribed_members().with_only_columns(  # type: ignore[assignment]
        Person.id, Person.email, Person.name, Person.language
    )
    if audience.cities:
        statement = statement.where(Person.city.in_(audience.cities))
    if audience.languages:
        statement = statement.where(Person.language.in_(audience.languages))
    if audience.ambassadors_only:
        statement = statement.where(Person.role == "ambassador")
    if audience.joined_from:
        statement = statement.where(Person.created_at >= _day_start(audience.joined_from))
    if audience.joined_until:
        statement = statement.where(Person.created_at < _day_start(audience.joined_until + dt.timedelta(days=1)))
    if audience.interests:
        statement = statement.where(
            exists(
                select(MemberInterest.person_id)
                .join(Interest, Interest.id == MemberInterest.interest_id)
                .where(MemberInterest.person_id == Person.id, Interest.slug.in_(audience.interests))
            )
        )
    return statement


async def counts_by_language(db: AsyncSession, audience: Audience) -> dict[str, int]:
    """Recipients per member language: {'nl': 120, 'en': 40, 'ja': 95} (every language present)."""
    inner = members(audience).order_by(None).subquery()
    rows = await db.execute(select(inner.c.language, func.count()).group_by(inner.c.language))
    counts = dict.fromkeys(LANGUAGES, 0)
    for language, count in rows:
        key = language if language in counts else "en"
        counts[key] += count
    return counts


def variant_for(member_language: str, variants: set[str] | frozenset[str], fallback: str) -> str:
    """The variant a member receives: their language's, or the fallback the admin chose."""
    return member_language if member_language in variants else fallback


def plan(counts: dict[str, int], variants: set[str] | frozenset[str], fallback: str) -> dict[str, int]:
    """Recipients per variant language, from recipients per member language."""
    result = dict.fromkeys(sorted(variants), 0)
    for language, count in counts.items():
        target = variant_for(language, variants, fallback)
        result[target] = result.get(target, 0) + count
    return result


async def interest_choices(db: AsyncSession, language: str) -> list[tuple[str, str]]:
    return [(interest.slug, interest.name(language)) for interest in await all_interests(db)]
