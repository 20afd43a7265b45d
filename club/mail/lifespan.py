"""Starts what mail needs alongside the web app: the dev mailbox (outside production, with no SMTP host set)
and the in-process sender (unless CLUB_RUN_SENDER=0, e.g. when `server.py worker` runs on its own)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette

from club.accounts.suppression import suppress_address
from club.mail.mailbox import running_mailbox
from club.mail.sender import MailSender, SenderAlreadyRunning, sender_from_settings, transport_from_settings
from club.mail.transport import SmtpTransport

log = logging.getLogger("club.mail")


@dataclass
class MailStatus:
    """Whether this web process sends mail, for /readyz and the admin dashboard."""

    settings: Any
    sender: MailSender | None = None

    @property
    def sending(self) -> bool:
        return self.sender is not None and self.sender.state in ("starting", "running")

    @property
    def reason(self) -> str:
        """disabled (CLUB_RUN_SENDER=0), unconfigured (no SMTP server), refused (another sender), stopped."""
        if self.sender is not None:
            return "" if self.sending else ("refused" if self.sender.state == "refused" else "stopped")
        return "disabled" if not self.settings.run_sender else "unconfigured"

    @property
    def problem(self) -> str:
        return self.sender.problem if self.sender is not None else ""


async def _run(sender: MailSender) -> None:
    try:
        await sender.run()
    except SenderAlreadyRunning as exc:
        log.error("this process sends no mail: %s", exc)
    except Exception:
        sender.state = "stopped"
        log.exception("the in-process mail sender stopped")


@contextlib.asynccontextmanager
async def mail_lifespan(app: Starlette) -> AsyncIterator[None]:
    settings = app.state.settings
    app.state.mail_sender = None
    app.state.mail_status = status = MailStatus(settings)
    async with contextlib.AsyncExitStack() as stack:
        transport: SmtpTransport | None = None
        if settings.uses_dev_mailbox:
            port = await stack.enter_async_context(running_mailbox(settings.var_dir))
            log.info("development mailbox on 127.0.0.1:%d; read it at /admin/mailbox", port)
            transport = transport_from_settings(settings, port=port)
        elif settings.smtp_host:
            transport = transport_from_settings(settings)
        task = None
        if settings.run_sender and transport is not None:
            sender = sender_from_settings(settings, app.state.sessionmaker, transport, suppress=suppress_address)
            app.state.mail_sender = status.sender = sender
            task = asyncio.create_task(_run(sender))
        try:
            yield
        finally:
            if task is not None:
                app.state.mail_sender.stop()
                await task
            if transport is not None:
                await transport.close()
