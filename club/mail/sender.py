"""The sender: claims queued deliveries, builds each message, sends it, records the outcome.

It depends on two narrow things: `DeliveryStore` (the database: claim, record, release) and a `Transport`.
One pipeline per process: a claimer keeps a local priority queue topped up with leased rows, one task per SMTP
connection builds and sends, and a recorder commits outcomes in groups (one commit at a time). A sending task
goes on with the next delivery's envelope (MAIL, RCPT, DATA) while its previous outcome is being committed, but
holds the next content back until that commit is done. So after a `kill -9` the only mail delivered but not
recorded as sent is at most one per connection; it goes again with the same Message-ID.

Right before a message's content goes (after RCPT, before DATA), the sender asks the database whether it still
may: the delivery is still this sender's and still 'sending' (Pause, Cancel and erasure change that), and the
member of a newsletter is still subscribed and not suppressed. On SQLite that is one read by primary key on the
event loop's thread (microseconds); on PostgreSQL the questions of all connections are grouped into one query at a
time, asked while the envelopes are on the wire. bench/mail.py: about a tenth more CPU per message.

Refusals that look like the relay's doing rather than the recipients' (5xx to MAIL FROM, 554, or the same reply to
several different recipients with no success in between) suppress nobody: the sender opens a `Hold`, gives every
delivery back to the queue and claims nothing until an admin lifts it.

PostgreSQL: any number of senders, rows claimed with FOR UPDATE SKIP LOCKED under a lease. SQLite: one sender;
a second one refuses to start (`SenderAlreadyRunning`). A sender is alive while its heartbeat is fresh; its PID only
helps to notice a dead one sooner.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import itertools
import logging
import os
import random
import re
import secrets
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any, Protocol, cast

from sqlalchemy import Select, Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from club.db import create_engine, create_sessionmaker, utcnow
from club.mail.dkim import DkimSigner, signer_from_settings
from club.mail.message import Address, MessageTemplate, domain_of
from club.mail.models import Attachment, Delivery, DeliveryStatus, Hold, Mail, Sender
from club.mail.outbox import ERASED, SUPPRESSED, UNSUBSCRIBED
from club.mail.transport import PermanentFailure, SendFailure, SmtpTransport, Transport, Withdrawn

log = logging.getLogger("club.mail.sender")

deliveries = cast(Table, Delivery.__table__)

HEARTBEAT_SECONDS = 5.0
# A delivery whose lease ends sooner than this is left alone: another sender may take it over.
LEASE_MARGIN = dt.timedelta(seconds=5)
# The longest an outcome waits for others to share its commit when no sending task needs it yet.
GROUP_WAIT = 0.005
# A sender not seen for this long is dead (whatever its PID says), and its leased rows go back.
STALE_AFTER = dt.timedelta(seconds=30)

# The longest a "yes, it may go" is trusted before the content goes.
FRESH_VERDICT = 0.05

# What a delivery that may no longer go becomes: UNSUBSCRIBED, ERASED, SUPPRESSED (club/mail/outbox.py).
# The verdict for a delivery that is no longer this sender's to send (paused, cancelled, taken back): leave it.
NOT_MINE = "not mine"

# Replies that say the relay refuses us, not the recipient ("554 5.7.1 Relay access denied"), and replies about our
# own login or encryption ("530 Authentication required", "535 Authentication failed"): all mail waits for an admin.
RELAY_CODES = frozenset({554})
HOLD_CODES = frozenset({530, 535})
# The same reply to this many different recipients, with no success in between, is the relay's doing.
SYSTEMIC_RECIPIENTS = 5
SYSTEMIC_WINDOW = 60.0
# A refused recipient is suppressed only once a later success shows the relay accepts mail, or once this long has
# passed with no other mail waiting to tell.
SUSPECT_SECONDS = 5.0
_ADDRESS_RE = re.compile(r"<[^>]*>|[^\s<>@]+@[^\s<>]+")


# Roughly when this process started: a sender row with our PID last seen before it belongs to a dead process.
PROCESS_STARTED = utcnow()


class SenderAlreadyRunning(RuntimeError):
    pass


def reply_pattern(code: int | None, reply: str) -> str:
    """A reply without the addresses in it, so the same refusal to different recipients compares equal."""
    return f"{code or ''} {_ADDRESS_RE.sub('<>', reply)}".strip()[:500]


@dataclass(slots=True)
class Claimed:
    id: int
    mail_id: int
    person_id: int | None
    to_email: str
    to_name: str
    unsubscribe_url: str | None
    link: str | None
    priority: int
    attempts: int
    created_at: dt.datetime
    lease_until: dt.datetime
    batch: Batch | None = None


@dataclass(slots=True)
class MailContent:
    id: int
    subject: str
    text: str
    html: str
    bulk: bool
    token: str
    attachments: tuple[tuple[str, str, bytes], ...] = ()


@dataclass(slots=True)
class Outcome:
    delivery: Claimed
    status: str  # sent, queued (retry) or failed
    reply: str = ""
    code: int | None = None
    next_attempt_at: dt.datetime | None = None
    suppress: bool = False
    # False when nothing went to the server (withdrawn, handed back): the attempt is not counted, the reply kept.
    attempted: bool = True


@dataclass
class Batch:
    size: int
    transactional: int
    started: float = field(default_factory=time.monotonic)
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def done(self) -> int:
        return self.sent + self.retrying + self.failed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# A message that left is recorded as sent even when Pause or Cancel (or Resume after them) changed its row meanwhile:
# it was inside its SMTP transaction then, and `after_stop` says so in the report.
_LATE = f"('{DeliveryStatus.PAUSED}', '{DeliveryStatus.CANCELLED}', '{DeliveryStatus.QUEUED}')"


_VERDICT_QUERY = (
    "SELECT d.id, d.status, d.claimed_by, d.to_email, m.bulk, m.kind, d.person_id, p.id, p.newsletter, "
    "p.confirmed_at IS NOT NULL, p.suppressed_at IS NOT NULL FROM mail_deliveries d "
    "JOIN mails m ON m.id = d.mail_id LEFT JOIN people p ON p.id = d.person_id "
)


def _claim_query(pick: Select[Any], postgres: bool) -> Select[Any]:
    """The one place the dialects differ: PostgreSQL lets several senders skip each other's locked rows."""
    return pick.with_for_update(skip_locked=True) if postgres else pick


# No more mail to an address (its owner's feature decides what that means): session, address, reason, when.
Suppress = Callable[[AsyncSession, str, str, dt.datetime], Awaitable[None]]


class DeliveryStore(Protocol):
    """What the sender needs from where deliveries are kept: claim them, ask whether one may still go, record
    outcomes, hand back what it did not send, and the sender's own liveness and holds."""

    sender_id: str
    # True when `verdicts` should be asked for a group while envelopes travel; False when `verdict_now` is instant.
    postgres: bool

    async def register(self) -> None: ...
    async def reclaim(self) -> int: ...
    async def unregister(self) -> None: ...
    async def open_hold(self) -> Hold | None: ...
    async def hold(self, code: int | None, reply: str, recipients: int) -> None: ...
    async def verdicts(self, items: Sequence[Claimed]) -> dict[int, str | None]: ...
    def verdict_now(self, item: Claimed) -> str | None: ...
    async def claim(self, limit: int) -> list[Claimed]: ...
    async def mails(self, ids: Sequence[int]) -> dict[int, MailContent]: ...
    async def record(self, outcomes: Sequence[Outcome]) -> None: ...
    async def release(self, claimed: Sequence[Claimed]) -> None: ...


class DatabaseStore:
    """The `DeliveryStore` of the outbox tables (SQLite or PostgreSQL). `suppress` is called, in the transaction
    that records the refusal, for an address refused for good."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, suppress: Suppress, lease: float = 300.0
    ) -> None:
        self.sessionmaker = sessionmaker
        self.suppress = suppress
        self.engine: AsyncEngine = sessionmaker.kw["bind"]
        self.lease = dt.timedelta(seconds=lease)
        self.sender_id = secrets.token_hex(8)
        self.hostname = socket.gethostname()[:255]
        self.postgres = False
        # Outcomes of sent mail go through one connection of their own in autocommit (see `_mark_sent`).
        self._recorder: AsyncConnection | None = None
        self._driver: Any = None
        # The checks before each message go through another connection of their own.
        self._checker: AsyncConnection | None = None
        self._checker_driver: Any = None
        self._sqlite: sqlite3.Connection | None = None
        self._sent_at = deliveries.c.sent_at.type.dialect_impl(self.engine.dialect).bind_processor(self.engine.dialect)

    async def register(self) -> None:
        """Record this sender; on SQLite refuse to run next to a live one."""
        async with self.sessionmaker() as db:
            self.postgres = db.get_bind().dialect.name == "postgresql"
            now = utcnow()
            # Write first: on SQLite this takes the write lock, so two starting senders cannot both pass.
            await db.execute(
                insert(Sender).values(
                    id=self.sender_id, hostname=self.hostname, pid=os.getpid(), started_at=now, heartbeat_at=now
                )
            )
            others = (await db.execute(select(Sender).where(Sender.id != self.sender_id))).scalars().all()
            alive = [s for s in others if not self._dead(s, now)]
            if alive and not self.postgres:
                other = alive[0]
                pid, host, seen = other.pid, other.hostname, other.heartbeat_at
                await db.rollback()
                raise SenderAlreadyRunning(
                    f"Another mail sender is already running on this SQLite database (pid {pid} on "
                    f"{host}, last seen {seen:%H:%M:%S} UTC). SQLite allows one sender: "
                    "stop the other one, or start this process with CLUB_RUN_SENDER=0, or use PostgreSQL to run "
                    "several."
                )
            await db.commit()
        await self.reclaim()

    def _dead(self, sender: Sender, now: dt.datetime) -> bool:
        """Dead when its heartbeat is stale. On this host a missing PID, or our own PID (a restart after kill -9
        gets the same PID, e.g. 1 in a container), says so sooner."""
        if now - sender.heartbeat_at > STALE_AFTER:
            return True
        if sender.hostname == self.hostname:
            if sender.pid == os.getpid():
                # Our PID: it is this process, or one before it whose last sign of life predates us.
                return sender.heartbeat_at < PROCESS_STARTED
            return not _pid_alive(sender.pid)
        return False

    async def reclaim(self) -> int:
        """Heartbeat, and hand back rows leased by dead senders or whose lease ran out."""
        async with self.sessionmaker() as db:
            now = utcnow()
            await db.execute(update(Sender).where(Sender.id == self.sender_id).values(heartbeat_at=now))
            others = (await db.execute(select(Sender).where(Sender.id != self.sender_id))).scalars().all()
            dead = [s.id for s in others if self._dead(s, now)]
            back = update(deliveries).values(status="queued", claimed_by=None, lease_until=None)
            count = 0
            if dead:
                result = await db.execute(
                    back.where(deliveries.c.status == "sending", deliveries.c.claimed_by.in_(dead))
                )
                count += result.rowcount or 0  # type: ignore[attr-defined]
                await db.execute(delete(Sender).where(Sender.id.in_(dead)))
            orphaned = deliveries.c.claimed_by.not_in(select(Sender.id))
            result = await db.execute(
                back.where(deliveries.c.status == "sending", (deliveries.c.lease_until < now) | orphaned)
            )
            count += result.rowcount or 0  # type: ignore[attr-defined]
            await db.commit()
        if count:
            log.info("mail: %d deliveries handed back from dead senders or expired leases", count)
        return count

    async def unregister(self) -> None:
        await self._close_recorder()
        await self._close_checker()
        async with self.sessionmaker() as db:
            await db.execute(delete(Sender).where(Sender.id == self.sender_id))
            await db.commit()

    async def open_hold(self) -> Hold | None:
        async with self.sessionmaker() as db:
            return (
                await db.execute(select(Hold).where(Hold.resolved_at.is_(None)).order_by(Hold.id).limit(1))
            ).scalar_one_or_none()

    async def hold(self, code: int | None, reply: str, recipients: int) -> None:
        """Hold all mail (once: an open hold stays the one the admin sees)."""
        async with self.sessionmaker() as db:
            if (await db.execute(select(Hold.id).where(Hold.resolved_at.is_(None)).limit(1))).first() is None:
                db.add(Hold(code=code, reply=reply[:2000], recipients=recipients))
                await db.commit()

    async def verdicts(self, items: Sequence[Claimed]) -> dict[int, str | None]:
        """For each delivery: None when it may go now, NOT_MINE when it is no longer this sender's to send, or the
        reason it must not go at all (unsubscribed, suppressed, erased)."""
        ids = [item.id for item in items]
        try:
            if not self.postgres:
                rows = self._sqlite_read(ids)
            else:
                if self._checker is None:
                    connection = await self.engine.connect()
                    self._checker = await connection.execution_options(isolation_level="AUTOCOMMIT")
                    self._checker_driver = (await self._checker.get_raw_connection()).driver_connection
                rows = await self._checker_driver.fetch(_VERDICT_QUERY + "WHERE d.id = ANY($1::integer[])", ids)
        except Exception:
            await self._close_checker()
            raise
        found = {row[0]: tuple(row) for row in rows}
        return {item.id: self._verdict(item, found.get(item.id)) for item in items}

    def verdict_now(self, item: Claimed) -> str | None:
        """`verdicts` for one delivery on SQLite, without leaving this thread; unknown (an error) is NOT_MINE."""
        try:
            rows = self._sqlite_read([item.id])
        except sqlite3.Error:
            log.exception("mail sender could not check delivery %d before sending", item.id)
            self._sqlite = None
            return NOT_MINE
        return self._verdict(item, tuple(rows[0]) if rows else None)

    def _sqlite_read(self, ids: list[int]) -> list[Any]:
        """On SQLite the check reads on the event loop's own thread through a read-only connection of its own. A
        few rows by primary key take tens of microseconds; a hop to aiosqlite's thread and back (a GIL handover each
        way) took longer than the envelope it overlaps, and cut the sender's throughput by a third. WAL lets it read
        while others write; it is query-only, so it never waits for the write lock."""
        if self._sqlite is None:
            self._sqlite = sqlite3.connect(self.engine.url.database or "", isolation_level=None)
            self._sqlite.execute("PRAGMA query_only = 1")
            self._sqlite.execute("PRAGMA busy_timeout = 2000")
        return self._sqlite.execute(_VERDICT_QUERY + f"WHERE d.id IN ({', '.join('?' * len(ids))})", ids).fetchall()

    async def _close_checker(self) -> None:
        checker, self._checker, self._checker_driver = self._checker, None, None
        if checker is not None:
            with contextlib.suppress(Exception):
                await checker.close()
        reader, self._sqlite = self._sqlite, None
        if reader is not None:
            reader.close()

    def _verdict(self, item: Claimed, row: tuple[Any, ...] | None) -> str | None:
        if row is None:
            return NOT_MINE
        _, status, claimed_by, to_email, bulk, kind, person_id, person, newsletter, confirmed, suppressed = row
        if status != "sending" or claimed_by != self.sender_id:
            return NOT_MINE
        if to_email != item.to_email:
            return ERASED
        if bulk and person_id is not None:
            if person is None:
                return ERASED
            if suppressed:
                return SUPPRESSED
            if kind == "newsletter" and not (newsletter and confirmed):
                return UNSUBSCRIBED
        return None

    async def claim(self, limit: int) -> list[Claimed]:
        now = utcnow()
        lease_until = now + self.lease
        pick = (
            select(deliveries.c.id)
            .where(deliveries.c.status == "queued", deliveries.c.next_attempt_at <= now)
            .order_by(deliveries.c.priority, deliveries.c.next_attempt_at, deliveries.c.id)
            .limit(limit)
        )
        statement = (
            update(deliveries)
            .where(deliveries.c.id.in_(_claim_query(pick, self.postgres).scalar_subquery()))
            .values(status="sending", claimed_by=self.sender_id, lease_until=lease_until)
            .returning(
                deliveries.c.id,
                deliveries.c.mail_id,
                deliveries.c.person_id,
                deliveries.c.to_email,
                deliveries.c.to_name,
                deliveries.c.unsubscribe_url,
                deliveries.c.link,
                deliveries.c.priority,
                deliveries.c.attempts,
                deliveries.c.created_at,
            )
        )
        async with self.sessionmaker() as db:
            rows = (await db.execute(statement)).all()
            await db.commit()
        return [Claimed(*row[:10], lease_until=lease_until) for row in rows]  # type: ignore[misc]

    async def mails(self, ids: Sequence[int]) -> dict[int, MailContent]:
        async with self.sessionmaker() as db:
            rows = await db.execute(
                select(Mail.id, Mail.subject, Mail.text, Mail.html, Mail.bulk, Mail.token).where(Mail.id.in_(ids))
            )
            contents = {row.id: MailContent(*row) for row in rows}
            files = await db.execute(
                select(Attachment.mail_id, Attachment.filename, Attachment.content_type, Attachment.content)
                .where(Attachment.mail_id.in_(ids))
                .order_by(Attachment.id)
            )
            for mail_id, filename, content_type, content in files:
                contents[mail_id].attachments += ((filename, content_type, content.encode("utf-8")),)
            return contents

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """Make outcomes durable: when this returns, a crash can no longer send these deliveries again."""
        now = utcnow()
        sent = [o.delivery.id for o in outcomes if o.status == "sent"]
        others = [o for o in outcomes if o.status != "sent"]
        if others:
            await self._record_others(others, now)
        if sent:
            await self._mark_sent(sent, now)

    async def _mark_sent(self, ids: list[int], now: dt.datetime) -> None:
        """One UPDATE on the driver's own connection in autocommit: one round trip, durable when it returns.

        This is the one statement per sent group, so it skips SQLAlchemy's cursor adapter, which costs three hops
        to aiosqlite's thread (each a GIL handover) or a transaction's BEGIN and COMMIT on asyncpg."""
        try:
            if self._recorder is None:
                connection = await self.engine.connect()
                self._recorder = await connection.execution_options(isolation_level="AUTOCOMMIT")
                self._driver = (await self._recorder.get_raw_connection()).driver_connection
            sent_at = self._sent_at(now) if self._sent_at else now
            marked = await self._mark(ids, sent_at, "= 'sending'", "")
            if marked < len(ids):
                # Pause, Cancel or Resume changed some rows while their message was inside its SMTP transaction.
                await self._mark(ids, sent_at, "IN " + _LATE, ", after_stop = TRUE")
        except Exception:
            await self._close_recorder()
            raise

    async def _mark(self, ids: list[int], sent_at: Any, status: str, extra: str) -> int:
        """The rows of `ids` whose status matches become sent; returns how many. The common case compares the
        status with one value: an IN list there made SQLite's UPDATE a fifth slower per message."""
        if self.postgres:
            # Rows locked in id order, as Pause and Cancel lock them: otherwise the two UPDATEs can deadlock.
            result = await self._driver.execute(
                "UPDATE mail_deliveries SET status = 'sent', sent_at = $1, attempts = attempts + 1, "
                f"lease_until = NULL{extra} WHERE id IN (SELECT id FROM mail_deliveries WHERE status {status} "
                "AND claimed_by = $2 AND id = ANY($3::integer[]) ORDER BY id FOR UPDATE)",
                sent_at,
                self.sender_id,
                ids,
            )
            return int(result.rsplit(" ", 1)[-1])
        cursor = await self._driver.execute(
            "UPDATE mail_deliveries SET status = 'sent', sent_at = ?, attempts = attempts + 1, "
            f"lease_until = NULL{extra} WHERE status {status} AND claimed_by = ? "
            f"AND id IN ({', '.join('?' * len(ids))})",
            (sent_at, self.sender_id, *ids),
        )
        return int(cursor.rowcount)

    async def _close_recorder(self) -> None:
        recorder, self._recorder, self._driver = self._recorder, None, None
        if recorder is not None:
            with contextlib.suppress(Exception):
                await recorder.close()

    async def _record_others(self, others: Sequence[Outcome], now: dt.datetime) -> None:
        """Retries and failures are rare and may suppress an address: one transaction for all of them."""
        mine = deliveries.c.claimed_by == self.sender_id
        async with self.sessionmaker() as db:
            for outcome in others:
                values: dict[str, Any] = {
                    "status": outcome.status,
                    "next_attempt_at": outcome.next_attempt_at or now,
                    "lease_until": None,
                    "claimed_by": None if outcome.status == "queued" else self.sender_id,
                }
                if outcome.attempted:
                    values.update(attempts=outcome.delivery.attempts + 1, smtp_code=outcome.code)
                if outcome.attempted or outcome.status == "failed":
                    values["last_error"] = outcome.reply[:2000]
                await db.execute(
                    update(deliveries)
                    .where(deliveries.c.id == outcome.delivery.id, mine, deliveries.c.status == "sending")
                    .values(**values)
                )
                if outcome.suppress:
                    await self.suppress(db, outcome.delivery.to_email, f"{outcome.code} {outcome.reply}", now)
            await db.commit()

    async def release(self, claimed: Sequence[Claimed]) -> None:
        """Hand back deliveries claimed but not sent (on shutdown), so the next sender needs no lease expiry."""
        if not claimed:
            return
        async with self.sessionmaker() as db:
            await db.execute(
                update(deliveries)
                .where(
                    deliveries.c.id.in_([c.id for c in claimed]),
                    deliveries.c.claimed_by == self.sender_id,
                    deliveries.c.status == "sending",  # not what Pause or Cancel stopped meanwhile
                )
                .values(status="queued", claimed_by=None, lease_until=None)
            )
            await db.commit()


class MailSender:
    def __init__(
        self,
        store: DeliveryStore,
        transport: Transport,
        *,
        mail_from: Address,
        connections: int,
        signer: DkimSigner | None = None,
        batch_size: int = 500,
        poll_interval: float = 0.2,
        retry_base: float = 60.0,
        retry_cap: float = 3600.0,
        give_up_after: dt.timedelta = dt.timedelta(days=2),
    ) -> None:
        self.store = store
        self.transport = transport
        self.mail_from = mail_from
        self.connections = connections
        self.signer = signer
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.give_up_after = give_up_after
        self.domain = domain_of(mail_from.email)
        self._templates: dict[int, tuple[MailContent, MessageTemplate]] = {}
        self._queue: asyncio.PriorityQueue[tuple[int, int, Claimed]] = asyncio.PriorityQueue()
        self._seq = itertools.count()
        self._pending: list[tuple[Outcome, asyncio.Future[None]]] = []
        self._pending_ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._pause_until = 0.0
        self._connect_failures = 0
        self._busy = 0
        self._waiting = 0
        # A commit per outcome would cost more than the sending; a few tasks held back cost nothing while the
        # others keep the event loop busy. So a group goes when a quarter of the tasks wait for it, or when three
        # quarters of the connections have an outcome in it.
        self.waiters = max(1, connections // 4)
        self.group_size = max(1, connections * 3 // 4)
        self._senders_done = False
        self.sent = 0
        # Deliveries in the local queue or on the wire, so a row claimed again (after Resume) is not sent twice.
        self._inflight: dict[int, Claimed] = {}
        # Questions "may this one still go?" waiting for the next grouped query.
        self._asks: list[tuple[Claimed, asyncio.Future[str | None]]] = []
        self._asks_ready = asyncio.Event()
        # Recipient refusals not yet judged: (when, reply pattern, outcome); see `_refused`.
        self._suspects: list[tuple[float, str, Outcome]] = []
        self.held = False
        self._holding = 0
        # starting, running, refused (another sender runs on this SQLite database: `problem` says which), stopped.
        self.state = "starting"
        self.problem = ""

    # ---- running -------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Send until `stop()`; registers first (raising `SenderAlreadyRunning` on a busy SQLite database)."""
        self.state = "starting"
        try:
            await self.store.register()
        except SenderAlreadyRunning as exc:
            self.state, self.problem = "refused", str(exc)
            raise
        self.state = "running"
        log.info("mail sender %s started (%d connections)", self.store.sender_id, self.connections)
        recorder = asyncio.create_task(self._record_loop())
        checker = asyncio.create_task(self._check_loop())
        tasks = [
            asyncio.create_task(self._claim_loop()),
            asyncio.create_task(self._heartbeat_loop()),
            asyncio.create_task(self._judge_loop()),
        ]
        senders = [asyncio.create_task(self._send_loop()) for _ in range(self.connections)]
        try:
            await self._stopping.wait()
        finally:
            self._stopping.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Mail already on the wire is finished and recorded; what waits in the local queue goes back.
            deadline = time.monotonic() + 15
            while self._busy and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            for task in senders:
                task.cancel()
            await asyncio.gather(*senders, return_exceptions=True)
            checker.cancel()
            await asyncio.gather(checker, return_exceptions=True)
            # Refusals still unjudged go back to the queue: the next sender asks again.
            for _, _, outcome in self._suspects:
                self._pending.append((self._handed_back(outcome.delivery), asyncio.get_running_loop().create_future()))
            self._suspects.clear()
            self._senders_done = True
            try:
                await asyncio.wait_for(recorder, 30)
            except (TimeoutError, asyncio.CancelledError):
                pass
            left = []
            while not self._queue.empty():
                left.append(self._queue.get_nowait()[2])
            try:
                await self.store.release(left)
                await self.store.unregister()
            except Exception:
                log.exception("mail sender could not hand back %d deliveries; their lease will expire", len(left))
            self.state = "stopped"
            log.info("mail sender %s stopped", self.store.sender_id)

    def stop(self) -> None:
        self._stopping.set()

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self.store.reclaim()
            except Exception:
                log.exception("mail sender heartbeat failed")

    async def _claim_loop(self) -> None:
        while not self._stopping.is_set():
            if self._queue.qsize() >= self.batch_size or time.monotonic() < self._pause_until:
                await asyncio.sleep(0.01 if self._queue.qsize() else self.poll_interval)
                continue
            try:
                holding = self._holding  # a hold being written now is not in the database yet
                hold = await self.store.open_hold()
                self.held = hold is not None or bool(holding or self._holding)
                if self.held:
                    await asyncio.sleep(self.poll_interval)
                    continue
                claimed = await self.store.claim(self.batch_size)
                missing = {c.mail_id for c in claimed} - self._templates.keys()
                if missing:
                    for content in (await self.store.mails(sorted(missing))).values():
                        self._remember(content)
            except Exception:
                log.exception("mail sender could not claim deliveries")
                await asyncio.sleep(1.0)
                continue
            if not claimed:
                await asyncio.sleep(self.poll_interval)
                continue
            fresh = []
            claimed.sort(key=lambda c: (c.priority, c.id))  # RETURNING has no order on PostgreSQL: first in, first out
            for item in claimed:
                known = self._inflight.get(item.id)
                if known is not None:  # claimed again while still here: one copy, the new lease
                    known.lease_until = item.lease_until
                else:
                    fresh.append(item)
            batch = Batch(size=len(fresh), transactional=sum(1 for c in fresh if c.priority == 0))
            for item in fresh:
                item.batch = batch
                self._inflight[item.id] = item
                self._queue.put_nowait((item.priority, next(self._seq), item))

    def _remember(self, content: MailContent) -> None:
        if len(self._templates) > 1000:
            self._templates.clear()
        template = MessageTemplate(
            sender=self.mail_from,
            subject=content.subject,
            text=content.text,
            html=content.html,
            list_unsubscribe_mailto=self.mail_from.email if content.bulk else None,
            bulk=content.bulk,
            attachments=content.attachments,
        )
        self._templates[content.id] = (content, template)

    async def _send_loop(self) -> None:
        # The commit of this task's previous outcome. The next message's content waits for it (its envelope need
        # not), so each connection has at most one message that was delivered but is not yet recorded as sent.
        recorded: asyncio.Future[None] | None = None
        while not self._stopping.is_set():
            _, _, item = await self._queue.get()
            if self._stopping.is_set():
                self._queue.put_nowait((item.priority, next(self._seq), item))
                return
            self._busy += 1
            try:
                pause = self._pause_until - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
                try:
                    outcome = await self._deliver(item, recorded)
                finally:
                    self._inflight.pop(item.id, None)
                if outcome is None:
                    continue
                recorded = asyncio.get_running_loop().create_future()
                self._pending.append((outcome, recorded))
                if len(self._pending) >= self.group_size:
                    self._pending_ready.set()
            finally:
                self._busy -= 1

    async def _deliver(self, item: Claimed, recorded: asyncio.Future[None] | None) -> Outcome | None:
        if item.lease_until - utcnow() < LEASE_MARGIN:
            return None  # the lease ran out while it waited here: the row is someone else's now
        if self.held:
            return self._handed_back(item)
        entry = self._templates.get(item.mail_id)
        if entry is None:
            return Outcome(item, "failed", reply="the mail of this delivery no longer exists")
        content, template = entry
        try:
            to = Address(item.to_email, item.to_name)
            raw = template.render(
                to,
                message_id=f"<{content.token}.{item.id}@{self.domain}>",
                unsubscribe_url=item.unsubscribe_url,
                link=item.link,
            )
            if self.signer is not None:
                raw = self.signer.sign(raw)
        except ValueError as exc:
            return Outcome(item, "failed", reply=f"cannot build this mail: {exc}")
        verdict: list[str | None] = []
        if self.store.postgres:
            # Asked now, answered while the envelope goes; asked again if it waited long (rate limit, slow server).
            asked, future = time.monotonic(), self._ask(item)

            async def confirm() -> bool:
                nonlocal future
                if time.monotonic() - asked > FRESH_VERDICT:
                    future = self._ask(item)
                verdict.append(await future)
                return verdict[0] is None
        else:
            # SQLite answers on this thread in microseconds: asked after RCPT, right before DATA.
            async def confirm() -> bool:
                verdict.append(self.store.verdict_now(item))
                return verdict[0] is None

        try:
            ready = None if recorded is None else functools.partial(self._recorded, recorded)
            reply = await self.transport.send(self.mail_from.email, [to.email], raw, ready=ready, confirm=confirm)
        except Withdrawn:
            reason = verdict[0]
            if reason is None or reason == NOT_MINE:
                return None  # paused, cancelled or taken back meanwhile: whoever changed the row owns it
            return Outcome(item, "failed", reply=reason, attempted=False)
        except PermanentFailure as failure:
            return await self._refused(item, failure)
        except SendFailure as failure:
            if failure.code in HOLD_CODES:  # our login or encryption is refused: no retry can fix that
                await self._hold_all(failure, [Outcome(item, "queued")], recipients=1)
                return None
            if failure.code is None:
                self._connection_trouble()
            return self._retry(item, failure)
        self._connect_failures = 0
        if self._suspects:
            self._judge(accepted=True)
        return Outcome(item, "sent", reply=reply)

    # ---- the check before each message ---------------------------------------------------------------------

    def _ask(self, item: Claimed) -> asyncio.Future[str | None]:
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._asks.append((item, future))
        self._asks_ready.set()
        return future

    async def _check_loop(self) -> None:
        """One query at a time for every question asked meanwhile (see `DeliveryStore.verdicts`)."""
        while True:
            await self._asks_ready.wait()
            self._asks_ready.clear()
            asks, self._asks = self._asks, []
            if not asks:
                continue
            try:
                verdicts = await self.store.verdicts([item for item, _ in asks])
            except Exception:
                # Unknown is no: the row stays leased to us and goes back when the lease ends.
                log.exception("mail sender could not check %d deliveries before sending", len(asks))
                verdicts = {}
            for item, future in asks:
                if not future.done():
                    future.set_result(verdicts.get(item.id, NOT_MINE))

    # ---- refusals: the recipient's or the relay's? ---------------------------------------------------------

    def _handed_back(self, item: Claimed) -> Outcome:
        return Outcome(item, "queued", attempted=False)

    async def _refused(self, item: Claimed, failure: PermanentFailure) -> Outcome | None:
        """A 5xx. Refused recipients are suppressed only once the relay has shown it accepts others."""
        if self.held:
            return self._handed_back(item)
        pattern = reply_pattern(failure.code, failure.reply)
        outcome = Outcome(item, "failed", reply=failure.reply, code=failure.code, suppress=failure.recipient_refused)
        if failure.stage == "mail" or failure.code in RELAY_CODES:
            await self._hold_all(failure, [outcome], recipients=1)
            return None
        if not failure.recipient_refused:
            return outcome  # the message itself was refused (DATA): nobody is suppressed
        now = time.monotonic()
        self._suspects.append((now, pattern, outcome))
        same = [o for when, p, o in self._suspects if p == pattern and now - when < SYSTEMIC_WINDOW]
        recipients = {o.delivery.to_email.lower() for o in same}
        if len(recipients) >= SYSTEMIC_RECIPIENTS:
            await self._hold_all(failure, [], recipients=len(recipients))
        return None

    def _judge(self, *, accepted: bool) -> None:
        """Refusals older than SUSPECT_SECONDS, or all of them once another message was accepted, were about their
        recipients: record them as failed (and suppressed)."""
        now = time.monotonic()
        keep = []
        for entry in self._suspects:
            if accepted or now - entry[0] >= SUSPECT_SECONDS:
                self._pending.append((entry[2], asyncio.get_running_loop().create_future()))
            else:
                keep.append(entry)
        self._suspects = keep
        if self._pending:
            self._pending_ready.set()

    async def _judge_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            # While more mail is waiting here, its answers will tell: a success, or more of the same refusal.
            if self._suspects and not self.held and self._queue.empty():
                self._judge(accepted=False)

    async def _hold_all(self, failure: SendFailure, outcomes: list[Outcome], *, recipients: int) -> None:
        """The relay refuses us: every delivery goes back to the queue, nobody is suppressed, all mail waits."""
        first_time = not self.held
        self.held = True
        loop = asyncio.get_running_loop()
        for outcome in outcomes + [entry[2] for entry in self._suspects]:
            self._pending.append((self._handed_back(outcome.delivery), loop.create_future()))
        self._suspects.clear()
        self._pending_ready.set()
        if first_time:
            log.warning(
                "mail held: the relay refused %d recipient(s) with %s %s; nobody is suppressed, all mail waits "
                "until an admin resumes it on /admin/mail/queue",
                recipients,
                failure.code,
                failure.reply,
            )
        self._holding += 1
        try:
            await self.store.hold(failure.code, failure.reply, recipients)
        except Exception:
            log.exception("mail sender could not record the hold")
        finally:
            self._holding -= 1

    def _connection_trouble(self) -> None:
        """The server is unreachable: pause every sending task instead of burning through retries."""
        self._connect_failures += 1
        delay = min(2 ** min(self._connect_failures, 5), 30) * random.uniform(0.5, 1.0)
        self._pause_until = max(self._pause_until, time.monotonic() + delay)

    def _retry(self, item: Claimed, failure: SendFailure) -> Outcome:
        now = utcnow()
        if now - item.created_at > self.give_up_after:
            reply = f"gave up after {item.attempts + 1} attempts: {failure.reply}"
            return Outcome(item, "failed", reply=reply, code=failure.code)
        delay = min(self.retry_base * 2**item.attempts, self.retry_cap) * random.uniform(0.5, 1.5)
        return Outcome(
            item, "queued", reply=failure.reply, code=failure.code, next_attempt_at=now + dt.timedelta(seconds=delay)
        )

    async def _record_loop(self) -> None:
        """Group commit, one commit at a time. A group goes as soon as a sending task waits for it, when
        `group_size` outcomes are waiting, or after `GROUP_WAIT`: the fewer groups, the less the database costs."""
        while not (self._senders_done and not self._pending):
            if not self._due():
                self._pending_ready.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._pending_ready.wait(), GROUP_WAIT if self._pending else 0.1)
            if self._pending:
                await self._flush()

    def _due(self) -> bool:
        return bool(self._pending) and (
            self._waiting >= self.waiters or len(self._pending) >= self.group_size or self._stopping.is_set()
        )

    async def _recorded(self, recorded: asyncio.Future[None]) -> None:
        if recorded.done():
            return
        self._waiting += 1
        if self._waiting >= self.waiters:
            self._pending_ready.set()
        try:
            await recorded
        finally:
            self._waiting -= 1

    async def _flush(self) -> None:
        pending, self._pending = self._pending, []
        outcomes = [outcome for outcome, _ in pending]
        try:
            await self.store.record(outcomes)
        except Exception:
            log.exception("mail sender could not record %d outcomes; trying again", len(pending))
            self._pending = pending + self._pending
            await asyncio.sleep(1.0)
            return
        for outcome, future in pending:
            if not future.done():
                future.set_result(None)
            self._count(outcome)

    def _count(self, outcome: Outcome) -> None:
        batch = outcome.delivery.batch
        if outcome.status == "sent":
            self.sent += 1
        if batch is None:
            return
        if outcome.status == "sent":
            batch.sent += 1
        elif outcome.status == "queued":
            batch.retrying += 1
        else:
            batch.failed += 1
        if batch.done == batch.size:
            log.info(
                "mail batch: %d claimed (%d transactional): %d sent, %d to retry, %d failed in %.2fs",
                batch.size,
                batch.transactional,
                batch.sent,
                batch.retrying,
                batch.failed,
                time.monotonic() - batch.started,
            )


# ---- wiring from settings ----------------------------------------------------------------------------------------


def sender_address(mail_from: str) -> Address:
    name, email = parseaddr(mail_from)
    return Address(email, name)


def transport_from_settings(settings: Any, *, port: int | None = None) -> SmtpTransport:
    """The configured SMTP server, or the dev mailbox on loopback when `port` is given."""
    if port is not None:
        return SmtpTransport(host="127.0.0.1", port=port, connections=settings.smtp_connections, timeout=10)
    return SmtpTransport(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=settings.smtp_security,
        username=settings.smtp_username or None,
        password=settings.smtp_password.get_secret_value() or None,
        connections=settings.smtp_connections,
        rate=settings.smtp_rate or None,
        timeout=settings.smtp_timeout,
    )


def sender_from_settings(
    settings: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    transport: Transport,
    *,
    suppress: Suppress,
    **options: Any,
) -> MailSender:
    store = DatabaseStore(sessionmaker, suppress=suppress, lease=max(300.0, 4 * settings.smtp_timeout))
    return MailSender(
        store,
        transport,
        mail_from=sender_address(settings.mail_from),
        connections=settings.smtp_connections,
        signer=signer_from_settings(settings.dkim_domain, settings.dkim_selector, settings.dkim_key_file),
        **options,
    )


async def run_worker(settings: Any, *, engine: AsyncEngine | None = None, **options: Any) -> None:
    """`python server.py worker`: a sender in its own process, until SIGINT or SIGTERM."""
    from club.accounts.suppression import suppress_address
    from club.mail import mailbox

    own_engine = engine is None
    engine = engine or create_engine(settings.database_url)
    async with contextlib.AsyncExitStack() as stack:
        if settings.smtp_host:
            transport = transport_from_settings(settings)
        elif settings.is_production:
            raise RuntimeError("CLUB_SMTP_HOST is required in production")
        else:
            port = await stack.enter_async_context(mailbox.running_mailbox(settings.var_dir))
            transport = transport_from_settings(settings, port=port)
        sender = sender_from_settings(
            settings, create_sessionmaker(engine), transport, suppress=suppress_address, **options
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, sender.stop)
        try:
            await sender.run()
        except SenderAlreadyRunning as exc:
            # A person started this from a shell: the reason, not a traceback.
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        finally:
            await transport.close()
            if own_engine:
                await engine.dispose()
