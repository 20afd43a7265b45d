"""Importing members from a CSV file: a check that previews every row's problem, then a resumable import.

The check decodes the file (UTF-8 with or without BOM, or the Shift_JIS/cp932 that Excel writes on Japanese
Windows), reads it with the delimiter it uses, and writes the good rows, normalised, to var/imports/<id>.jsonl.
The import then applies them in batches; each batch commits together with the position reached, so an
interrupted import resumes where it stopped and never applies a row twice. Rows with a problem are skipped.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import datetime as dt
import io
import json
import logging
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from club import forms
from club.accounts.models import Person
from club.admin import audit
from club.admin.models import MemberImport
from club.config import Settings
from club.db import is_postgres, utcnow
from club.i18n import N_
from club.members.models import Consent, Interest, MemberInterest
from club.members.service import NEWSLETTER

log = logging.getLogger("club.admin.import")

MAX_ROWS = 500_000
BATCH = 1000
PREVIEW_PROBLEMS = 1000
STALE_AFTER = dt.timedelta(seconds=60)  # a running import without a heartbeat this long may be resumed

HEADERS = {
    "email": "email", "e-mail": "email", "mail": "email", "email address": "email", "e-mailadres": "email",
    "メール": "email", "メールアドレス": "email",
    "name": "name", "naam": "name", "名前": "name", "氏名": "name",
    "city": "city", "stad": "city", "都市": "city",
    "language": "language", "taal": "language", "言語": "language",
    "interests": "interests", "interesses": "interests", "関心": "interests",
    "newsletter": "newsletter", "nieuwsbrief": "newsletter", "ニュースレター": "newsletter",
    "consent_date": "consent_date", "consent date": "consent_date", "toestemming": "consent_date",
    "同意日": "consent_date",
}
CITIES = {
    "ghent": "ghent", "gent": "ghent", "gand": "ghent", "ゲント": "ghent", "ヘント": "ghent",
    "kanazawa": "kanazawa", "金沢": "kanazawa", "金沢市": "kanazawa",
    "elsewhere": "elsewhere", "other": "elsewhere", "elders": "elsewhere", "その他": "elsewhere",
}
LANGUAGES = {
    "nl": "nl", "dutch": "nl", "nederlands": "nl", "オランダ語": "nl",
    "en": "en", "english": "en", "engels": "en", "英語": "en",
    "ja": "ja", "japanese": "ja", "japans": "ja", "日本語": "ja",
}
YES = {"yes", "y", "ja", "j", "1", "true", "x", "はい", "✓"}
NO = {"", "no", "n", "nee", "0", "false", "いいえ"}

# Problems, as message ids the preview translates.
BAD_EMAIL = N_("bad email address")
DUPLICATE = N_("duplicate of an earlier row")
BAD_NAME = N_("missing or invalid name")
UNKNOWN_CITY = N_("unknown city")
UNKNOWN_LANGUAGE = N_("unknown language")
UNKNOWN_INTEREST = N_("unknown interest")
BAD_NEWSLETTER = N_("newsletter must be yes or no")
BAD_CONSENT_DATE = N_("consent date is not a date (YYYY-MM-DD)")
TOO_MANY_FIELDS = N_("more fields than columns")


class ImportRefused(Exception):
    """The whole file is refused (empty, binary, no email column, too many rows): nothing was imported."""

    def __init__(self, message: str, **variables: object) -> None:
        super().__init__(message)
        self.message = message
        self.variables = variables


@dataclass
class CheckResult:
    encoding: str
    total: int = 0
    valid: int = 0
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (line, email as written, message id)
    problem_rows: int = 0
    without_consent: int = 0
    emails: list[str] = field(default_factory=list)


def decode(data: bytes) -> tuple[str, str]:
    """The text of the file and the encoding it was in."""
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        raise ImportRefused(N_("The file is empty."))
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in data[:65536]:
        raise ImportRefused(N_("This is not a CSV text file. Save the list as CSV (UTF-8) and try again."))
    if data.startswith(codecs.BOM_UTF8):
        candidates = [("utf-8-sig", data[3:])]
    else:
        candidates = [("utf-8", data), ("cp932", data)]
    for encoding, body in candidates:
        try:
            text = body.decode("utf-8" if encoding == "utf-8-sig" else encoding)
        except UnicodeDecodeError:
            continue
        if forms.CONTROL_RE.search(text.replace("\t", " ")[:65536]):
            break
        return text, encoding
    raise ImportRefused(N_("This is not a CSV text file. Save the list as CSV (UTF-8) and try again."))


def _delimiter(first_line: str) -> str:
    counts = {delimiter: first_line.count(delimiter) for delimiter in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def read_rows(text: str) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The normalised header and an iterator of (line number, fields)."""
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise ImportRefused(N_("The file is empty.")) from None
    columns = [HEADERS.get(" ".join(name.split()).lower(), "") for name in header]
    if "email" not in columns:
        raise ImportRefused(N_("The first row must name the columns, with at least an email column "
                               "(email, name, city, language, interests, newsletter, consent_date)."))

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for fields in reader:
                if any(value.strip() for value in fields):
                    yield reader.line_num, fields
        except csv.Error as exc:
            raise ImportRefused(N_("The file is not valid CSV near line %(line)s."), line=reader.line_num) from exc

    return columns, rows()


def check_row(values: dict[str, str], interests: set[str]) -> tuple[dict[str, Any] | None, list[str]]:
    """A normalised row, or the problems that keep it out."""
    problems: list[str] = []
    row: dict[str, Any] = {}
    try:
        row["email"] = forms.email(values.get("email", ""))
    except forms.Invalid:
        problems.append(BAD_EMAIL)
    try:
        row["name"] = forms.name(values.get("name", ""))
    except forms.Invalid:
        problems.append(BAD_NAME)
    city = " ".join(values.get("city", "").split()).lower()
    if city and city not in CITIES:
        problems.append(UNKNOWN_CITY)
    row["city"] = CITIES.get(city, "")
    language = " ".join(values.get("language", "").split()).lower()
    if language and language not in LANGUAGES:
        problems.append(UNKNOWN_LANGUAGE)
    row["language"] = LANGUAGES.get(language, "")
    raw_interests = [part.strip().lower() for part in values.get("interests", "").replace("|", ";").split(";")]
    chosen = sorted({part for part in raw_interests if part})
    if any(part not in interests for part in chosen):
        problems.append(UNKNOWN_INTEREST)
    row["interests"] = chosen if "interests" in values else None
    newsletter = values.get("newsletter", "").strip().lower()
    if newsletter not in YES and newsletter not in NO:
        problems.append(BAD_NEWSLETTER)
    row["newsletter"] = None if "newsletter" not in values or not newsletter else newsletter in YES
    consent = values.get("consent_date", "").strip()
    row["consent_date"] = None
    if consent:
        try:
            row["consent_date"] = dt.date.fromisoformat(consent[:10]).isoformat()
        except ValueError:
            problems.append(BAD_CONSENT_DATE)
    return (None if problems else row), problems


def check_file(data: bytes, interests: set[str], out: Path, *, max_rows: int | None = None) -> CheckResult:
    """Check every row (CPU-bound: run it in a thread) and write the good ones to `out`, one JSON per line."""
    text, encoding = decode(data)
    columns, rows = read_rows(text)
    result = CheckResult(encoding=encoding)
    max_rows = max_rows or MAX_ROWS
    seen: set[str] = set()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for line, fields in rows:
            result.total += 1
            if result.total > max_rows:
                raise ImportRefused(N_("The file has more than %(max)s rows. Split it into smaller files."),
                                    max=max_rows)
            values = {column: value for column, value in zip(columns, fields, strict=False) if column}
            row, problems = check_row(values, interests)
            if len(fields) > len(columns):
                problems.append(TOO_MANY_FIELDS)
                row = None
            if row is not None and row["email"] in seen:
                problems.append(DUPLICATE)
                row = None
            if row is None:
                result.problem_rows += 1
                if len(result.problems) < PREVIEW_PROBLEMS:
                    shown = values.get("email", "")[:100]
                    result.problems.extend((line, shown, problem) for problem in problems)
                continue
            seen.add(row["email"])
            result.valid += 1
            result.emails.append(row["email"])
            if row["newsletter"] and not row["consent_date"]:
                result.without_consent += 1
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    if result.total == 0:
        raise ImportRefused(N_("The file has a header row but no members."))
    return result


def rows_path(settings: Settings, job_id: int) -> Path:
    return settings.var_dir / "imports" / f"{job_id}.jsonl"


async def forget_address(db: AsyncSession, settings: Settings, email: str) -> int:
    """Take an erased member's address out of every import not run to its end: their rows leave the checked
    files (an import started later would bring them back) and the previews' problem lists. Rows already applied
    stay counted in processed_rows, so a resumed import still starts at the right row. Returns rows removed."""
    email = email.strip().lower()
    removed = 0
    for job in (await db.execute(select(MemberImport).where(MemberImport.status != "done"))).scalars():
        path = rows_path(settings, job.id)
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            kept = [line for line in lines if str(json.loads(line).get("email", "")).lower() != email]
            gone_before = sum(
                1 for line in lines[: job.processed_rows] if str(json.loads(line).get("email", "")).lower() == email
            )
            if len(kept) != len(lines):
                temporary = path.with_suffix(".part")
                temporary.write_text("".join(kept), encoding="utf-8")
                temporary.replace(path)
                removed += len(lines) - len(kept)
                job.processed_rows -= gone_before
                job.valid_rows -= len(lines) - len(kept)
        problems = problems_of(job)
        if any(shown.strip().lower() == email for _line, shown, _problem in problems):
            job.problems = json.dumps([(line, "" if shown.strip().lower() == email else shown, problem)
                                       for line, shown, problem in problems], ensure_ascii=False)
    await db.flush()
    return removed


async def interest_ids(db: AsyncSession) -> dict[str, int]:
    return {slug: id_ for slug, id_ in (await db.execute(select(Interest.slug, Interest.id))).all()}


async def prepare(db: AsyncSession, settings: Settings, *, data: bytes, filename: str,
                  created_by: int | None) -> MemberImport:
    """Check an uploaded file and keep it as a previewed import. Raises ImportRefused for a file refused whole."""
    known = set(await interest_ids(db))
    scratch = settings.var_dir / "imports" / f"check-{secrets.token_hex(8)}.jsonl"
    try:
        result = await asyncio.to_thread(check_file, data, known, scratch)
    except BaseException:
        scratch.unlink(missing_ok=True)
        raise
    job = MemberImport(created_by=created_by, filename=filename[:200] or "members.csv", encoding="",
                       status="previewed")
    db.add(job)
    await db.flush()
    scratch.rename(rows_path(settings, job.id))
    existing = 0
    for start in range(0, len(result.emails), BATCH):
        chunk = result.emails[start:start + BATCH]
        existing += len((await db.execute(select(Person.id).where(Person.email.in_(chunk)))).all())
    job.encoding = result.encoding
    job.total_rows = result.total
    job.valid_rows = result.valid
    job.new_rows = result.valid - existing
    job.problem_rows = result.problem_rows
    job.without_consent = result.without_consent
    job.problems = json.dumps(result.problems, ensure_ascii=False)
    await db.flush()
    return job


def problems_of(job: MemberImport) -> list[tuple[int, str, str]]:
    return [tuple(item) for item in json.loads(job.problems or "[]")]  # type: ignore[misc]


def is_stale(job: MemberImport) -> bool:
    return job.status == "running" and (job.heartbeat_at is None or job.heartbeat_at < utcnow() - STALE_AFTER)


async def claim(db: AsyncSession, job_id: int) -> bool:
    """Mark the import running, unless it is done or another process runs it right now."""
    now = utcnow()
    result = await db.execute(
        update(MemberImport)
        .where(
            MemberImport.id == job_id,
            (MemberImport.status.in_(("previewed", "interrupted")))
            | ((MemberImport.status == "running") & (MemberImport.heartbeat_at < now - STALE_AFTER)),
        )
        .values(status="running", heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


ANALYZE_EVERY = 10  # batches


async def refresh_statistics(db: AsyncSession) -> None:
    """PostgreSQL plans a repeated query once for all (a generic plan) from the table statistics it has. A first
    import into a nearly empty table grows it a hundredfold, and that plan (a sequential scan per lookup of a
    batch's addresses) gets slower with every batch. ANALYZE refreshes the statistics and drops stale plans."""
    if is_postgres(db):
        await db.execute(text("ANALYZE people"))


async def apply_batch(db: AsyncSession, rows: list[dict[str, Any]], interests: dict[str, int]) -> None:
    """Create or update the members of one batch: existing members are updated, never duplicated, and keep
    their role; consent is recorded with the method 'import' only where the file gives its date."""
    now = utcnow()
    emails = [row["email"] for row in rows]
    existing = {
        email: (person_id, newsletter)
        for person_id, email, newsletter in (
            await db.execute(select(Person.id, Person.email, Person.newsletter).where(Person.email.in_(emails)))
        ).all()
    }
    new_rows = [row for row in rows if row["email"] not in existing]
    ids: dict[str, int] = {email: person_id for email, (person_id, _n) in existing.items()}
    if new_rows:
        created = await db.execute(
            insert(Person).returning(Person.id, Person.email),
            [
                {"email": row["email"], "name": row["name"], "role": "member", "city": row["city"] or "elsewhere",
                 "language": row["language"] or "en", "confirmed_at": now, "newsletter": False,
                 "created_at": now, "updated_at": now}
                for row in new_rows
            ],
        )
        ids.update({email: person_id for person_id, email in created.all()})
    updates = []
    for row in rows:
        if row["email"] not in existing:
            continue
        values: dict[str, Any] = {"id": ids[row["email"]], "name": row["name"], "updated_at": now}
        if row["city"]:
            values["city"] = row["city"]
        if row["language"]:
            values["language"] = row["language"]
        updates.append(values)
    for keys in {tuple(sorted(values)) for values in updates}:  # one executemany per set of columns
        await db.execute(update(Person), [values for values in updates if tuple(sorted(values)) == keys])
    with_interests = [row for row in rows if row["interests"] is not None]
    if with_interests:
        await db.execute(delete(MemberInterest).where(
            MemberInterest.person_id.in_([ids[row["email"]] for row in with_interests])))
        links = [{"person_id": ids[row["email"]], "interest_id": interests[slug]}
                 for row in with_interests for slug in row["interests"] if slug in interests]
        if links:
            await db.execute(insert(MemberInterest), links)
    consents, subscribe, unsubscribe = [], [], []
    for row in rows:
        person_id = ids[row["email"]]
        subscribed = existing.get(row["email"], (0, False))[1]
        language = row["language"] or "en"
        if row["newsletter"] and row["consent_date"] and not subscribed:
            subscribe.append(person_id)
            consents.append({"person_id": person_id, "purpose": NEWSLETTER, "given": True, "method": "import",
                             "text_version": f"import:{row['consent_date']}", "language": language,
                             "created_at": now})
        elif row["newsletter"] is False and subscribed:
            unsubscribe.append(person_id)
            consents.append({"person_id": person_id, "purpose": NEWSLETTER, "given": False, "method": "import",
                             "text_version": "import", "language": language, "created_at": now})
    if subscribe:
        await db.execute(update(Person).where(Person.id.in_(subscribe)).values(newsletter=True)
                         .execution_options(synchronize_session=False))
    if unsubscribe:
        await db.execute(update(Person).where(Person.id.in_(unsubscribe)).values(newsletter=False)
                         .execution_options(synchronize_session=False))
    if consents:
        await db.execute(insert(Consent), consents)


def _batches(path: Path, skip: int) -> Iterator[list[dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        batch: list[dict[str, Any]] = []
        for index, line in enumerate(handle):
            if index < skip:
                continue
            batch.append(json.loads(line))
            if len(batch) == BATCH:
                yield batch
                batch = []
        if batch:
            yield batch


Progress = Callable[[int, int], None]


async def run(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, job_id: int,
              *, progress: Progress | None = None) -> str:
    """Apply a previewed (or interrupted) import; returns its final status. Each batch is one transaction."""
    async with sessionmaker() as db:
        claimed = await claim(db, job_id)
        await db.commit()
        if not claimed:
            job = await db.get(MemberImport, job_id)
            return job.status if job is not None else "missing"
        job = await db.get(MemberImport, job_id)
        assert job is not None
        interests = await interest_ids(db)
        done, total = job.processed_rows, job.valid_rows
    try:
        for number, batch in enumerate(_batches(rows_path(settings, job_id), done)):
            async with sessionmaker() as db:
                if number % ANALYZE_EVERY == 0:
                    await refresh_statistics(db)
                await apply_batch(db, batch, interests)
                done += len(batch)
                await db.execute(update(MemberImport).where(MemberImport.id == job_id)
                                 .values(processed_rows=done, heartbeat_at=utcnow()))
                await db.commit()
            if progress is not None:
                progress(done, total)
            await asyncio.sleep(0)  # let the pages (and the progress bar) answer between batches
    except Exception:
        log.exception("member import %s stopped at row %s of %s", job_id, done, total)
        async with sessionmaker() as db:
            await db.execute(update(MemberImport).where(MemberImport.id == job_id).values(status="interrupted"))
            await db.commit()
        return "interrupted"
    async with sessionmaker() as db:
        job = await db.get(MemberImport, job_id)
        assert job is not None
        job.status = "done"
        job.finished_at = utcnow()
        actor = await db.get(Person, job.created_by) if job.created_by else None
        await audit.record(db, None, "member.import.finish", "import", job_id,
                           {"rows": job.processed_rows, "new": job.new_rows},
                           actor_email=actor.email if actor else "")
        await db.commit()
    rows_path(settings, job_id).unlink(missing_ok=True)
    return "done"


# Imports started from a page run as tasks of the web process; keeping a reference stops them being collected.
_running: set[asyncio.Task[str]] = set()


def start_in_background(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, job_id: int) -> None:
    task = asyncio.get_running_loop().create_task(run(sessionmaker, settings, job_id))
    _running.add(task)
    task.add_done_callback(_running.discard)
