"""The admin commands of server.py: `import-members FILE` and `export-members FILE`."""

from __future__ import annotations

import sys
from pathlib import Path

from club.admin import audit, exporter, importer
from club.admin.search import MemberFilter
from club.config import Settings
from club.db import create_engine, create_sessionmaker, transaction
from club.i18n import DEFAULT_LANGUAGE, translate_for


def _say(message: str, **variables: object) -> str:
    return translate_for(DEFAULT_LANGUAGE, message, **variables)


def _bar(done: int, total: int, width: int = 40) -> None:
    filled = width * done // total if total else width
    percent = 100 * done // total if total else 100
    sys.stderr.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {percent:3d}%  {done:,}/{total:,}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


async def import_members_cli(settings: Settings, path: str, *, dry_run: bool = False) -> int:
    """Check FILE and print its problems, then (unless dry_run) import the good rows with a progress bar.
    Exit codes: 0 imported (or checked), 1 refused or interrupted (nothing half-applied: run it again to resume),
    2 file not readable."""
    source = Path(path)
    try:
        data = source.read_bytes()
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    engine = create_engine(settings.database_url)
    sessionmaker = create_sessionmaker(engine)
    try:
        try:
            job = await importer.prepare(
                sessionmaker, settings, data=data, filename=source.name, created_by=None, progress=_bar
            )
        except importer.ImportRefused as exc:
            print(f"refused, nothing imported: {_say(exc.message, **exc.variables)}", file=sys.stderr)
            return 1
        async with transaction(sessionmaker) as db:
            await audit.record(
                db,
                None,
                "member.import.check",
                "import",
                job.id,
                {"file": source.name, "rows": job.total_rows},
                actor_email="cli",
            )
        updates = job.valid_rows - job.new_rows
        print(
            f"{source.name} ({job.encoding}): {job.total_rows:,} rows, {job.valid_rows:,} good "
            f"({job.new_rows:,} new, {updates:,} updates), {job.problem_rows:,} with a problem, "
            f"{job.without_consent:,} want the newsletter without proof of consent, "
            f"{job.conflict_rows:,} stay unsubscribed (they unsubscribed after the row's consent date)"
        )
        for line, email, problem, variables in importer.problems_of(job)[:50]:
            print(f"  line {line}: {email or '-'}: {_say(problem, **variables)}")
        if dry_run or job.valid_rows == 0:
            return 0 if dry_run else 1
        async with transaction(sessionmaker) as db:
            await audit.record(
                db, None, "member.import.start", "import", job.id, {"rows": job.valid_rows}, actor_email="cli"
            )
        status = await importer.run(sessionmaker, settings, job.id, progress=_bar)
        if status != "done":
            print(
                f"import {job.id} stopped ({status}); the rows before that are in. Run the command again to "
                "import the rest from where it stopped.",
                file=sys.stderr,
            )
            return 1
        print(f"imported {job.valid_rows:,} members (import {job.id})")
        return 0
    finally:
        await engine.dispose()


async def export_members_cli(settings: Settings, path: str, filters: dict[str, str] | None = None) -> int:
    """Write the members matching filters (the list page's query parameters: q, status, city, language,
    interest, role, joined_from, joined_to, sort) to FILE, or to standard output for '-'."""
    where = MemberFilter.from_params(filters or {})
    engine = create_engine(settings.database_url)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with transaction(sessionmaker) as db:
            await audit.record(db, None, "member.export", "members", "", where.params(), actor_email="cli")
        handle = sys.stdout if path == "-" else open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
        try:
            async for chunk in exporter.export_lines(sessionmaker, where):
                handle.write(chunk)
        finally:
            if handle is not sys.stdout:
                handle.close()
        return 0
    finally:
        await engine.dispose()
