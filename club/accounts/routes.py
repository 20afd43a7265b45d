"""Admin login and logout, and the first-run setup page."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from club import forms, i18n
from club.accounts import passwords, service, sessions, tokens, totp
from club.accounts.models import Person
from club.admin import audit
from club.admin.forms import AdminLogin, NewAdmin
from club.i18n import N_
from club.ratelimit import client_key
from club.web import Context, found, redirect, render, route, safe_next


async def admin_login_page(request: Request, ctx: Context) -> Response:
    person = ctx.person
    if person is not None and person.is_admin:
        return redirect(safe_next(request.query_params.get("next"), "/admin"))
    return render(request, "accounts/admin_login.html", {"next": safe_next(request.query_params.get("next"), "/admin")})


async def _logged_in(request: Request, ctx: Context, person: Person, method: str | None, next_url: str) -> Response:
    response = redirect(next_url)
    await sessions.start(request, ctx.db, response, person)
    await audit.record(
        ctx.db, request, "admin.login", "person", person.id, {"method": method}, actor_email=person.email
    )
    return response


async def admin_login(request: Request, ctx: Context) -> Response:
    next_url = safe_next(forms.field(ctx.form, "next"), "/admin")
    cleaned, errors, values = forms.parse(AdminLogin, ctx.form)
    if cleaned is None:
        return render(
            request,
            "accounts/admin_login.html",
            {"errors": errors, "values": values, "next": next_url},
            status_code=400,
        )
    email, password = cleaned.email, cleaned.password
    result = await service.admin_login(ctx.db, email=email, password=password, ip=client_key(request))
    if result.locked:
        await audit.record(ctx.db, request, "admin.login.locked", "email", "", {"email": email}, actor_email=email)
        return render(
            request, "accounts/admin_login.html", {"values": values, "next": next_url, "locked": True}, status_code=429
        )
    if result.person is None:
        await audit.record(ctx.db, request, "admin.login.failed", "email", "", {"email": email}, actor_email=email)
        return render(
            request, "accounts/admin_login.html", {"values": values, "next": next_url, "failed": True}, status_code=400
        )
    if await totp.is_enabled(ctx.db, result.person.id):
        token = await service.start_second_factor(ctx.db, result.person)
        return render(request, "accounts/admin_code.html", {"token": token, "next": next_url})
    return await _logged_in(request, ctx, result.person, "password", next_url)


async def admin_login_code(request: Request, ctx: Context) -> Response:
    """The second step of an admin login with two-factor: a code from the app, or a recovery code."""
    raw = forms.field(ctx.form, "token")[:100]
    next_url = safe_next(forms.field(ctx.form, "next"), "/admin")
    code = forms.field(ctx.form, "code")[:40]

    def wrong(message: str) -> Response:
        context = {"token": raw, "next": next_url, "errors": {"code": (message, {})}}
        return render(request, "accounts/admin_code.html", context, status_code=400)

    if not code.strip():
        return wrong(N_("This field is required."))
    result = await service.finish_second_factor(ctx.db, raw_token=raw, code=code)
    if result.locked:
        await audit.record(ctx.db, request, "admin.login.locked", "", "", {"method": "totp"})
        return render(request, "accounts/admin_login.html", {"next": next_url, "locked": True}, status_code=429)
    if result.expired:
        return render(request, "accounts/admin_login.html", {"next": next_url, "expired": True}, status_code=400)
    if result.person is None:
        await audit.record(ctx.db, request, "admin.login.code_failed", "", "", {})
        return wrong(N_("That code is not right, or it was used already. Wait for the next code and try again."))
    return await _logged_in(request, ctx, result.person, result.method, next_url)


async def logout(request: Request, ctx: Context) -> Response:
    person = ctx.person
    if person is not None and person.role == "admin":
        await audit.record(ctx.db, request, "admin.logout", "person", person.id, {})
    response = redirect(ctx.url("home"))
    await sessions.end(request, ctx.db, response)
    return response


async def _setup_token(request: Request, ctx: Context) -> str:
    """The first-run link's token while it is good and no admin exists yet; else the page is not there."""
    raw: str = request.path_params["token"]
    if await service.admin_exists(ctx.db) or await tokens.peek(ctx.db, service.SETUP_PURPOSE, raw) is None:
        raise HTTPException(404)
    return raw


async def setup_page(request: Request, ctx: Context) -> Response:
    return render(request, "accounts/setup.html", {"token": await _setup_token(request, ctx)})


async def setup(request: Request, ctx: Context) -> Response:
    raw = await _setup_token(request, ctx)
    cleaned, errors, values = forms.parse(NewAdmin, ctx.form)
    email = cleaned.email if cleaned else ""
    password = passwords.read_new_password(ctx.form, errors, email=email)
    if cleaned is None or errors:
        return render(
            request, "accounts/setup.html", {"token": raw, "errors": errors, "values": values}, status_code=400
        )
    found(await tokens.consume(ctx.db, service.SETUP_PURPOSE, raw))
    person = await service.create_admin(
        ctx.db, email=email, name=cleaned.name, password=password, language=i18n.current_language.get()
    )
    response = redirect(ctx.url("admin_dashboard"))
    await sessions.start(request, ctx.db, response, person)
    await audit.record(ctx.db, request, "admin.setup", "person", person.id, {}, actor_email=email)
    return response


routes: list[BaseRoute] = [
    route("/admin/login", admin_login_page),
    route("/admin/login", admin_login, methods=["POST"], name="admin_login_post"),
    route("/admin/login/code", admin_login_code, methods=["POST"]),
    route("/logout", logout, methods=["POST"]),
    route("/setup/{token}", setup_page),
    route("/setup/{token}", setup, methods=["POST"], name="setup_post"),
]
