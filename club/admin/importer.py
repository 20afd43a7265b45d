"""Importing members from a CSV file: a check that previews every row's problem, then a resumable import.

The upload is read at once only far enough to refuse a file whole (empty, binary, no email column, not CSV, too
many rows). The check then runs in the background, in batches, with its progress on the import's page: it decodes
the file (UTF-8 with or without BOM, or the Shift_JIS/cp932 that Excel writes on Japanese Windows), reads it with
the delimiter it uses, writes the good rows, normalised, to var/imports/<id>.jsonl and the rejected ones to
var/imports/<id>-rejected.jsonl (for the "download rejected rows" CSV). The import then applies the good rows in
batches; each batch commits together with the position reached, so an interrupted import resumes where it stopped
and never applies a row twice. An import never undoes an opt-out: a withdrawal later than a row's consent date wins.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import datetime as dt
import io
import json
import logging
import re
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache, lru_cache
from itertools import islice
from pathlib import Path
from typing import IO, Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from club import csvfile, forms, labels
from club.accounts.models import Person
from club.admin import audit
from club.admin import members as admin_members
from club.admin.csvformat import COLUMN_NAMES, EXPORT_ONLY_COLUMNS, NO_LABEL, YES_LABEL
from club.admin.models import MemberImport
from club.config import Settings
from club.db import is_postgres, utcnow
from club.i18n import LANGUAGE_NAMES, LANGUAGES, N_, translate_for
from club.members.models import Consent, Interest, MemberInterest
from club.members.service import NEWSLETTER

log = logging.getLogger("club.admin.import")

MAX_ROWS = 500_000
BATCH = 1000
CHECK_BATCH = 5000  # rows checked at a time in a thread
PROGRESS_EVERY = 0.5  # seconds between two saves of the check's progress
PREVIEW_PROBLEMS = 1000
PREVIEW_CONFLICTS = 1000
REPERMISSION_BATCH = 200
STALE_AFTER = dt.timedelta(seconds=60)  # a running import without a heartbeat this long may be resumed

HEADER_ALIASES = {
    "e-mail": "email",
    "mail": "email",
    "email address": "email",
    "e-mail address": "email",
    "メール": "email",
    "氏名": "name",
    "toestemming": "consent_date",
    "consent date": "consent_date",
    "toestemmingsdatum": "consent_date",
}
CITY_ALIASES = {"gand": "ghent", "ヘント": "ghent", "金沢市": "kanazawa", "other": "elsewhere", "その他": "elsewhere"}
YES = {"yes", "y", "ja", "j", "1", "true", "x", "はい", "✓"}
NO = {"", "no", "n", "nee", "0", "false", "いいえ"}
FORMULA_CHARACTERS = frozenset(csvfile.FORMULA_START)  # unneutralise, inlined for the rows' speed
INTEREST_SEPARATORS = re.compile(r"[;|、]")

# Problems, as message ids the preview translates; each names the column and the value.
MISSING_EMAIL = N_("missing email address")
BAD_EMAIL = N_("bad email address: %(value)s")
DUPLICATE = N_("duplicate of an earlier row (line %(line)s): %(value)s")
MISSING_NAME = N_("missing name")
BAD_NAME = N_("invalid name: %(value)s")
UNKNOWN_CITY = N_("unknown city: %(value)s")
UNKNOWN_LANGUAGE = N_("unknown language: %(value)s")
UNKNOWN_INTEREST = N_("unknown interest: %(value)s")
BAD_NEWSLETTER = N_("newsletter is not yes or no: %(value)s")
BAD_CONSENT_DATE = N_("consent date is not a date: %(value)s")
FUTURE_CONSENT_DATE = N_("consent date is in the future: %(value)s")
TOO_MANY_FIELDS = N_("more fields than the first row names: %(value)s")

Problem = tuple[str, dict[str, object]]  # message id, variables


class ImportRefused(forms.Invalid):
    """The whole file is refused (empty, binary, no email column, too many rows): nothing was imported."""


@lru_cache(maxsize=4096)  # cities, languages, yes/no and interests repeat from row to row
def fold(value: str) -> str:
    """A value as the vocabularies compare it: full-width letters made plain, spaces collapsed, lower case."""
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value)
    return " ".join(value.split()).lower()


def _vocabulary(names: dict[str, str], aliases: dict[str, str]) -> dict[str, str]:
    found = {fold(code): code for code in names} | {fold(alias): code for alias, code in aliases.items()}
    for code, label in names.items():
        for language in LANGUAGES:
            found[fold(translate_for(language, label))] = code
    return found


@cache
def cities() -> dict[str, str]:
    """City codes by every name the import accepts: code, and its name in nl, en and ja."""
    return _vocabulary(labels.CITIES, CITY_ALIASES)


@cache
def languages() -> dict[str, str]:
    aliases = {name: code for code, name in LANGUAGE_NAMES.items()}
    return _vocabulary(labels.LANGUAGES, aliases)


@cache
def headers() -> dict[str, str]:
    found = {fold(alias): column for alias, column in HEADER_ALIASES.items()}
    for table in (COLUMN_NAMES, EXPORT_ONLY_COLUMNS):
        for column, names in table.items():
            for name in names.values():
                found[fold(name)] = column if column in COLUMN_NAMES else ""
            found[fold(column.replace("_", " "))] = column if column in COLUMN_NAMES else ""
    return found


@cache
def yes_no() -> tuple[frozenset[str], frozenset[str]]:
    yes = YES | {fold(translate_for(language, YES_LABEL)) for language in LANGUAGES}
    no = NO | {fold(translate_for(language, NO_LABEL)) for language in LANGUAGES}
    return frozenset(yes), frozenset(no)


def interest_vocabulary(interests: list[Interest]) -> dict[str, str]:
    """Interest slugs by code and by their names in the three languages."""
    found: dict[str, str] = {}
    for interest in interests:
        for name in (interest.name_nl, interest.name_en, interest.name_ja, interest.slug):
            found.setdefault(fold(name), interest.slug)
    return found


# ---- dates as spreadsheets write them ---------------------------------------------------------------------------

_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
_YMD = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})" + _TIME)
_DMY = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})" + _TIME)
_JA = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日" + _TIME)
_SERIAL = re.compile(r"(\d{2,6})(?:\.\d+)?")
EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 1 is 1900-01-01 in Excel, which counts a 29 February 1900


@lru_cache(maxsize=4096)  # a file holds few distinct dates
def parse_date(value: str) -> dt.date:
    """A date as Excel and LibreOffice write it: 2024-04-01, 2024/04/01, 2024/4/1 0:00, 15/03/2024 (day first, as
    in Belgium and Japan's Excel never writes month first), 2024年4月1日, or a serial number such as 45383.
    Raises ValueError."""
    value = unicodedata.normalize("NFKC", value).strip()
    if match := _YMD.fullmatch(value) or _JA.fullmatch(value):
        year, month, day = (int(part) for part in match.groups())
    elif match := _DMY.fullmatch(value):
        day, month, year = (int(part) for part in match.groups())
    elif match := _SERIAL.fullmatch(value):
        serial = int(match.group(1))
        if not 61 <= serial <= 2958465:
            raise ValueError(value)
        return EXCEL_EPOCH + dt.timedelta(days=serial)
    else:
        raise ValueError(value)
    return dt.date(year, month, day)


Progress = Callable[[int, int], None]


# ---- reading the file -------------------------------------------------------------------------------------------


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


@dataclass
class Table:
    header: list[str]
    columns: list[str]  # the column each field is, "" for a column the import ignores
    delimiter: str
    rows: Iterator[tuple[int, list[str]]]


def read_rows(text: str) -> Table:
    """The header, what each column is, and an iterator of (line number, fields)."""
    first_line = text.split("\n", 1)[0]
    delimiter = _delimiter(first_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise ImportRefused(N_("The file is empty.")) from None
    names = headers()
    columns = [names.get(fold(csvfile.unneutralise(name)), "") for name in header]
    if "email" not in columns:
        raise ImportRefused(
            N_(
                "The first row must name the columns, with at least an email column "
                "(email, name, city, language, interests, newsletter, consent_date)."
            )
        )

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for fields in reader:
                if "".join(fields).strip():
                    yield (
                        reader.line_num,
                        [
                            value[1:] if value[:1] == "'" and value[1:2] in FORMULA_CHARACTERS else value
                            for value in fields
                        ],
                    )
        except csv.Error as exc:
            raise ImportRefused(N_("The file is not valid CSV near line %(line)s."), line=reader.line_num) from exc

    return Table(header, columns, delimiter, rows())


def inspect(data: bytes, *, max_rows: int | None = None) -> tuple[str, int]:
    """Refuse a file whole before anything is stored; returns its encoding and how many rows it has. Only the CSV
    reader runs over the file here (a fraction of a second for 100,000 rows): the rows are checked later."""
    text, encoding = decode(data)
    table = read_rows(text)
    max_rows = max_rows or MAX_ROWS
    total = 0
    for _row in table.rows:
        total += 1
        if total > max_rows:
            raise ImportRefused(N_("The file has more than %(max)s rows. Split it into smaller files."), max=max_rows)
    if total == 0:
        raise ImportRefused(N_("The file has a header row but no members."))
    return encoding, total


# ---- checking rows ----------------------------------------------------------------------------------------------


def check_row(
    values: dict[str, str], interests: dict[str, str], today: dt.date | None = None, cells: InterestCells | None = None
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """A normalised row, or the problems that keep it out."""
    problems: list[Problem] = []
    row: dict[str, Any] = {}
    email = values.get("email", "").strip()
    try:
        row["email"] = forms.email(email)
    except forms.Invalid:
        problems.append((BAD_EMAIL, {"value": email[:100]}) if email else (MISSING_EMAIL, {}))
    name = values.get("name", "")
    try:
        row["name"] = forms.name(name)
    except forms.Invalid:
        problems.append((BAD_NAME, {"value": name.strip()[:100]}) if name.strip() else (MISSING_NAME, {}))
    city = values.get("city", "").strip()
    row["city"] = cities().get(fold(city), "")
    if city and not row["city"]:
        problems.append((UNKNOWN_CITY, {"value": city[:100]}))
    language = values.get("language", "").strip()
    row["language"] = languages().get(fold(language), "")
    if language and not row["language"]:
        problems.append((UNKNOWN_LANGUAGE, {"value": language[:100]}))
    chosen, unknown = _interests_of(values.get("interests", ""), interests, {} if cells is None else cells)
    problems.extend((UNKNOWN_INTEREST, {"value": part}) for part in unknown)
    row["interests"] = chosen if "interests" in values else None
    newsletter = fold(values.get("newsletter", ""))
    yes, no = yes_no()
    if newsletter not in yes and newsletter not in no:
        problems.append((BAD_NEWSLETTER, {"value": values.get("newsletter", "").strip()[:100]}))
    row["newsletter"] = None if "newsletter" not in values or not newsletter else newsletter in yes
    consent = values.get("consent_date", "").strip()
    row["consent_date"] = None
    if consent:
        try:
            day = parse_date(consent)
        except ValueError:
            problems.append((BAD_CONSENT_DATE, {"value": consent[:100]}))
        else:
            if day > (today or dt.date.today()) + dt.timedelta(days=1):
                problems.append((FUTURE_CONSENT_DATE, {"value": consent[:100]}))
            row["consent_date"] = day.isoformat()
    return (None if problems else row), problems


InterestCells = dict[str, tuple[list[str], list[str]]]


def _interests_of(cell: str, interests: dict[str, str], cells: InterestCells) -> tuple[list[str], list[str]]:
    """The interest slugs a cell names, and the names in it that are no interest; remembered in `cells`, as most
    rows repeat a few combinations."""
    found = cells.get(cell)
    if found is None:
        chosen: set[str] = set()
        unknown: list[str] = []
        for part in INTEREST_SEPARATORS.split(cell if cell.isascii() else unicodedata.normalize("NFKC", cell)):
            if not part.strip():
                continue
            slug = interests.get(fold(part))
            if slug is None:
                unknown.append(part.strip()[:100])
            else:
                chosen.add(slug)
        found = cells[cell] = (sorted(chosen), unknown)
    return found


@dataclass
class CheckResult:
    encoding: str = ""
    total: int = 0
    valid: int = 0
    problems: list[tuple[int, str, str, dict[str, object]]] = field(default_factory=list)  # line, email, message
    problem_rows: int = 0
    emails: list[str] = field(default_factory=list)
    wanted: dict[str, tuple[int, str]] = field(default_factory=dict)  # email -> (line, consent date or "")


class Checker:
    """Checks a file's rows a batch at a time (CPU-bound: each batch runs in a thread), writing the good rows to
    `out` and the rejected ones, with their problems, to `rejected`."""

    def __init__(
        self, table: Table, interests: dict[str, str], out: IO[str], rejected: IO[str], result: CheckResult
    ) -> None:
        self.table, self.interests, self.out, self.rejected, self.result = table, interests, out, rejected, result
        self.seen: dict[str, int] = {}
        self.cells: InterestCells = {}
        self.today = dt.date.today()
        rejected.write(json.dumps({"header": table.header, "delimiter": table.delimiter}, ensure_ascii=False) + "\n")

    def check_some(self, count: int) -> bool:
        """Check up to `count` rows; True when the file is finished."""
        result, columns = self.result, self.table.columns
        batch = list(islice(self.table.rows, count))
        for line, fields in batch:
            result.total += 1
            values = {column: value for column, value in zip(columns, fields, strict=False) if column}
            row, problems = check_row(values, self.interests, self.today, self.cells)
            if len(fields) > len(columns):
                extra = self.table.delimiter.join(fields[len(columns) :])
                problems.append((TOO_MANY_FIELDS, {"value": extra[:100]}))
                row = None
            if row is not None and row["email"] in self.seen:
                problems.append((DUPLICATE, {"line": self.seen[row["email"]], "value": values.get("email", "")}))
                row = None
            if row is None:
                result.problem_rows += 1
                if len(result.problems) < PREVIEW_PROBLEMS:
                    shown = values.get("email", "")[:100]
                    result.problems.extend((line, shown, message, variables) for message, variables in problems)
                self.rejected.write(json.dumps([line, fields, problems], ensure_ascii=False) + "\n")
                continue
            self.seen[row["email"]] = line
            result.valid += 1
            result.emails.append(row["email"])
            if row["newsletter"]:
                result.wanted[row["email"]] = (line, row["consent_date"] or "")
            self.out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return len(batch) < count


def rows_path(settings: Settings, job_id: int) -> Path:
    return settings.var_dir / "imports" / f"{job_id}.jsonl"


def upload_path(settings: Settings, job_id: int) -> Path:
    """The uploaded file, kept until its check is finished."""
    return settings.var_dir / "imports" / f"{job_id}.upload"


def rejected_path(settings: Settings, job_id: int) -> Path:
    return settings.var_dir / "imports" / f"{job_id}-rejected.jsonl"


def repermission_path(settings: Settings, job_id: int) -> Path:
    """The addresses of the rows that want the newsletter without a consent date, one a line."""
    return settings.var_dir / "imports" / f"{job_id}-repermission.txt"


def scratch_paths(settings: Settings, job_id: int) -> list[Path]:
    return [
        rows_path(settings, job_id),
        upload_path(settings, job_id),
        rejected_path(settings, job_id),
        repermission_path(settings, job_id),
    ]


def _rewrite(path: Path, text: str) -> None:
    temporary = path.with_suffix(".part")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


async def forget_address(db: AsyncSession, settings: Settings, email: str) -> int:
    """Take an erased member's address out of every import not run to its end and of every scratch file an
    import keeps: their rows leave the checked rows (an import started later would bring them back), the rejected
    rows, the upload still being checked, the re-permission list and the previews' problem lists. Rows already
    applied stay counted in processed_rows, so a resumed import still starts at the right row. Returns rows
    removed from the checked rows."""
    email = email.strip().lower()
    removed = 0
    for job in (await db.execute(select(MemberImport))).scalars():
        path = rows_path(settings, job.id)
        if job.status != "done" and path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            kept = [line for line in lines if str(json.loads(line).get("email", "")).lower() != email]
            gone_before = sum(
                1 for line in lines[: job.processed_rows] if str(json.loads(line).get("email", "")).lower() == email
            )
            if len(kept) != len(lines):
                _rewrite(path, "".join(kept))
                removed += len(lines) - len(kept)
                job.processed_rows -= gone_before
                job.valid_rows -= len(lines) - len(kept)
        rejected = rejected_path(settings, job.id)
        if rejected.is_file():
            head, *rows = rejected.read_text(encoding="utf-8").splitlines(keepends=True)
            kept = [row for row in rows if email not in row.lower()]
            if len(kept) != len(rows):
                _rewrite(rejected, head + "".join(kept))
        upload = upload_path(settings, job.id)
        if upload.is_file():
            text, encoding = decode(upload.read_bytes())
            lines = text.splitlines(keepends=True)
            kept = [line for line in lines if email not in line.lower()]
            if len(kept) != len(lines):
                body = "".join(kept).encode("utf-8" if encoding == "utf-8-sig" else encoding)
                upload.write_bytes((codecs.BOM_UTF8 if encoding == "utf-8-sig" else b"") + body)
        repermission = repermission_path(settings, job.id)
        if repermission.is_file():
            # The sender's position counts lines, so the address gives way to a line that names nobody.
            addresses = repermission.read_text(encoding="utf-8").split()
            if email in addresses:
                _rewrite(repermission, "".join(("-" if a == email else a) + "\n" for a in addresses))
        problems = problems_of(job)

        def scrubbed(value: object) -> object:
            return "" if isinstance(value, str) and value.strip().lower() == email else value

        kept_problems = [
            (line, scrubbed(shown), problem, {key: scrubbed(value) for key, value in variables.items()})
            for line, shown, problem, variables in problems
        ]
        if kept_problems != problems:
            job.problems = json.dumps(kept_problems, ensure_ascii=False)
        conflicts = json.loads(job.conflicts or "[]")
        if any(str(conflict[1]).strip().lower() == email for conflict in conflicts):
            job.conflicts = json.dumps([c for c in conflicts if str(c[1]).strip().lower() != email], ensure_ascii=False)
    await db.flush()
    return removed


async def interest_ids(db: AsyncSession) -> dict[str, int]:
    return {slug: id_ for slug, id_ in (await db.execute(select(Interest.slug, Interest.id))).all()}


async def create(
    db: AsyncSession, settings: Settings, *, data: bytes, filename: str, created_by: int | None
) -> MemberImport:
    """Refuse a file whole (raises ImportRefused) or keep it as an import whose check is still to run."""
    encoding, total = await asyncio.to_thread(inspect, data, max_rows=MAX_ROWS)
    job = MemberImport(
        created_by=created_by,
        filename=filename[:200] or "members.csv",
        encoding=encoding,
        status="checking",
        total_rows=total,
        heartbeat_at=utcnow(),
    )
    db.add(job)
    await db.flush()
    path = upload_path(settings, job.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(path.write_bytes, data)
    return job


def last_withdrawal() -> Any:
    """When the person last withdrew their newsletter consent (a correlated subquery on Person)."""
    return (
        select(func.max(Consent.created_at))
        .where(Consent.person_id == Person.id, Consent.purpose == NEWSLETTER, Consent.given.is_(False))
        .scalar_subquery()
    )


def withdrawal_wins(withdrawn_at: dt.datetime | None, consent_date: str | None) -> bool:
    """A withdrawal on or after the row's consent date (or any withdrawal, for a row without one) wins."""
    if withdrawn_at is None:
        return False
    return not consent_date or withdrawn_at.date() >= dt.date.fromisoformat(consent_date)


async def _finish_check(db: AsyncSession, settings: Settings, job: MemberImport, result: CheckResult) -> None:
    """Count the updates among the good rows and find the opt-outs a row would undo."""
    existing = 0
    conflicts: list[tuple[int, str, str, str]] = []
    conflict_rows = 0
    for start in range(0, len(result.emails), BATCH):
        chunk = result.emails[start : start + BATCH]
        found = (
            await db.execute(select(Person.email, Person.newsletter, last_withdrawal()).where(Person.email.in_(chunk)))
        ).all()
        existing += len(found)
        for email, subscribed, withdrawn_at in found:
            wanted = result.wanted.get(email)
            if wanted is not None and subscribed:
                result.wanted.pop(email)  # subscribed already: nothing to ask, nothing to undo
                continue
            if wanted is None or not withdrawal_wins(withdrawn_at, wanted[1]):
                continue
            result.wanted.pop(email)
            conflict_rows += 1
            if len(conflicts) < PREVIEW_CONFLICTS:
                conflicts.append((wanted[0], email, withdrawn_at.isoformat(), wanted[1]))
        await asyncio.sleep(0)
    without_consent = sorted((line, email) for email, (line, consent) in result.wanted.items() if not consent)
    repermission_path(settings, job.id).write_text(
        "".join(email + "\n" for _line, email in without_consent), encoding="utf-8"
    )
    job.valid_rows = result.valid
    job.new_rows = result.valid - existing
    job.problem_rows = result.problem_rows
    job.without_consent = len(without_consent)
    job.problems = json.dumps(result.problems, ensure_ascii=False)
    job.conflict_rows = conflict_rows
    job.conflicts = json.dumps(sorted(conflicts), ensure_ascii=False)
    job.checked_rows = result.total
    job.status = "previewed"


async def check(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, job_id: int, *, progress: Progress | None = None
) -> str:
    """Check an uploaded file's rows in batches, saving the progress after each; returns the final status
    ("previewed", or "refused" with the reason in job.refusal)."""
    async with sessionmaker() as db:
        interests = interest_vocabulary(list((await db.execute(select(Interest))).scalars()))
        total = (await db.execute(select(MemberImport.total_rows).where(MemberImport.id == job_id))).scalar_one()
    upload = upload_path(settings, job_id)
    rows_file = rows_path(settings, job_id)
    try:
        data = await asyncio.to_thread(upload.read_bytes)
        text_, encoding = decode(data)
        del data
        table = read_rows(text_)
        result = CheckResult(encoding=encoding)
        with (
            rows_file.open("w", encoding="utf-8") as out,
            rejected_path(settings, job_id).open("w", encoding="utf-8") as rejected,
        ):
            checker = Checker(table, interests, out, rejected, result)
            saved_at = 0.0
            while True:
                finished = await asyncio.to_thread(checker.check_some, CHECK_BATCH)
                if not finished and time.monotonic() - saved_at > PROGRESS_EVERY:
                    saved_at = time.monotonic()
                    async with sessionmaker() as db:
                        await db.execute(
                            update(MemberImport)
                            .where(MemberImport.id == job_id)
                            .values(checked_rows=result.total, heartbeat_at=utcnow())
                        )
                        await db.commit()
                if progress is not None:
                    progress(result.total, result.total if finished else max(total, result.total + 1))
                if finished:
                    break
        async with sessionmaker() as db:
            job = await db.get(MemberImport, job_id)
            assert job is not None
            await _finish_check(db, settings, job, result)
            await db.commit()
    except ImportRefused as exc:
        refusal = json.dumps([exc.message, exc.variables], ensure_ascii=False)
    except Exception:
        log.exception("the check of member import %s failed", job_id)
        refusal = json.dumps([N_("The check stopped because of an error on our side. Upload the file again."), {}])
    else:
        upload.unlink(missing_ok=True)
        return "previewed"
    for path in scratch_paths(settings, job_id):
        path.unlink(missing_ok=True)
    async with sessionmaker() as db:
        await db.execute(
            update(MemberImport).where(MemberImport.id == job_id).values(status="refused", refusal=refusal)
        )
        await db.commit()
    return "refused"


async def prepare(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    data: bytes,
    filename: str,
    created_by: int | None,
    progress: Progress | None = None,
) -> MemberImport:
    """Create an import and check it to the end (the command line). Raises ImportRefused."""
    async with sessionmaker() as db:
        job = await create(db, settings, data=data, filename=filename, created_by=created_by)
        await db.commit()
        job_id = job.id
    status = await check(sessionmaker, settings, job_id, progress=progress)
    async with sessionmaker() as db:
        job = await db.get(MemberImport, job_id)  # type: ignore[assignment]
        assert job is not None
        if status == "refused":
            message, variables = refusal_of(job) or ("", {})
            raise ImportRefused(message, **variables)
        return job


def problems_of(job: MemberImport) -> list[tuple[int, str, str, dict[str, object]]]:
    """The first problems: (line, email as written, message id, its variables)."""
    found = []
    for item in json.loads(job.problems or "[]"):
        line, email, message, *rest = item
        found.append((line, email, message, rest[0] if rest else {}))
    return found


def conflicts_of(job: MemberImport) -> list[tuple[int, str, dt.datetime, dt.date | None]]:
    """The first rows whose member unsubscribed after the row's consent date: (line, email, unsubscribed at,
    consent date in the file)."""
    return [
        (line, email, dt.datetime.fromisoformat(withdrawn), dt.date.fromisoformat(consent) if consent else None)
        for line, email, withdrawn, consent in json.loads(job.conflicts or "[]")
    ]


def refusal_of(job: MemberImport) -> tuple[str, dict[str, object]] | None:
    if not job.refusal:
        return None
    message, variables = json.loads(job.refusal)
    return message, variables


def rejected_rows_csv(settings: Settings, job: MemberImport, language: str) -> Iterator[str]:
    """The rejected rows as they were in the file (formulas neutralised), with two more columns: the line and
    the problems in `language`. A BOM so Excel reads UTF-8; the file's own delimiter."""
    path = rejected_path(settings, job.id)
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        head = json.loads(handle.readline())
        delimiter = head["delimiter"]

        def line(values: list[str]) -> str:
            return csvfile.row(values, delimiter)

        yield csvfile.BOM + line(
            [*head["header"], translate_for(language, N_("line")), translate_for(language, N_("problem"))]
        )
        for raw in handle:
            number, fields, problems = json.loads(raw)
            width = len(head["header"])  # extra fields are named in the problem; the columns stay aligned
            fields = fields[:width] + [""] * (width - len(fields))
            said = "; ".join(translate_for(language, message, **variables) for message, variables in problems)
            yield line([*fields, str(number), said])


def _silent(job: MemberImport) -> bool:
    """No heartbeat for STALE_AFTER: the process doing the work stopped (a restart)."""
    return job.heartbeat_at is None or job.heartbeat_at < utcnow() - STALE_AFTER


def is_stale_check(job: MemberImport) -> bool:
    """A check whose process stopped: the page says to upload the file again."""
    return job.status == "checking" and _silent(job)


def is_stale(job: MemberImport) -> bool:
    return job.status == "running" and _silent(job)


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
    """Create or update the members of one batch: existing members are updated where the row differs (a row
    that says what the club knows changes nothing), never duplicated, and keep their role; consent is recorded
    with the method 'import' only where the file gives its date, and never over a later withdrawal."""
    now = utcnow()
    emails = [row["email"] for row in rows]
    existing = {
        found.email: found
        for found in (
            await db.execute(
                select(
                    Person.id,
                    Person.email,
                    Person.name,
                    Person.city,
                    Person.language,
                    Person.newsletter,
                    last_withdrawal().label("withdrawn_at"),
                ).where(Person.email.in_(emails))
            )
        ).all()
    }
    new_rows = [row for row in rows if row["email"] not in existing]
    ids: dict[str, int] = {email: found.id for email, found in existing.items()}
    if new_rows:
        created = await db.execute(
            insert(Person).returning(Person.id, Person.email),
            [
                {
                    "email": row["email"],
                    "name": row["name"],
                    "role": "member",
                    "city": row["city"] or "elsewhere",
                    "language": row["language"] or "en",
                    "confirmed_at": now,
                    "newsletter": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for row in new_rows
            ],
        )
        ids.update({email: person_id for person_id, email in created.all()})
    updates = []
    for row in rows:
        found = existing.get(row["email"])
        if found is None:
            continue
        values: dict[str, Any] = {
            key: row[key] for key in ("name", "city", "language") if row[key] and row[key] != getattr(found, key)
        }
        if values:
            updates.append({"id": found.id, "updated_at": now, **values})
    for keys in {tuple(sorted(values)) for values in updates}:  # one executemany per set of columns
        await db.execute(update(Person), [values for values in updates if tuple(sorted(values)) == keys])
    with_interests = [row for row in rows if row["interests"] is not None]
    if with_interests:
        held: dict[int, set[str]] = {}
        old_ids = [ids[row["email"]] for row in with_interests if row["email"] in existing]
        for start in range(0, len(old_ids), BATCH):
            for person_id, slug in (
                await db.execute(
                    select(MemberInterest.person_id, Interest.slug)
                    .join(Interest, Interest.id == MemberInterest.interest_id)
                    .where(MemberInterest.person_id.in_(old_ids[start : start + BATCH]))
                )
            ).all():
                held.setdefault(person_id, set()).add(slug)
        changed = [row for row in with_interests if set(row["interests"]) != held.get(ids[row["email"]], set())]
        if changed:
            await db.execute(
                delete(MemberInterest).where(MemberInterest.person_id.in_([ids[row["email"]] for row in changed]))
            )
            links = [
                {"person_id": ids[row["email"]], "interest_id": interests[slug]}
                for row in changed
                for slug in row["interests"]
                if slug in interests
            ]
            if links:
                await db.execute(insert(MemberInterest), links)
    consents = []
    newsletter: dict[bool, list[int]] = {True: [], False: []}  # who subscribes, who unsubscribes
    for row in rows:
        person_id = ids[row["email"]]
        found = existing.get(row["email"])
        subscribed = bool(found.newsletter) if found is not None else False
        withdrawn_at = found.withdrawn_at if found is not None else None
        if (
            row["newsletter"]
            and row["consent_date"]
            and not subscribed
            and not withdrawal_wins(withdrawn_at, row["consent_date"])
        ):
            given, version = True, f"import:{row['consent_date']}"
        elif row["newsletter"] is False and subscribed:
            given, version = False, "import"
        else:
            continue
        newsletter[given].append(person_id)
        consents.append(
            {
                "person_id": person_id,
                "purpose": NEWSLETTER,
                "given": given,
                "method": "import",
                "text_version": version,
                "language": row["language"] or "en",
                "created_at": now,
            }
        )
    for subscribes, people in newsletter.items():
        if people:
            await db.execute(
                update(Person)
                .where(Person.id.in_(people))
                .values(newsletter=subscribes, updated_at=now)
                .execution_options(synchronize_session=False)
            )
    if consents:
        await db.execute(insert(Consent), consents)


def _batches(path: Path, skip: int) -> Iterator[list[dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        lines = islice(handle, skip, None)
        while batch := [json.loads(line) for line in islice(lines, BATCH)]:
            yield batch


async def run(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    job_id: int,
    *,
    progress: Progress | None = None,
    claimed: bool = False,
) -> str:
    """Apply a previewed (or interrupted) import; returns its final status. Each batch is one transaction.
    claimed: the caller has claimed it already (the page, so that the page it shows next says "running")."""
    async with sessionmaker() as db:
        if not claimed:
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
                await db.execute(
                    update(MemberImport)
                    .where(MemberImport.id == job_id)
                    .values(processed_rows=done, heartbeat_at=utcnow())
                )
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
        await audit.record(
            db,
            None,
            "member.import.finish",
            "import",
            job_id,
            {"rows": job.processed_rows, "new": job.new_rows},
            actor_email=actor.email if actor else "",
        )
        await db.commit()
    rows_path(settings, job_id).unlink(missing_ok=True)
    return "done"


FILES_KEPT = dt.timedelta(days=30)


async def forget_old_files(db: AsyncSession, settings: Settings) -> int:
    """Delete what imports older than FILES_KEPT left on disk (rejected rows, addresses still to ask, an
    unfinished upload or rows never imported): personal data is not kept longer than the work needs.
    Returns how many files went."""
    folder = settings.var_dir / "imports"
    if not folder.exists():
        return 0
    ids = {int(match.group(1)) for path in folder.iterdir() if (match := re.match(r"(\d+)[.-]", path.name))}
    if not ids:
        return 0
    old = (
        await db.execute(
            select(MemberImport.id).where(MemberImport.id.in_(ids), MemberImport.created_at < utcnow() - FILES_KEPT)
        )
    ).scalars()
    gone = 0
    for job_id in old:
        for path in scratch_paths(settings, job_id):
            if path.exists():
                path.unlink()
                gone += 1
    return gone


# ---- the re-permission mail to rows without a consent date ------------------------------------------------------


def repermission_is_stale(job: MemberImport) -> bool:
    return job.repermission_status == "running" and _silent(job)


async def claim_repermission(db: AsyncSession, settings: Settings, job: MemberImport) -> bool:
    """Mark the re-permission mail of a finished import as sending, unless it is sent or being sent."""
    if job.status != "done" or not (job.repermission_status == "" or repermission_is_stale(job)):
        return False
    if job.repermission_status == "":
        path = repermission_path(settings, job.id)
        job.repermission_total = len(path.read_text(encoding="utf-8").split()) if path.exists() else 0
    job.repermission_status = "running"
    job.heartbeat_at = utcnow()
    await db.flush()
    return True


async def send_repermission(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, job_id: int, *, progress: Progress | None = None
) -> str:
    """Queue the re-permission mail (the one a member's page sends) in the outbox for each row that wanted the
    newsletter without a consent date, in batches that commit with the position reached. Members who are
    subscribed by now, suppressed, or who withdrew their consent at any time get nothing."""
    path = repermission_path(settings, job_id)
    emails = path.read_text(encoding="utf-8").split() if path.exists() else []
    async with sessionmaker() as db:
        job = await db.get(MemberImport, job_id)
        assert job is not None
        done, sent = job.repermission_done, job.repermission_sent
    try:
        for start in range(done, len(emails), REPERMISSION_BATCH):
            chunk = emails[start : start + REPERMISSION_BATCH]
            async with sessionmaker() as db:
                people = (
                    (await db.execute(select(Person).where(Person.email.in_(chunk), last_withdrawal().is_(None))))
                    .scalars()
                    .all()
                )
                for person in people:
                    sent += await admin_members.send_repermission(db, settings, person)
                done = start + len(chunk)
                await db.execute(
                    update(MemberImport)
                    .where(MemberImport.id == job_id)
                    .values(repermission_done=done, repermission_sent=sent, heartbeat_at=utcnow())
                )
                await db.commit()
            if progress is not None:
                progress(done, len(emails))
            await asyncio.sleep(0)
    except Exception:
        log.exception("the re-permission mail of member import %s stopped at row %s", job_id, done)
        return "running"  # stale after a minute: the page offers to resume
    async with sessionmaker() as db:
        await db.execute(
            update(MemberImport)
            .where(MemberImport.id == job_id)
            .values(repermission_status="done", repermission_done=len(emails))
        )
        await db.commit()
    path.unlink(missing_ok=True)
    return "done"


# Checks and imports started from a page run as tasks of the web process; a reference stops them being collected.
_running: set[asyncio.Task[str]] = set()


def in_background(coroutine: Any) -> asyncio.Task[str]:
    """Run a check, an import the caller has claimed (and committed), or a re-permission mail as a task of this
    process."""
    task: asyncio.Task[str] = asyncio.get_running_loop().create_task(coroutine)
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task
