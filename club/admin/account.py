"""An admin's own account (console language, newsletter language, time zone, password, a forgotten password),
pending invitations, and the rule that every admin needs two-factor login."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from club import forms, web
from club.accounts import passwords, sessions, tokens, totp
from club.accounts.models import OneTimeToken, Person
from club.admin import audit
from club.admin import members as admin_members
from club.admin.models import AdminSetting
from club.i18n import LANGUAGES, N_, _, use_language
from club.mail.render import queue_rendered
from club.members.forms import Address
from club.web import Context, found, render, route

RESET_PURPOSE = "admin-password-reset"
RESET_LIFETIME = dt.timedelta(hours=1)
REQUIRE_TOTP = "require_totp"
# Zones an admin can pick for the console's times: the two cities, and a few where staff travel.
TIME_ZONES = ("Europe/Brussels", "Asia/Tokyo", "UTC", "Europe/London", "America/New_York")

web.NOTICES.update(
    {
        "account.saved": N_("Your settings are saved."),
        "account.password": N_("Your password is changed. Other sessions were logged out."),
        "account.reset": N_("Your password is changed. You are logged in."),
        "account.reset-login": N_("Your password is changed. Log in with it and a code from your app."),
        "admins.resent": N_("The invitation was sent again, with a new link."),
        "admins.revoked": N_("The invitation was withdrawn; its link no longer works."),
        "admins.totp-required": N_("Every admin now needs two-factor login."),
        "admins.totp-optional": N_("Two-factor login is now up to each admin."),
        "security.totp-needed": N_("Two-factor login is required for every admin: set it up to use the console."),
    }
)


# ---- the rule: two-factor login for every admin ------------------------------------------------------------------


_RULE = select(AdminSetting.value).where(AdminSetting.key == REQUIRE_TOTP)
# The rule as the admin guard reads it, with the session (club.web.route: sessions.load(..., also=TOTP_RULE)).
TOTP_RULE = _RULE.scalar_subquery()


async def totp_required(db: AsyncSession) -> bool:
    return (await db.execute(_RULE)).scalar() == "1"


async def set_totp_required(db: AsyncSession, required: bool) -> None:
    setting = await db.get(AdminSetting, REQUIRE_TOTP)
    if setting is None:
        db.add(AdminSetting(key=REQUIRE_TOTP, value="1" if required else "0"))
    else:
        setting.value = "1" if required else "0"
    await db.flush()


async def must_set_up_totp(db: AsyncSession, person: Person, rule: str | None) -> bool:
    """An admin without two-factor login while the rule (TOTP_RULE's value) requires it: only the security page is
    open to them."""
    return person.role == "admin" and rule == "1" and not await totp.is_enabled(db, person.id)


async def require_totp(request: Request, ctx: Context) -> Response:
    required = forms.field(ctx.form, "required") == "1"
    if required and not await totp.is_enabled(ctx.db, ctx.me.id):
        return web.redirect_with_notice(request, ctx.url("security_page"), "security.totp-needed")
    await set_totp_required(ctx.db, required)
    audit.note(request, required=required)
    return web.redirect_with_notice(
        request, ctx.url("admins_page"), "admins.totp-required" if required else "admins.totp-optional"
    )


# ---- settings and password ---------------------------------------------------------------------------------------


async def account_settings(request: Request, ctx: Context) -> Response:
    try:
        console = forms.choice(forms.field(ctx.form, "console_language"), LANGUAGES)
        newsletter = forms.choice(forms.field(ctx.form, "language"), LANGUAGES)
        zone = forms.choice(forms.field(ctx.form, "time_zone"), TIME_ZONES)
    except forms.Invalid as exc:
        raise HTTPException(400) from exc
    changed = [
        name
        for name, old, new in (
            ("console_language", ctx.me.page_language, console),
            ("newsletter_language", ctx.me.language, newsletter),
            ("time_zone", ctx.me.time_zone or "", zone),
        )
        if old != new
    ]
    ctx.me.language = newsletter
    ctx.me.console_language = console if console != newsletter else None
    ctx.me.time_zone = zone
    audit.note(request, changes=changed)
    response = web.redirect_with_notice(request, ctx.url("security_page"), "account.saved")
    return web.remember_language(ctx, response, console)


async def password_change(request: Request, ctx: Context) -> Response:
    errors = forms.Errors()
    if not await passwords.verify_password(ctx.me.password_hash, forms.field(ctx.form, "current_password")):
        errors.add("current_password", forms.Invalid(N_("That is not your current password.")))
    password = passwords.read_new_password(ctx.form, errors, email=ctx.me.email)
    if errors:
        from club.admin.routes import security_refused

        return await security_refused(request, ctx, errors)
    ctx.me.password_hash = await passwords.hash_password(password)
    await sessions.revoke_all(ctx.db, ctx.me.id)
    response = web.redirect_with_notice(request, ctx.url("security_page"), "account.password")
    await sessions.start(request, ctx.db, response, ctx.me)
    return response


# ---- a forgotten password ----------------------------------------------------------------------------------------


async def forgot_page(request: Request, ctx: Context) -> Response:
    return render(request, "accounts/password_forgot.html", {})


async def forgot(request: Request, ctx: Context) -> Response:
    """Always the same answer, so the page does not tell who is an admin; the mail goes only to an admin."""
    cleaned, errors, values = forms.parse(Address, ctx.form)
    if cleaned is None:
        return render(request, "accounts/password_forgot.html", {"errors": errors, "values": values}, status_code=400)
    email = cleaned.email
    person = (
        await ctx.db.execute(select(Person).where(Person.email == email, Person.role == "admin"))
    ).scalar_one_or_none()
    if person is not None:
        await tokens.revoke_all(ctx.db, RESET_PURPOSE, person_id=person.id)
        raw = await tokens.issue(ctx.db, RESET_PURPOSE, RESET_LIFETIME, person_id=person.id)
        language = person.page_language
        with use_language(language):
            subject = _("Choose a new password for the club's admin console")
        await queue_rendered(
            ctx.db,
            person,
            "admin/mail/password_reset",
            language,
            kind="admin-password-reset",
            subject=subject,
            url=ctx.settings.absolute_url(f"/admin/password/{raw}"),
        )
        await audit.record(
            ctx.db, request, "admin.password.reset_request", "person", person.id, {}, actor_email=person.email
        )
    return render(request, "accounts/password_forgot.html", {"sent": True})


async def reset_page(request: Request, ctx: Context) -> Response:
    token = await tokens.peek(ctx.db, RESET_PURPOSE, request.path_params["token"])
    if token is None:
        return render(request, "accounts/password_reset.html", {"valid": False}, status_code=404)
    return render(request, "accounts/password_reset.html", {"valid": True, "token": request.path_params["token"]})


async def reset(request: Request, ctx: Context) -> Response:
    raw = request.path_params["token"]
    token = await tokens.peek(ctx.db, RESET_PURPOSE, raw)
    person = await ctx.db.get(Person, token.person_id) if token is not None and token.person_id else None
    if person is None or person.role != "admin":
        return render(request, "accounts/password_reset.html", {"valid": False}, status_code=404)
    errors = forms.Errors()
    password = passwords.read_new_password(ctx.form, errors, email=person.email)
    if errors:
        return render(
            request, "accounts/password_reset.html", {"valid": True, "token": raw, "errors": errors}, status_code=400
        )
    if await tokens.consume(ctx.db, RESET_PURPOSE, raw) is None:
        return render(request, "accounts/password_reset.html", {"valid": False}, status_code=404)
    person.password_hash = await passwords.hash_password(password)
    await sessions.revoke_all(ctx.db, person.id)
    if await totp.is_enabled(ctx.db, person.id):
        # The link proves the mailbox, not the phone: the second factor is still asked at the next login.
        response = web.redirect_with_notice(request, ctx.url("admin_login_page"), "account.reset-login")
    else:
        response = web.redirect_with_notice(request, ctx.url("admin_dashboard"), "account.reset")
        await sessions.start(request, ctx.db, response, person)
    await audit.record(ctx.db, request, "admin.password.reset", "person", person.id, {}, actor_email=person.email)
    return response


# ---- pending invitations -----------------------------------------------------------------------------------------


async def _withdrawn(ctx: Context) -> OneTimeToken:
    """The pending invitation the form names, withdrawn (its link no longer works)."""
    return found(await admin_members.revoke_invitation(ctx.db, forms.field(ctx.form, "invitation")))


async def invitation_resend(request: Request, ctx: Context) -> Response:
    token = await _withdrawn(ctx)
    email, name = admin_members.invitation_of(token.data)
    await admin_members.invite_admin(
        ctx.db,
        ctx.settings,
        email=email,
        name=name,
        language=admin_members.invitation_language(token.data),
        invited_by=ctx.me,
    )
    await audit.record(ctx.db, request, "admin.invite.resend", "email", "", {"email": email})
    return web.redirect_with_notice(request, ctx.url("admins_page"), "admins.resent")


async def invitation_revoke(request: Request, ctx: Context) -> Response:
    token = await _withdrawn(ctx)
    email, _name = admin_members.invitation_of(token.data)
    await audit.record(ctx.db, request, "admin.invite.revoke", "email", "", {"email": email})
    return web.redirect_with_notice(request, ctx.url("admins_page"), "admins.revoked")


routes: list[BaseRoute] = [
    route("/admin/security/settings", account_settings, methods=["POST"], role="admin"),
    route("/admin/security/password", password_change, methods=["POST"], role="admin"),
    route("/admin/admins/require-totp", require_totp, methods=["POST"], role="admin"),
    route("/admin/admins/invitations/resend", invitation_resend, methods=["POST"], role="admin"),
    route("/admin/admins/invitations/revoke", invitation_revoke, methods=["POST"], role="admin"),
    route("/admin/password", forgot_page),
    route("/admin/password", forgot, methods=["POST"], name="password_forgot"),
    route("/admin/password/{token}", reset_page),
    route("/admin/password/{token}", reset, methods=["POST"], name="password_reset"),
]
