"""The public shell: home page, language choice, health checks."""

from __future__ import annotations

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from club import forms, i18n, publicpages, web
from club.web import Context, redirect, render, route, safe_next


async def home(request: Request, ctx: Context) -> Response:
    from club.events.service import next_public

    event = await next_public(ctx.db)
    publicpages.until(request, event.starts_at if event else None)
    return render(request, "site/home.html", {"next_event": event})


async def choose_language(request: Request, ctx: Context) -> Response:
    """The language switcher: saved in a cookie, and on the person's profile when logged in."""
    try:
        language = forms.choice(forms.field(ctx.form, "language"), i18n.LANGUAGES)
    except forms.Invalid:
        language = i18n.current_language.get()
    person = ctx.person
    if person is not None and person.role == "admin":
        person.console_language = language  # an admin's newsletter language is a setting of its own
    elif person is not None:
        person.language = language
    response = redirect(safe_next(forms.field(ctx.form, "next")))
    return web.remember_language(ctx, response, language)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    try:
        async with request.app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:
        return PlainTextResponse("database unavailable", status_code=503)
    # Serving pages is ready either way; whether this process also sends mail is said, not hidden.
    status = getattr(request.app.state, "mail_status", None)
    if status is None or status.sending:
        mail = "mail: sent by this process"
    else:
        mail = {
            "disabled": "mail: not sent by this process (CLUB_RUN_SENDER=0): run `server.py worker`",
            "unconfigured": "mail: not sent by this process: no SMTP server is configured",
            "refused": f"mail: not sent by this process: {status.problem}",
            "stopped": "mail: not sent by this process: its sender stopped (see the log)",
        }[status.reason]
    return PlainTextResponse(f"ok\n{mail}\n")


routes: list[BaseRoute] = [
    route("/", home, public=True),
    route("/language", choose_language, methods=["POST"]),
    Route("/healthz", healthz),
    Route("/readyz", readyz),
]
