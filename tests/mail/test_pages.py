from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from club.accounts.suppression import suppress_address
from club.config import Settings
from club.mail.mailbox import running_mailbox
from club.mail.message import Address
from club.mail.outbox import queue_mail
from club.mail.routes import linkify
from club.mail.sender import DatabaseStore, MailSender, transport_from_settings
from tests.factories import log_in, make_admin


def test_linkify_makes_links_clickable_and_escapes_the_rest() -> None:
    html = str(linkify("Klik <b>hier</b>: https://club.example/confirm/abc?x=1&y=2 nu"))
    assert '<a href="https://club.example/confirm/abc?x=1&amp;y=2"' in html
    assert "&lt;b&gt;" in html and "<b>" not in html


async def test_mail_caught_by_the_dev_mailbox_over_real_smtp(
    db: AsyncSession, engine: object, settings: Settings, tmp_path: Path
) -> None:
    await queue_mail(
        db,
        to_email="jan@example.be",
        to_name="Jan",
        subject="Bevestig 金沢",
        text="Klik https://club.example/confirm/abc",
        html="<p><a href='https://club.example/confirm/abc'>Bevestig</a></p>",
        language="nl",
    )
    await db.commit()
    async with running_mailbox(tmp_path) as port:
        from club.db import create_sessionmaker

        transport = transport_from_settings(settings, port=port)
        sender = MailSender(
            DatabaseStore(create_sessionmaker(engine), suppress=suppress_address),
            transport,  # type: ignore[arg-type]
            mail_from=Address("club@ghent-kanazawa.example"),
            connections=1,
            poll_interval=0.05,
        )
        import asyncio

        task = asyncio.create_task(sender.run())
        for _ in range(200):
            if sender.sent:
                break
            await asyncio.sleep(0.05)
        sender.stop()
        await task
        await transport.close()
    from club.mail.mailbox import list_mails, read_mail

    [caught] = list_mails(tmp_path)
    assert caught.subject == "Bevestig 金沢"
    full = read_mail(tmp_path, caught.id)
    assert full is not None and "https://club.example/confirm/abc" in full.text
    assert read_mail(tmp_path, "../../etc/passwd") is None


@pytest.mark.parametrize("path", ["/admin/mailbox", "/admin/mail/queue"])
async def test_mail_admin_pages_need_an_admin(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, follow_redirects=False)
    assert response.status_code in (303, 302, 401, 403)


async def test_admin_reads_the_mailbox_and_the_queue(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    from club.mail.mailbox import MailboxHandler, mailbox_dir
    from club.mail.message import build_message
    from tests.mail.test_message import SENDER

    raw = build_message(
        sender=SENDER,
        to=Address("jan@example.be", "Jan"),
        subject="Bevestig 金沢",
        text="Klik https://club.example/confirm/abc",
        html="<p onclick='x()'>Bevestig<script>1</script></p>",
    )

    class Envelope:
        original_content = raw
        content = raw

    await MailboxHandler(mailbox_dir(settings.var_dir)).handle_DATA(None, None, Envelope())  # type: ignore[arg-type]
    await queue_mail(db, to_email="wait@example.be", to_name="W", subject="s", text="t", html="h", language="en")
    await db.commit()
    await log_in(client, db, await make_admin(db))

    listing = await client.get("/admin/mailbox")
    assert listing.status_code == 200 and "Bevestig 金沢" in listing.text
    mail_id = listing.text.split('href="/admin/mailbox/', 1)[1].split('"', 1)[0]
    page = await client.get(f"/admin/mailbox/{mail_id}")
    assert page.status_code == 200
    assert '<a href="https://club.example/confirm/abc"' in page.text
    assert "sandbox=" in page.text and f"/admin/mailbox/{mail_id}/html" in page.text
    frame = await client.get(f"/admin/mailbox/{mail_id}/html")
    assert "sandbox" in frame.headers["content-security-policy"]
    assert "script-src" not in frame.headers["content-security-policy"]
    assert (await client.get("/admin/mailbox/19990101-nothing")).status_code == 404

    queue = await client.get("/admin/mail/queue")
    assert queue.status_code == 200
    assert 'id="count-waiting">1<' in queue.text


async def test_the_mailbox_does_not_exist_in_production(client: httpx.AsyncClient, db: AsyncSession) -> None:
    await log_in(client, db, await make_admin(db))
    app = client._transport.app  # type: ignore[attr-defined]
    app.state.settings = app.state.settings.with_(env="production")
    client.cookies.set("__Host-club_session", client.cookies["club_session"])
    assert (await client.get("/admin")).status_code == 200
    assert (await client.get("/admin/mailbox")).status_code == 404


async def test_a_full_mailbox_opens_by_pages_and_says_how_many_it_keeps(
    client: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    import secrets
    import time

    from club.mail.mailbox import KEEP, PAGE_SIZE, mailbox_dir
    from club.mail.message import build_message
    from tests.mail.test_message import SENDER

    folder = mailbox_dir(settings.var_dir)
    folder.mkdir(parents=True)
    start = time.time_ns()
    for i in range(KEEP):
        raw = build_message(
            sender=SENDER, to=Address(f"lid{i}@example.be", f"Lid {i}"), subject=f"Mail {i}", text="x", html="<p>x</p>"
        )
        (folder / f"{start + i}-{secrets.token_hex(4)}.eml").write_bytes(raw)
    await log_in(client, db, await make_admin(db))

    first = (await client.get("/admin/mailbox")).text
    digits = re.sub(r"[^0-9]", "", first.split('id="mailbox-count">', 1)[1].split("</p>", 1)[0])
    assert digits == f"{KEEP}{KEEP}" and "It keeps the newest" in first and "mails now." in first
    assert first.count('href="/admin/mailbox/') == PAGE_SIZE
    assert f"Mail {KEEP - 1}<" in first and "Mail 0<" not in first  # newest first
    pages = -(-KEEP // PAGE_SIZE)
    last = (await client.get(f"/admin/mailbox?page={pages}")).text
    assert "Mail 0<" in last and 'rel="next"' not in last and 'rel="prev"' in last
    assert (await client.get("/admin/mailbox?page=nonsense")).status_code == 200


async def test_the_mailbox_logs_counts_not_addresses(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    import aiosmtplib

    from club.mail.message import build_message
    from tests.mail.test_message import SENDER

    caplog.set_level(logging.INFO)
    raw = build_message(
        sender=SENDER, to=Address("hanako.secret@example.jp", "Hanako"), subject="Hallo", text="x", html="<p>x</p>"
    )
    async with running_mailbox(tmp_path) as port:
        await aiosmtplib.send(
            raw,
            sender="club@ghent-kanazawa.example",
            recipients=["hanako.secret@example.jp", "jan.secret@example.be"],
            hostname="127.0.0.1",
            port=port,
        )
    assert "secret@" not in caplog.text
    assert "caught a mail for 2 recipient(s)" in caplog.text
