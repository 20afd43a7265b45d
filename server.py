#!/usr/bin/env python3
"""The command line of the Ghent–Kanazawa Supporters Club platform. `python server.py --help` lists commands."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Callable

from club.config import ConfigError, Settings

log = logging.getLogger("club")


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from club.migrate import upgrade
    from club.serving import uvicorn_options

    if not settings.is_production and not settings.base_url_explicit:
        # Links in pages and mail follow the port chosen here; uvicorn's processes read it from the environment.
        os.environ["CLUB_BASE_URL"] = f"http://{args.host}:{args.port}"
        settings = settings.with_(base_url=os.environ["CLUB_BASE_URL"])

    upgrade(settings.database_url)
    link = asyncio.run(_setup_link(settings))
    if link:
        print(
            f"\n  No admin exists yet. Open this one-time link (valid for one hour) to create one:\n\n    {link}\n",
            flush=True,
        )
    print(f"  Serving the club on http://{args.host}:{args.port} (base URL {settings.base_url})\n", flush=True)
    uvicorn.run(
        "club.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning" if args.quiet else settings.log_level,
        access_log=not args.quiet,
        **uvicorn_options(settings),
    )
    return 0


async def _setup_link(settings: Settings) -> str | None:
    from club.accounts.service import issue_setup_link
    from club.db import create_engine, create_sessionmaker, transaction

    engine = create_engine(settings.database_url)
    try:
        async with transaction(create_sessionmaker(engine)) as db:
            token = await issue_setup_link(db)
    finally:
        await engine.dispose()
    return settings.absolute_url(f"/setup/{token}") if token else None


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from club.migrate import downgrade, upgrade

    if args.downgrade:
        downgrade(settings.database_url, args.downgrade)
    else:
        upgrade(settings.database_url, args.revision)
    print("database is at", args.downgrade or args.revision)
    return 0


def cmd_create_admin(settings: Settings, args: argparse.Namespace) -> int:
    from club import forms
    from club.accounts.passwords import password_problem

    try:
        email = forms.email(args.email)
        name = forms.name(args.name)
    except forms.Invalid as exc:
        print(f"error: {exc.message % exc.variables if exc.variables else exc.message}", file=sys.stderr)
        return 2
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password again: "):
            print("error: the two passwords are not the same.", file=sys.stderr)
            return 2
    problem = password_problem(password, email=email)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from club.migrate import upgrade

    upgrade(settings.database_url)
    asyncio.run(_create_admin(settings, email, name, password, args.language))
    print(f"admin {email} is ready: log in at {settings.absolute_url('/admin/login')}")
    return 0


async def _create_admin(settings: Settings, email: str, name: str, password: str, language: str) -> None:
    from club.accounts.service import create_admin
    from club.db import create_engine, create_sessionmaker, transaction

    engine = create_engine(settings.database_url)
    try:
        async with transaction(create_sessionmaker(engine)) as db:
            await create_admin(db, email=email, name=name, password=password, language=language)
    finally:
        await engine.dispose()


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from club.migrate import upgrade

    try:
        from club.mail.sender import run_worker
    except ImportError:
        print("error: the mail sender is not available in this build.", file=sys.stderr)
        return 2
    upgrade(settings.database_url)
    asyncio.run(_worker(settings, run_worker))
    return 0


async def _worker(settings: Settings, run_worker) -> None:  # type: ignore[no-untyped-def]
    """The mail sender, with the housekeeping jobs beside it."""
    import contextlib

    from club import tasks
    from club.db import create_engine, create_sessionmaker, garbage_collection_in_event_loop

    engine = create_engine(settings.database_url)
    async with garbage_collection_in_event_loop():
        housekeeping = asyncio.create_task(tasks.run_forever(create_sessionmaker(engine), settings))
        try:
            await run_worker(settings, engine=engine)
        finally:
            housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await housekeeping
            await engine.dispose()


def cmd_import_members(settings: Settings, args: argparse.Namespace) -> int:
    from club.admin.commands import import_members_cli
    from club.migrate import upgrade

    upgrade(settings.database_url)
    return asyncio.run(import_members_cli(settings, args.file, dry_run=args.dry_run))


EXPORT_FILTERS = ("q", "status", "city", "language", "interest", "role", "joined_from", "joined_to", "sort")


def cmd_export_members(settings: Settings, args: argparse.Namespace) -> int:
    from club.admin.commands import export_members_cli
    from club.migrate import upgrade

    upgrade(settings.database_url)
    filters = {name: getattr(args, name) for name in EXPORT_FILTERS if getattr(args, name)}
    return asyncio.run(export_members_cli(settings, args.file, filters))


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    from club.migrate import upgrade
    from club.seed import seed

    if args.members < 0 or args.activities < 0:
        print("error: give zero or more members and activities.", file=sys.stderr)
        return 2
    upgrade(settings.database_url)
    asyncio.run(seed(settings, args.members, args.activities))
    return 0


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[[Settings, argparse.Namespace], int]]]:
    parser = argparse.ArgumentParser(
        prog="server.py",
        description="Ghent–Kanazawa Supporters Club. Without a command: migrate the database, then serve.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--workers", type=int, default=1, help="web processes (PostgreSQL for more than one)")
    parser.add_argument("--quiet", action="store_true", help="no access log")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    handlers: dict[str, Callable[[Settings, argparse.Namespace], int]] = {}

    serve = commands.add_parser("serve", help="migrate the database, then serve (the default)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--quiet", action="store_true")
    handlers["serve"] = cmd_serve

    migrate = commands.add_parser("migrate", help="upgrade the database to the newest migration")
    migrate.add_argument("--revision", default="head", help="target revision (default head)")
    migrate.add_argument("--downgrade", metavar="REVISION", help="downgrade to REVISION instead (e.g. base)")
    handlers["migrate"] = cmd_migrate

    admin = commands.add_parser("create-admin", help="create an admin account (or make a person admin)")
    admin.add_argument("email")
    admin.add_argument("--name", required=True)
    admin.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    admin.add_argument(
        "--language",
        choices=("nl", "en", "ja"),
        default="en",
        help="the language of the admin console (and, for a new account, of its mail); default en",
    )
    handlers["create-admin"] = cmd_create_admin

    commands.add_parser("worker", help="run a mail sender and the housekeeping jobs (several on PostgreSQL)")
    handlers["worker"] = cmd_worker

    importer = commands.add_parser(
        "import-members", help="import members from a CSV file (UTF-8 or cp932); running it again resumes"
    )
    importer.add_argument("file", help="the CSV file")
    importer.add_argument("--dry-run", action="store_true", help="only check the file and list its problems")
    handlers["import-members"] = cmd_import_members

    seeder = commands.add_parser("seed", help="fill the database with realistic fake members and activities")
    seeder.add_argument("--members", type=int, default=1000, help="how many members (default 1000)")
    seeder.add_argument("--activities", type=int, default=200, help="how many activities (default 200)")
    handlers["seed"] = cmd_seed

    exporter = commands.add_parser("export-members", help="export members to a CSV file ('-' for stdout)")
    exporter.add_argument("file")
    for name in EXPORT_FILTERS:
        exporter.add_argument("--" + name.replace("_", "-"), dest=name, help=f"filter: {name.replace('_', ' ')}")
    handlers["export-members"] = cmd_export_members
    return parser, handlers


def main(argv: list[str] | None = None) -> int:
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return handlers[args.command or "serve"](settings, args)


if __name__ == "__main__":
    sys.exit(main())
