"""The development mailbox logs how many mails it caught, never to whom (issue 12, item 12)."""

from __future__ import annotations

import logging

import aiosmtplib

from club.mail.mailbox import list_mails, running_mailbox


async def test_the_development_mailbox_logs_counts_not_addresses(settings, caplog):
    caplog.set_level(logging.INFO)
    async with running_mailbox(settings.var_dir) as port:
        await aiosmtplib.send(
            "From: club@example.org\r\nTo: hanako@example.jp\r\nSubject: Hello\r\n\r\nHello Hanako\r\n",
            sender="club@example.org",
            recipients=["hanako@example.jp"],
            hostname="127.0.0.1",
            port=port,
        )
    assert [mail.to for mail in list_mails(settings.var_dir)] == ["hanako@example.jp"]
    assert "hanako@example.jp" not in caplog.text
    assert "caught a mail for 1 recipient(s); 1 kept" in caplog.text
