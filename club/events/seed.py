"""Fake events for `server.py seed`: two past receptions with answers and check-ins, and two upcoming events."""

from __future__ import annotations

import datetime as dt
import random
import secrets
from typing import Any

from club.events.models import Event, Rsvp

EVENTS = (
    (
        "Netwerkreceptie Gent–Kanazawa",
        "Ghent–Kanazawa network reception",
        "ゲント・金沢ネットワーキング・レセプション",
        "Stadhuis Gent",
        "Botermarkt 1, 9000 Gent",
        "Europe/Brussels",
        120,
    ),
    (
        "Concert van de zusterbigbands",
        "Concert of the sister big bands",
        "姉妹ビッグバンドのコンサート",
        "Handelsbeurs Concertzaal",
        "Kouter 29, 9000 Gent",
        "Europe/Brussels",
        300,
    ),
    (
        "Welkomstavond voor studenten",
        "Welcome evening for students",
        "留学生歓迎会",
        "金沢大学 角間キャンパス",
        "石川県金沢市角間町",
        "Asia/Tokyo",
        80,
    ),
    (
        "Gentse Feesten: stand van de club",
        "Gentse Feesten: the club's stand",
        "ゲント祭り：クラブのブース",
        "Sint-Baafsplein",
        "Sint-Baafsplein, 9000 Gent",
        "Europe/Brussels",
        None,
    ),
)


def rows(
    rng: random.Random, person_ids: list[int], first_event_id: int, now: dt.datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Events (two past, two coming) and answers by a sample of the members."""
    events: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    for index, (nl, en, ja, venue, address, zone, capacity) in enumerate(EVENTS):
        days = (-300, -40, 20, 60)[index]
        starts = (now + dt.timedelta(days=days)).replace(hour=17, minute=0, second=0, microsecond=0)
        event_id = first_event_id + index
        events.append(
            {
                "id": event_id,
                "status": "published",
                "uid": f"{secrets.token_hex(12)}@events.ghent-kanazawa",
                "sequence": 0,
                "title_nl": nl,
                "title_en": en,
                "title_ja": ja,
                "description_nl": "Iedereen welkom.",
                "description_en": "Everyone is welcome.",
                "description_ja": "どなたでも歓迎します。",
                "fallback": "en",
                "zone": zone,
                "starts_at": starts,
                "ends_at": starts + dt.timedelta(hours=3),
                "rsvp_deadline": starts - dt.timedelta(days=2),
                "venue": venue,
                "address": address,
                "capacity": capacity,
                "max_guests": 1,
                "question": "Dietary needs?",
                "public": True,
                "audience": "{}",
                "reminder_days": 2,
                "reminded_at": starts - dt.timedelta(days=2) if days < 0 else None,
                "invited_at": starts - dt.timedelta(days=30),
                "invited": len(person_ids),
                "answers_version": 0,
                "created_at": starts - dt.timedelta(days=40),
                "updated_at": starts - dt.timedelta(days=40),
            }
        )
        taken = 0
        for person_id in rng.sample(person_ids, min(len(person_ids), (capacity or 150) + 10)):
            guests = rng.choice((0, 0, 1))
            status = "yes" if capacity is None or taken + 1 + guests <= capacity else "waiting"
            if rng.random() < 0.15:
                status, guests = "no", 0
            taken += 1 + guests if status == "yes" else 0
            answered = starts - dt.timedelta(days=rng.randint(3, 25))
            answers.append(
                {
                    "event_id": event_id,
                    "person_id": person_id,
                    "name": f"#{person_id}",
                    "status": status,
                    "guests": guests,
                    "answer": "",
                    "ticket": secrets.token_urlsafe(18),
                    "waitlisted_at": answered if status == "waiting" else None,
                    "walk_in": False,
                    "checked_in_at": starts + dt.timedelta(minutes=rng.randint(0, 60))
                    if days < 0 and status == "yes" and rng.random() < 0.85
                    else None,
                    "checked_in_by_id": None,
                    "created_at": answered,
                    "updated_at": answered,
                }
            )
    return events, answers


TABLES = (Event.__table__, Rsvp.__table__)
