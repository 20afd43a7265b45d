"""Pieces the benchmarks share: a fresh database (a SQLite file, or a throwaway PostgreSQL database), members
inserted in bulk, an admin's session, the server started the README's way, and wrk.

Run by path, a script in bench/ must take bench/ off sys.path before importing this (bench/http.py would shadow
the standard library's http package); run with -m, nothing is needed."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIRST = [
    "Jan",
    "Piet",
    "An",
    "Els",
    "Koen",
    "Sofie",
    "Lotte",
    "Wim",
    "Hanako",
    "Taro",
    "Yuki",
    "Kenji",
    "Aiko",
    "Sanne",
    "Bram",
    "Hiroshi",
    "Mei",
    "Emma",
    "Lucas",
    "Noor",
]
LAST = [
    "Van den Bossche",
    "Peeters",
    "Janssens",
    "Maes",
    "De Smet",
    "Claes",
    "Yamada",
    "Tanaka",
    "Suzuki",
    "Sato",
    "Watanabe",
    "Willems",
    "Goossens",
    "Nakamura",
    "Kobayashi",
]
JA = ["山田 花子", "田中 太郎", "鈴木 一郎", "佐藤 由紀", "渡辺 健二", "中村 愛子", "小林 宏"]


@contextmanager
def fresh_database(base_url: str | None, workdir: Path) -> Iterator[str]:
    """A SQLite file in workdir, or with a PostgreSQL URL a new database `bench_<random>` on that server,
    dropped afterwards."""
    if not base_url or base_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
        return
    import asyncpg

    name = f"bench_{secrets.token_hex(4)}"
    server = base_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    async def run(statement: str) -> None:
        connection = await asyncpg.connect(server)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield "postgresql+asyncpg://" + server.split("://", 1)[1].rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def member_rows(start: int, count: int, now: dt.datetime, *, all_subscribed: bool = False) -> list[dict[str, Any]]:
    """Realistic members: Dutch and Japanese names, three cities and languages, one in three subscribed."""
    rows = []
    for index in range(start, start + count):
        name = random.choice(JA) if index % 5 == 0 else f"{random.choice(FIRST)} {random.choice(LAST)}"
        rows.append(
            {
                "email": f"{name.split()[0].lower()}.{index}@example.org",
                "name": name,
                "role": "member",
                "language": random.choice(("nl", "en", "ja")),
                "city": random.choice(("ghent", "kanazawa", "elsewhere")),
                "confirmed_at": now,
                "newsletter": all_subscribed or index % 3 == 0,
                "created_at": now - dt.timedelta(minutes=index),
                "updated_at": now,
            }
        )
    return rows


async def fill_members(database_url: str, members: int, *, all_subscribed: bool = False) -> None:
    """Upgrade the database and insert members in batches (an executemany per 5,000 rows; much faster than the
    ORM), then ANALYZE so the planner knows the table's size."""
    from sqlalchemy import insert, text

    from club.accounts.models import Person
    from club.db import create_engine, create_sessionmaker, utcnow
    from club.migrate import upgrade

    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url)
    random.seed(7)
    now = utcnow()
    async with create_sessionmaker(engine)() as db:
        for start in range(0, members, 5000):
            rows = member_rows(start, min(5000, members - start), now, all_subscribed=all_subscribed)
            await db.execute(insert(Person), rows)
        await db.commit()
        await db.execute(text("ANALYZE"))
        await db.commit()
    await engine.dispose()


async def admin_session(database_url: str) -> str:
    """A new admin and a logged-in session for them; returns the cookie value (club_session)."""
    from club.accounts.models import AuthSession, Person
    from club.db import create_engine, create_sessionmaker, utcnow

    engine = create_engine(database_url)
    raw = secrets.token_urlsafe(32)
    async with create_sessionmaker(engine)() as db:
        admin = Person(
            email=f"bench-admin-{secrets.token_hex(3)}@example.org",
            name="Bench Admin",
            role="admin",
            language="en",
            confirmed_at=utcnow(),
        )
        db.add(admin)
        await db.flush()
        db.add(
            AuthSession(
                id=hashlib.sha256(raw.encode()).hexdigest(),
                person_id=admin.id,
                expires_at=utcnow() + dt.timedelta(hours=2),
            )
        )
        await db.commit()
    await engine.dispose()
    return raw


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(
    database_url: str | None, var_dir: Path, *, workers: int = 1, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """`python server.py --port P --quiet [--workers N]` with a clean CLUB_* environment; returns once it listens."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CLUB_")}
    environment.update({"CLUB_VAR_DIR": str(var_dir), "CLUB_LOG_LEVEL": "warning", "PYTHONUNBUFFERED": "1"})
    if database_url:
        environment["CLUB_DATABASE_URL"] = database_url
    environment.update(env or {})
    command = [sys.executable, "server.py", "--port", str(port), "--quiet"]
    if workers > 1:
        command += ["--workers", str(workers)]
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                time.sleep(0.5 if workers > 1 else 0)  # every worker up, not just the first
                return process, url
        except OSError:
            if process.poll() is not None:
                log.seek(0)
                raise SystemExit("server exited:\n" + log.read()) from None
            time.sleep(0.1)
    process.kill()
    raise SystemExit("server did not start")


def stop_server(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wrk(url: str, seconds: float, connections: int, *, cookie: str | None = None) -> dict[str, float]:
    """Requests per second, median and p99 (ms) and errors (non-2xx/3xx responses and socket errors) of one wrk
    run. It asks like a browser: Dutch, and gzip accepted (a server that compresses does so under load)."""
    command = [
        "wrk",
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "-H",
        "Accept-Language: nl",
        "-H",
        "Accept-Encoding: gzip",
    ]
    if cookie:
        command += ["-H", f"Cookie: club_session={cookie}"]
    result = subprocess.run(command + [url], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"wrk {url}: {result.stderr.strip() or result.stdout.strip()}")
    out = result.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    figures = {"rps": rps}
    for label, key in (("50%", "p50_ms"), ("99%", "p99_ms")):
        match = re.search(rf"{re.escape(label)}\s+([\d.]+)(us|ms|s)", out)
        if match:
            figures[key] = round(float(match.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[match.group(2)], 2)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    figures["errors"] = float(errors.group(1)) if errors else 0.0
    figures["errors"] += sum(float(n) for n in sockets.groups()) if sockets else 0.0
    return figures


def fetch(url: str, cookie: str | None = None, data: dict[str, str] | None = None) -> tuple[int, str]:
    """One GET (or a form POST with data) without following redirects: the status and the body. Standard library
    only, so bench/http.py runs on what the README's run command installs."""
    import urllib.error
    import urllib.parse
    import urllib.request

    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers={"Cookie": f"club_session={cookie}"} if cookie else {})
    try:
        with urllib.request.build_opener(Stay).open(request, timeout=120) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


async def subscribers_and_admin(db: Any, members: int, now: dt.datetime) -> tuple[Any, str]:
    """`members` confirmed subscribers in the three languages and cities, and an admin with a session: returns the
    admin and the raw session cookie value. The caller commits."""
    from sqlalchemy import insert

    from club.accounts.models import AuthSession, Person

    languages = ("nl", "en", "ja")
    rows = [
        {
            "email": f"member{i}@example.org",
            "name": f"Lid {i}",
            "role": "member",
            "language": languages[i % 3],
            "city": ("ghent", "kanazawa", "elsewhere")[i % 3],
            "confirmed_at": now,
            "newsletter": True,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(members)
    ]
    for start in range(0, len(rows), 10_000):
        await db.execute(insert(Person), rows[start : start + 10_000])
    admin = Person(email="admin@example.org", name="Admin", role="admin", language="en", confirmed_at=now)
    db.add(admin)
    await db.flush()
    raw = secrets.token_urlsafe(32)
    db.add(
        AuthSession(
            id=hashlib.sha256(raw.encode()).hexdigest(), person_id=admin.id, expires_at=now + dt.timedelta(hours=2)
        )
    )
    return admin, raw


async def migrated_settings(tmp: str, database_url: str = "") -> tuple[str, Any]:
    """An in-process bench's database (a SQLite file in `tmp` unless a URL is given), migrated to head, and the
    development settings that serve it without sending mail."""
    from club.config import Settings
    from club.migrate import upgrade

    url = database_url or f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
    await asyncio.to_thread(upgrade, url)
    settings = Settings(
        env="development",
        var_dir=Path(tmp),
        database_url=url,
        secret_key="b" * 40,
        base_url="https://club.example",
        smtp_host="127.0.0.1",
        smtp_port=9,
        run_sender=False,
    )
    return url, settings


NEWSLETTER_BODY = (
    "## {title}\n\nThis month the club met in **Ghent** and in **Kanazawa**. Read about the exchange students, "
    "the autumn reception and the new partner schools.\n\n- the Gentse Feesten stand\n- a lecture on Kaga-yuzen\n"
    "- [the ambassadors' wall](/ambassadors)\n\n金沢とゲントの交流は1971年から続いています。"
)


async def archived_newsletters(database_url: str, count: int) -> None:
    """`count` sent, public newsletters in Dutch, English and Japanese, one a month back from now, for the
    public archive and its feeds."""
    from club.db import create_engine, create_sessionmaker, utcnow
    from club.newsletters.models import Newsletter, NewsletterVariant

    engine = create_engine(database_url)
    now = utcnow()
    async with create_sessionmaker(engine)() as db:
        for index in range(count):
            sent = now - dt.timedelta(days=30 * index)
            db.add(
                Newsletter(
                    status="sent",
                    started_at=sent,
                    finished_at=sent + dt.timedelta(minutes=7),
                    recipients=10_000,
                    created_at=sent,
                    variants=[
                        NewsletterVariant(
                            language=language,
                            subject=f"{subject} {sent:%Y-%m}",
                            preheader=subject,
                            body=NEWSLETTER_BODY.format(title=subject),
                        )
                        for language, subject in (("nl", "Nieuwsbrief"), ("en", "Newsletter"), ("ja", "ニュースレター"))
                    ],
                )
            )
        await db.commit()
    await engine.dispose()


def published_event(uid: str, starts_at: dt.datetime, venue: str, **details: Any) -> Any:
    """A published public event of three hours for the event benches: no capacity, one guest each, all invited."""
    from club.events.models import Event

    return Event(
        uid=uid,
        status="published",
        sequence=0,
        fallback="en",
        zone="Europe/Brussels",
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(hours=3),
        venue=venue,
        address=details.pop("address", ""),
        capacity=None,
        max_guests=1,
        question="",
        public=True,
        audience="{}",
        reminder_days=2,
        invited=0,
        answers_version=0,
        **details,
    )
