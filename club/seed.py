"""`python server.py seed --members N --activities M`: a database full of realistic fake data for development and
benchmarks: Dutch and Japanese members, ambassadors with terms at the six partner institutions, and activities in
every category. Rows go in with bulk INSERTs in chunks; nothing here sends mail.

All addresses are on example.org and example.jp (reserved domains), so no mail can reach a real person."""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from club.accounts.models import Person
from club.ambassadors import markdown
from club.ambassadors.models import CATEGORIES, Activity, Ambassador, Appointment
from club.config import Settings
from club.db import create_engine

log = logging.getLogger("club.seed")

CHUNK = 5000
SEED = 1971  # the year of the twinning: the same data on every run

DUTCH_FIRST = tuple(
    (
        "Sofie Lotte Emma Marie Ella Nora Fien Lien Hanne Elke Griet An Katrien Sarah Julie Louise Charlotte Margot "
        "Lore Ine Jan Pieter Tom Wout Bram Arne Lucas Louis Mats Stijn Koen Dries Jens Thibault Wim Bart Joris "
        "Maarten Sander Kobe Seppe Ruben Warre Jasper Lander Tine Eline Jolien Febe Mira"
    ).split(" ")
)
DUTCH_LAST = tuple(
    (
        "Peeters, Janssens, Maes, Jacobs, Mertens, Willems, Claes, Goossens, Wouters, De Smet, Dubois, Hermans, "
        "Aerts, Pauwels, Vermeulen, Van Damme, De Clercq, Claeys, Van de Velde, Vandenberghe, De Backer, "
        "Van den Bossche, De Vos, Verhaeghe, Desmet, Declercq, Van Acker, De Meyer, Martens, Coppens, Lambrecht, "
        "Vercruysse, De Wilde, Van Hecke, Verstraete, Bogaert, De Cock, Van Hove, Devos, Schepens"
    ).split(", ")
)
# (kanji, romaji): given names and family names
JAPANESE_GIVEN = tuple(
    tuple(pair.split(" "))
    for pair in (
        "花子 Hanako, 美咲 Misaki, 陽菜 Hina, 結衣 Yui, さくら Sakura, 葵 Aoi, 凛 Rin, 優子 Yuko, 真由美 Mayumi, "
        "恵 Megumi, 彩 Aya, 千尋 Chihiro, 健二 Kenji, 翔太 Shota, 大輝 Daiki, 蓮 Ren, 悠真 Yuma, 拓海 Takumi, "
        "誠 Makoto, 浩 Hiroshi, 隆 Takashi, 直樹 Naoki, 亮 Ryo, 和也 Kazuya, 修 Osamu, 奈々 Nana, 瑞希 Mizuki, "
        "春香 Haruka, 智子 Tomoko, 雄一 Yuichi"
    ).split(", ")
)
JAPANESE_FAMILY = tuple(
    tuple(pair.split(" "))
    for pair in (
        "佐藤 Sato, 鈴木 Suzuki, 高橋 Takahashi, 田中 Tanaka, 伊藤 Ito, 渡辺 Watanabe, 山本 Yamamoto, "
        "中村 Nakamura, 小林 Kobayashi, 加藤 Kato, 吉田 Yoshida, 山田 Yamada, 松本 Matsumoto, 井上 Inoue, "
        "木村 Kimura, 林 Hayashi, 清水 Shimizu, 山口 Yamaguchi, 森 Mori, 池田 Ikeda, 前田 Maeda, 北村 Kitamura, "
        "宮本 Miyamoto, 西田 Nishida, 浅野 Asano"
    ).split(", ")
)
GHENT_INSTITUTIONS = ("ugent", "kask", "hogent")
KANAZAWA_INSTITUTIONS = ("kanazawa-university", "kanazawa-college-of-art", "kinjo")

TITLES: dict[str, Sequence[str]] = {
    category: tuple(titles.split("; "))
    for category, titles in {
        "education": (
            "Info session on studying in Kanazawa; Japanology open day stand; 金沢大学留学説明会; "
            "Buddy evening for exchange students; Presentatie over studeren in Gent"
        ),
        "culture": (
            "Ghent Youth Jazz Orchestra meets JAZZ-21; Flemish film night; ゲントの祭りを紹介する夕べ; "
            "Visit to the 21st Century Museum; Lezing over de Gentse Feesten"
        ),
        "crafts": (
            "Gold leaf workshop; Kaga-yuzen silk dyeing demonstration; 漆器ワークショップ; "
            "Ceramics day at the School of Arts; Workshop bladgoud"
        ),
        "tourism": (
            "Promotion stand at the tourism fair; City walk: Ghent for Kanazawa visitors; 兼六園ガイドツアー; "
            "Belfry and Kotoji lantern photo walk; Promotiestand op de reisbeurs"
        ),
        "sport": (
            "Friendly judo exchange; Ghent marathon with Kanazawa runners; サッカー交流試合; Kendo introduction; "
            "Fietstocht langs de Leie"
        ),
        "youth": (
            "School visit: letters between pupils; Youth orchestra exchange evening; 高校生との交流会; "
            "Kids' origami afternoon; Jongerenuitwisseling voorstellen"
        ),
        "food": (
            "Pastry chefs' exchange; Ghent waterzooi cooking class; 金沢おでん試食会; "
            "Sake and Belgian beer tasting; Kookworkshop Japanse keuken"
        ),
        "sustainability": (
            "Talk on Ghent's lighting plan; SDG city exchange meeting; 持続可能な都市づくり勉強会; "
            "Cycling city talk; Lezing over duurzame steden"
        ),
    }.items()
}
VENUES = {
    "ghent": ("Het Pand", "Blandijn, Ranshō Garden", "Citadelpark", "STAM", "De Krook", "KASK", "Vooruit"),
    "kanazawa": (
        "Kanazawa University",
        "21st Century Museum",
        "金沢市役所",
        "Kenroku-en",
        "Kinjo University",
        "Higashi Chaya",
        "Kanazawa College of Art",
    ),
    "elsewhere": ("Tokyo, Belgian embassy", "Brussels, Japan Week", "Osaka, trade fair", "Antwerp"),
    "online": ("Zoom", "YouTube live", "Instagram live"),
}
DESCRIPTIONS = (
    "We welcomed **{n} people** and talked about life in {city}. Many asked how to join an exchange.",
    "A lovely afternoon: we showed photos of both cities and answered questions.\n\n- flyers handed out\n- QR code "
    "scanned by several visitors",
    "Together with the *city of {city}* we prepared a short presentation on the twinning since 1971.",
    "{n}人の方に来ていただき、ゲントと金沢の交流について紹介しました。",
    "We hebben **{n} mensen** bereikt en veel vragen gekregen over Kanazawa.",
)


def _chunks(rows: list[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


async def _insert(connection: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    for chunk in _chunks(rows):
        await connection.execute(insert(table), chunk)


async def _next_id(connection: AsyncConnection, column: Any) -> int:
    return int((await connection.execute(select(func.coalesce(func.max(column), 0)))).scalar_one()) + 1


async def _fix_sequence(connection: AsyncConnection, table: str) -> None:
    # Rows were inserted with explicit ids; PostgreSQL's sequence must move past them.
    if connection.dialect.name == "postgresql":
        await connection.execute(
            text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))")
        )


def _person(rng: random.Random, person_id: int, now: dt.datetime) -> dict[str, Any]:
    japanese = rng.random() < 0.4
    if japanese:
        given, given_romaji = rng.choice(JAPANESE_GIVEN)
        family, family_romaji = rng.choice(JAPANESE_FAMILY)
        romaji = rng.random() < 0.25
        name = f"{given_romaji} {family_romaji}" if romaji else f"{family} {given}"
        local = f"{given_romaji}.{family_romaji}".lower()
        language = "ja" if rng.random() < 0.85 else "en"
        city = rng.choices(("kanazawa", "ghent", "elsewhere"), (70, 10, 20))[0]
        domain = "example.jp"
    else:
        first, last = rng.choice(DUTCH_FIRST), rng.choice(DUTCH_LAST)
        name = f"{first} {last}"
        local = f"{first}.{last}".lower().replace(" ", "")
        language = "nl" if rng.random() < 0.8 else "en"
        city = rng.choices(("ghent", "kanazawa", "elsewhere"), (70, 5, 25))[0]
        domain = "example.org"
    created = now - dt.timedelta(days=rng.uniform(0, 3 * 365))
    confirmed = rng.random() < 0.95
    return {
        "id": person_id,
        "email": f"{local}.{person_id}@{domain}",
        "name": name,
        "role": "member",
        "language": language,
        "city": city,
        "password_hash": None,
        "confirmed_at": created + dt.timedelta(minutes=rng.uniform(1, 600)) if confirmed else None,
        "newsletter": confirmed and rng.random() < 0.6,
        "suppressed_at": None,
        "suppressed_reason": None,
        "ref": None,
        "created_at": created,
        "updated_at": created,
    }


def _terms(rng: random.Random, today: dt.date, japanese: bool) -> list[tuple[dt.date, dt.date]]:
    """One to three academic years, the last one usually current."""
    years = rng.choices((1, 2, 3), (60, 30, 10))[0]
    current_start = dt.date(today.year if today.month >= 9 else today.year - 1, 9, 15)
    if rng.random() < 0.25:  # some ambassadors are done
        current_start = current_start.replace(year=current_start.year - 1)
    terms = []
    for back in range(years - 1, -1, -1):
        start = current_start.replace(year=current_start.year - back)
        if japanese:
            start = start.replace(month=10, day=1)
        terms.append((start, start.replace(year=start.year + 1, month=7, day=31)))
    return terms


async def seed(settings: Settings, members: int, activities: int) -> None:
    """Add `members` people (about one in 250 an ambassador) and `activities` activities to the database,
    which must be migrated already."""
    rng = random.Random(SEED + members + activities)
    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    today = now.date()
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as connection:
            if connection.dialect.name == "sqlite":
                await connection.exec_driver_sql("PRAGMA synchronous=OFF")
            first_person = await _next_id(connection, Person.__table__.c.id)
            first_appointment = await _next_id(connection, Appointment.__table__.c.id)
            first_activity = await _next_id(connection, Activity.__table__.c.id)

            people = [_person(rng, first_person + index, now) for index in range(members)]
            ambassador_count = min(len(people), max(4, members // 250)) if members else 0
            confirmed = [person for person in people if person["confirmed_at"] is not None]
            chosen = rng.sample(confirmed, min(ambassador_count, len(confirmed)))
            ambassadors: list[dict[str, Any]] = []
            appointments: list[dict[str, Any]] = []
            codes: list[str] = []
            appointment_id = first_appointment
            for person in chosen:
                code = f"s{person['id']:x}{rng.randrange(16**4):04x}"
                codes.append(code)
                ambassadors.append({"person_id": person["id"], "ref": code, "created_at": now})
                japanese = person["email"].endswith(".jp")
                home = rng.choice(KANAZAWA_INSTITUTIONS if japanese else GHENT_INSTITUTIONS)
                host = rng.choice(GHENT_INSTITUTIONS if japanese else KANAZAWA_INSTITUTIONS)
                for start, end in _terms(rng, today, japanese):
                    current = start <= today <= end
                    appointments.append(
                        {
                            "id": appointment_id,
                            "person_id": person["id"],
                            "starts_on": start,
                            "ends_on": end,
                            "ended_on": None if end >= today else end,
                            "home_institution": home,
                            "host_institution": host,
                            "stationed_in": "ghent" if japanese else "kanazawa",
                            "appointed_by_id": None,
                            "ended_by_id": None,
                            "reminded_at": None,
                            "created_at": dt.datetime.combine(start, dt.time(9), tzinfo=dt.UTC),
                        }
                    )
                    appointment_id += 1
                    if current:
                        person["role"] = "ambassador"
            if codes:
                for person in people:
                    if person["role"] == "member" and rng.random() < 0.05:
                        person["ref"] = rng.choice(codes)

            await _insert(connection, Person.__table__, people)
            await _insert(connection, Ambassador.__table__, ambassadors)
            await _insert(connection, Appointment.__table__, appointments)
            log.info(
                "seed: %d members, %d ambassadors, %d terms in %.1f s",
                len(people),
                len(ambassadors),
                len(appointments),
                time.perf_counter() - started,
            )

            if activities and not appointments:
                raise ValueError("activities need ambassadors: add members too (one in 250 becomes an ambassador)")
            rendered = [(template, markdown.render(template.format(n=40, city="Ghent"))) for template in DESCRIPTIONS]
            started_terms = [a for a in appointments if a["starts_on"] <= today]
            rows: list[dict[str, Any]] = []
            for index in range(activities):
                term = rng.choice(started_terms)
                last = min(term["ends_on"], today)
                span = max(0, (last - term["starts_on"]).days)
                happened = term["starts_on"] + dt.timedelta(days=rng.randint(0, span))
                category = rng.choice(CATEGORIES)
                city = rng.choices(("ghent", "kanazawa", "elsewhere", "online"), (40, 40, 12, 8))[0]
                status = rng.choices(("approved", "submitted", "draft", "returned"), (85, 6, 5, 4))[0]
                source, html = rng.choice(rendered)
                created = dt.datetime.combine(happened, dt.time(20), tzinfo=dt.UTC)
                rows.append(
                    {
                        "id": first_activity + index,
                        "person_id": term["person_id"],
                        "appointment_id": term["id"],
                        "happened_on": happened,
                        "title": rng.choice(TITLES[category]),
                        "category": category,
                        "city": city,
                        "venue": rng.choice(VENUES[city]),
                        "description": source.format(n=40, city="Ghent"),
                        "description_html": html,
                        "people_reached": min(100_000, int(rng.lognormvariate(3.3, 1.0))),
                        "quarter_hours": rng.randint(2, 32),
                        "link": None,
                        "public": rng.random() < 0.85,
                        "status": status,
                        "review_comment": "Please add a photo." if status == "returned" else None,
                        "reviewed_by_id": None,
                        "reviewed_at": created + dt.timedelta(days=2) if status in ("approved", "returned") else None,
                        "submitted_at": created if status != "draft" else None,
                        "created_at": created,
                        "updated_at": created,
                    }
                )
            await _insert(connection, Activity.__table__, rows)
            if people:
                from club.events import seed as event_seed

                names = {person["id"]: person["name"] for person in people}
                events, answers = event_seed.rows(
                    rng, [p["id"] for p in confirmed], await _next_id(connection, event_seed.Event.__table__.c.id), now
                )
                for answer in answers:
                    answer["name"] = names[answer["person_id"]]
                await _insert(connection, event_seed.Event.__table__, events)
                await _insert(connection, event_seed.Rsvp.__table__, answers)
                await _fix_sequence(connection, "events")
            for table in ("people", "appointments", "activities"):
                await _fix_sequence(connection, table)
                # Fresh statistics, so the planner picks the covering indexes right away.
                await connection.exec_driver_sql(f"ANALYZE {table}")
    finally:
        await engine.dispose()
    log.info("seed: done in %.1f s", time.perf_counter() - started)
