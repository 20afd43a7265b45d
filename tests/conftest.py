"""Fixtures: a real database per test (a SQLite file, or PostgreSQL when CLUB_TEST_DATABASE_URL says so),
the app driven through httpx's ASGI transport, and a real SMTP server on loopback."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from club.accounts.models import Person
from club.app import create_app
from club.config import Settings
from club.db import create_engine, create_sessionmaker
from club.migrate import upgrade
from club.models import metadata
from tests.factories import log_in, make_admin
from tests.helpers import (
    ON_POSTGRES,
    SECRET,
    TEST_DATABASE_URL,
    WORKER,
    Mailbox,
    Post,
    free_port,
    pg_execute,
    pg_url,
    post_form,
)

QUICK_LOOP = "not slow and not browser"


def pytest_configure(config: pytest.Config) -> None:
    """A bare `pytest` is the quick loop: without slow and browser tests. Naming tests (a folder, a file) or a
    marker expression (`-m ""` for everything) runs what was asked for."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:  # a pytest-xdist worker: the controller decided (pytest_configure_node)
        quick = workerinput.get("club_quick_loop", False)
    else:
        asked_for_markers = any(arg.startswith("-m") for arg in config.invocation_params.args)
        quick = not asked_for_markers and config.args_source == pytest.Config.ArgsSource.TESTPATHS
    if quick:
        config.option.markexpr = QUICK_LOOP
        config.stash[quick_loop_key] = True


quick_loop_key = pytest.StashKey[bool]()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: each worker collects and selects on its own, so it is told the controller's choice."""
    node.workerinput["club_quick_loop"] = node.config.stash.get(quick_loop_key, False)


def pytest_report_header(config: pytest.Config) -> str:
    return f"club test database: {'PostgreSQL (' + TEST_DATABASE_URL + ')' if ON_POSTGRES else 'SQLite files'}"


# ---- databases -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per test run, migrated to head once: a fresh PostgreSQL database (dropped at the end),
    or a SQLite template file that each test copies."""
    if ON_POSTGRES:
        name = f"club_test_{WORKER}_{os.getpid()}_{secrets.token_hex(4)}"  # one per xdist worker
        asyncio.run(pg_execute(TEST_DATABASE_URL, f'CREATE DATABASE "{name}"'))
        url = pg_url(name)
        try:
            upgrade(url)
            yield url
        finally:
            asyncio.run(pg_execute(TEST_DATABASE_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        path = tmp_path_factory.mktemp("template") / "template.sqlite3"  # tmp_path_factory is per xdist worker
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
        yield url


async def seed_reference_data(session: AsyncSession) -> None:
    from club.members.service import seed_interests

    await seed_interests(session)


@pytest.fixture
async def database_url(migrated_database: str, tmp_path: Path) -> AsyncIterator[str]:
    if ON_POSTGRES:
        engine = create_engine(migrated_database)
        async with engine.begin() as connection:
            names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
            await connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        async with create_sessionmaker(engine)() as session:  # what the migrations seed, as on SQLite
            await seed_reference_data(session)
            await session.commit()
        await engine.dispose()
        yield migrated_database
    else:
        template = Path(migrated_database.split("///", 1)[1])
        target = tmp_path / "club.sqlite3"
        shutil.copyfile(template, target)
        yield f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    var_dir = tmp_path / "var"
    var_dir.mkdir(exist_ok=True)
    return Settings(
        env="development",
        var_dir=var_dir,
        database_url=database_url,
        secret_key=SECRET,
        base_url="http://testserver",
        smtp_host="127.0.0.1",
        smtp_port=9,  # nothing listens: tests that send mail use the smtp_server fixture's port
        run_sender=False,
    )


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[object]:
    application = create_app(settings, engine=engine)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def admin(db: AsyncSession) -> Person:
    return await make_admin(db)


@pytest.fixture
async def admin_client(client: httpx.AsyncClient, db: AsyncSession, admin: Person) -> httpx.AsyncClient:
    """The client, logged in as `admin`."""
    await log_in(client, db, admin)
    return client


@pytest.fixture
def post(admin_client: httpx.AsyncClient) -> Post:
    """POST a form as the admin's browser would, with a fresh CSRF token from `page`."""

    async def do(
        path: str, data: dict[str, object] | None = None, *, files: object = None, page: str = "/admin/newsletters"
    ) -> httpx.Response:
        return await post_form(admin_client, path, data, page=page, files=files)

    return do


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session for arranging and checking data; commit what the app must see."""
    async with create_sessionmaker(engine)() as session:
        yield session


# ---- mail ------------------------------------------------------------------------------------------------------


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), decode_data=False)
    controller.start()
    try:
        yield mailbox, controller.port
    finally:
        controller.stop()
