"""Admin pages for mail: the queue, and the development mailbox (which does not exist in production)."""

from __future__ import annotations

import html
import re

from markupsafe import Markup
from sqlalchemy import and_, case, func, select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute

from club import forms, web
from club.admin import audit
from club.i18n import N_, Np_
from club.mail import holds, mailbox
from club.mail.models import Delivery
from club.web import Context, found, render, route

web.NOTICES.update(
    {
        "mail.lifted": N_("Sending has resumed: the held mail goes out now."),
        "mail.released": Np_(
            "%(count)s member is no longer suppressed.", "%(count)s members are no longer suppressed."
        ),
    }
)

_URL_RE = re.compile(r"https?://[^\s<>\"']+")
# Mail HTML is someone else's markup: shown in a sandboxed frame, no scripts, no forms, links open a new tab.
MAIL_HTML_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data: https: http:; font-src data:; "
    "form-action 'none'; frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox"
)


def linkify(text: str) -> Markup:
    escaped = html.escape(text, quote=False)
    return Markup(_URL_RE.sub(lambda m: f'<a href="{m.group(0)}" rel="noopener noreferrer">{m.group(0)}</a>', escaped))


def _dev_only(ctx: Context) -> None:
    if ctx.settings.is_production:
        raise HTTPException(404)


async def mailbox_list(request: Request, ctx: Context) -> Response:
    _dev_only(ctx)
    try:
        number = int(request.query_params.get("page", "1"))
    except ValueError:
        number = 1
    page = mailbox.mailbox_page(ctx.settings.var_dir, number)
    return render(request, "mail/mailbox.html", {"page": page, "mails": page.mails})


async def mailbox_mail(request: Request, ctx: Context) -> Response:
    _dev_only(ctx)
    mail = found(mailbox.read_mail(ctx.settings.var_dir, request.path_params["mail_id"]))
    return render(request, "mail/mailbox_mail.html", {"mail": mail, "text": linkify(mail.text)})


async def mailbox_mail_html(request: Request, ctx: Context) -> Response:
    _dev_only(ctx)
    mail = found(mailbox.read_mail(ctx.settings.var_dir, request.path_params["mail_id"]))
    return HTMLResponse(
        '<base target="_blank">' + mail.html,
        headers={"Content-Security-Policy": MAIL_HTML_POLICY, "X-Frame-Options": "SAMEORIGIN"},
    )


async def queue(request: Request, ctx: Context) -> Response:
    state = case(
        (and_(Delivery.status == "queued", Delivery.attempts > 0), "retrying"),
        (Delivery.status == "queued", "waiting"),
        else_=Delivery.status,
    )
    counts: dict[str, int] = dict((await ctx.db.execute(select(state, func.count()).group_by(state))).all())
    problems = (
        (
            await ctx.db.execute(
                select(Delivery)
                .where(Delivery.last_error.is_not(None), Delivery.status.in_(("queued", "failed")))
                .order_by(Delivery.id.desc())
                .limit(50)
            )
        )
        .scalars()
        .all()
    )
    return render(
        request,
        "mail/queue.html",
        {
            "counts": counts,
            "problems": problems,
            "hold": await holds.open_hold(ctx.db),
            "groups": await holds.suppression_groups(ctx.db),
        },
    )


async def lift_hold(request: Request, ctx: Context) -> Response:
    hold = await holds.lift(ctx.db)
    await audit.record(
        ctx.db,
        request,
        "mail.lift_hold",
        "mail_hold",
        hold.id if hold else "",
        {"code": hold.code, "reply": hold.reply, "recipients": hold.recipients} if hold else {},
    )
    return web.redirect_with_notice(request, ctx.url("queue"), "mail.lifted")


async def release_suppressed(request: Request, ctx: Context) -> Response:
    pattern = forms.field(ctx.form, "pattern")
    ids = await holds.release_suppressed(ctx.db, pattern) if pattern else []
    await audit.record(
        ctx.db, request, "mail.release_suppressed", "people", "", {"count": len(ids), "reply": pattern, "people": ids}
    )
    return web.redirect_with_notice(request, ctx.url("queue"), "mail.released", len(ids))


routes: list[BaseRoute] = [
    route("/admin/mail/queue", queue, role="admin"),
    route("/admin/mail/hold/lift", lift_hold, methods=("POST",), role="admin"),
    route("/admin/mail/suppressions/release", release_suppressed, methods=("POST",), role="admin"),
    route("/admin/mailbox", mailbox_list, role="admin"),
    route("/admin/mailbox/{mail_id}", mailbox_mail, role="admin"),
    route("/admin/mailbox/{mail_id}/html", mailbox_mail_html, role="admin"),
]
