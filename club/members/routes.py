"""The public side of the club: join, confirm, log in by link, profile, export, erase, unsubscribe, privacy;
and the admins' pages for the list of interests and the welcome mail."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from club import email_address, forms, i18n, ratelimit, web
from club.accounts import sessions
from club.accounts.models import CITIES
from club.ambassadors import service as ambassadors
from club.i18n import N_
from club.members import forms as member_forms
from club.members import service
from club.members.models import Interest
from club.middleware import BodyTooLarge
from club.ratelimit import client_key
from club.web import Context, found, redirect, render, route, safe_next, signed_in_as

log = logging.getLogger("club.members")

# Join and login requests: per IP (a script hammering the forms) and per address (someone's inbox).
web.NOTICES.update(
    {
        "members.saved": N_("Your changes are saved."),
        "members.admin-saved": N_("Saved."),
        "members.welcome": N_("Welcome to the club! Your membership is confirmed."),
    }
)
IP_LIMIT = 20
IP_WINDOW = dt.timedelta(minutes=10)
ADDRESS_LIMIT = 5
ADDRESS_WINDOW = dt.timedelta(hours=1)
# Sign-ups per IP: a promotion stand on shared Wi-Fi (many people, one address) signs up a hundred people in an
# hour, in bursts; a script gets no more than a burst at a time. Only sign-ups that pass the form's checks count.
JOIN_IP_LIMITS = ((20, dt.timedelta(minutes=2)), (120, dt.timedelta(hours=1)))


def too_many(request: Request) -> Response:
    return render(request, "members/too_many.html", status_code=429, headers={"Retry-After": "600"})


async def _ip_allowed(ctx: Context, action: str) -> bool:
    key = f"members-{action}:ip:{client_key(ctx.request)}"
    return await ratelimit.hit(ctx.db, key, IP_WINDOW, limit=IP_LIMIT) <= IP_LIMIT


async def _join_ip_allowed(ctx: Context) -> bool:
    allowed = True
    for limit, window in JOIN_IP_LIMITS:
        key = f"members-join:ip:{int(window.total_seconds())}:{client_key(ctx.request)}"
        if await ratelimit.hit(ctx.db, key, window) > limit:
            allowed = False
    return allowed


def _after_response(request: Request, work: Callable[[AsyncSession], Awaitable[None]]) -> BackgroundTask:
    """Mail work (who is this address, which mail, its link) done after the answer has gone, in its own
    transaction: the answer takes the same time for a member's address and a stranger's (issue 12)."""
    return BackgroundTask(_run_after_response, request.app, work)


async def _run_after_response(app: Starlette, work: Callable[[AsyncSession], Awaitable[None]]) -> None:
    try:
        async with app.state.sessionmaker() as db:
            await work(db)
            await db.commit()
    except Exception:
        log.exception("a join or login request could not be completed after the answer was sent")


async def _address_allowed(ctx: Context, email: str) -> bool:
    key = f"members-mail:address:{service.address_key(email)}"
    return await ratelimit.hit(ctx.db, key, ADDRESS_WINDOW, limit=ADDRESS_LIMIT) <= ADDRESS_LIMIT


async def _form_context(ctx: Context, **extra: object) -> dict[str, object]:
    interests = await service.all_interests(ctx.db)
    language = i18n.current_language.get()
    return {
        "interests": [(i.slug, i.name(language)) for i in interests],
        "cities": CITIES,
        "consent_text": service.CONSENT_TEXTS[service.NEWSLETTER_CONSENT_VERSION],
        **extra,
    }


# ---- join ------------------------------------------------------------------------------------------------------


async def join_page(request: Request, ctx: Context) -> Response:
    if ctx.person is not None:
        return redirect(ctx.url("profile"))
    # QR codes and mails carry ?ref=; the join page once read ?via=: links printed with either keep working.
    ref = request.query_params.get("ref") or request.query_params.get("via", "")
    values = {"language": i18n.current_language.get(), "ref": ref if member_forms.REF_RE.match(ref) else ""}
    return render(request, "members/join.html", await _form_context(ctx, values=values))


async def join(request: Request, ctx: Context) -> Response:
    slugs = [interest.slug for interest in await service.all_interests(ctx.db)]
    parsed = member_forms.parse_signup(ctx.form, slugs)
    if parsed.value is None:  # a typo is not an attack: it does not count against the limits
        context = await _form_context(ctx, errors=parsed.errors, values=parsed.values)
        return render(request, "members/join.html", context, status_code=400)
    if not await _join_ip_allowed(ctx):
        return too_many(request)
    if not await _address_allowed(ctx, parsed.value.email):
        return too_many(request)
    signup, settings = parsed.value, ctx.settings

    async def work(session: AsyncSession) -> None:
        await service.join(session, settings, signup)

    response = redirect(ctx.url("join_sent"))
    response.background = _after_response(request, work)
    return response


async def join_sent(request: Request, ctx: Context) -> Response:
    return render(request, "members/sent.html", {"joining": True})


def _link_invalid(request: Request, ctx: Context, *, joining: bool) -> Response:
    if ctx.person is not None:  # a used link clicked again by the member it logged in: their account
        return redirect(ctx.url("profile"))
    return render(request, "members/link_invalid.html", {"joining": joining}, status_code=400)


async def _link_page(request: Request, ctx: Context, purpose: str, action: str, *, joining: bool) -> Response:
    """The page with the button that uses a link from a mail (a mail scanner following the link uses nothing)."""
    if await service.peek_link(ctx.db, purpose, request.path_params["token"]) is None:
        return _link_invalid(request, ctx, joining=joining)
    return render(
        request, "members/confirm.html", {"action": action + request.path_params["token"], "joining": joining}
    )


async def confirm_page(request: Request, ctx: Context) -> Response:
    return await _link_page(request, ctx, service.CONFIRM_PURPOSE, "/join/confirm/", joining=True)


async def confirm(request: Request, ctx: Context) -> Response:
    person = await service.confirm(ctx.db, ctx.settings, request.path_params["token"])
    if person is None:
        return _link_invalid(request, ctx, joining=True)
    response = web.redirect_with_notice(request, ctx.url("profile"), "members.welcome")
    await sessions.start(request, ctx.db, response, person)
    return web.remember_language(ctx, response, person.language)


# ---- log in by link --------------------------------------------------------------------------------------------


async def login_page(request: Request, ctx: Context) -> Response:
    next_url = safe_next(request.query_params.get("next"), "/me")
    return render(request, "members/login.html", {"next": next_url})


async def login(request: Request, ctx: Context) -> Response:
    next_url = safe_next(forms.field(ctx.form, "next"), "/me")
    if not await _ip_allowed(ctx, "login"):
        return too_many(request)
    parsed = member_forms.parse_email(ctx.form)
    if parsed.value is None:
        return render(
            request,
            "members/login.html",
            {"errors": parsed.errors, "values": parsed.values, "next": next_url},
            status_code=400,
        )
    if not await _address_allowed(ctx, parsed.value):
        return too_many(request)
    email, settings = parsed.value, ctx.settings

    async def work(session: AsyncSession) -> None:
        await service.request_login(session, settings, email, next_url=next_url)

    response = redirect(ctx.url("login_sent"))
    response.background = _after_response(request, work)
    return response


async def login_sent(request: Request, ctx: Context) -> Response:
    return render(request, "members/sent.html", {"joining": False})


async def login_link_page(request: Request, ctx: Context) -> Response:
    return await _link_page(request, ctx, service.LOGIN_PURPOSE, "/login/", joining=False)


async def login_link(request: Request, ctx: Context) -> Response:
    used = await service.use_login_link(ctx.db, request.path_params["token"])
    if used is None:
        return _link_invalid(request, ctx, joining=False)
    person, next_url = used
    response = redirect(safe_next(next_url, "/me"))
    await sessions.start(request, ctx.db, response, person)
    return web.remember_language(ctx, response, person.language)


# ---- profile ---------------------------------------------------------------------------------------------------


async def _profile_context(request: Request, ctx: Context, **extra: object) -> dict[str, object]:
    consents = await service.consent_history(ctx.db, ctx.me.id)
    language = i18n.current_language.get()
    history = [
        {
            "at": c.created_at,
            "given": c.given,
            "method": service.METHODS.get(c.method, c.method),
            "text": service.consent_text(c.text_version, c.language),
            "version": c.text_version,
            "language": i18n.LANGUAGE_NAMES.get(c.language, c.language),
        }
        for c in reversed(consents)
    ]
    mine = await service.interests_of(ctx.db, ctx.me.id)
    values = {
        "name": ctx.me.name,
        "city": ctx.me.city,
        "language": ctx.me.language if ctx.me.language in i18n.LANGUAGES else language,
        "interests": [i.slug for i in mine],
        "newsletter": ctx.me.newsletter,
    }
    from club.events import service as events  # the member's tickets for coming events

    return await _form_context(
        ctx,
        values=values,
        history=history,
        email=email_address.display(ctx.me.email),
        tickets=await events.tickets_of(ctx.db, ctx.me.id),
        **extra,
    )


async def profile(request: Request, ctx: Context) -> Response:
    return render(request, "members/profile.html", await _profile_context(request, ctx))


async def save_profile(request: Request, ctx: Context) -> Response:
    slugs = [i.slug for i in await service.all_interests(ctx.db)]
    parsed = member_forms.parse_profile(ctx.form, slugs)
    if parsed.value is None:
        context = await _profile_context(request, ctx, errors=parsed.errors)
        context["values"] = parsed.values
        return render(request, "members/profile.html", context, status_code=400)
    clean = parsed.value
    ctx.me.name = str(clean["name"])
    ctx.me.city = str(clean["city"])
    ctx.me.language = str(clean["language"])
    await service.set_interests(ctx.db, ctx.me, list(clean["interests"]))  # type: ignore[call-overload]
    # The consent is recorded in the language of the page the person saw, before any change of language.
    await service.set_newsletter(
        ctx.db, ctx.me, bool(clean["newsletter"]), method="form", language=i18n.current_language.get()
    )
    response = web.redirect_with_notice(request, ctx.url("profile"), "members.saved")
    return web.remember_language(ctx, response, ctx.me.language)


async def export(request: Request, ctx: Context) -> Response:
    data = await service.export(ctx.db, ctx.settings, ctx.me)
    body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="ghent-kanazawa-club-my-data.json"',
            "Cache-Control": "no-store",
        },
    )


async def _erase_context(ctx: Context, **extra: object) -> dict[str, object]:
    kept, dropped = await ambassadors.erasure_outcome(ctx.db, ctx.me.id)
    return {"kept_activities": kept, "dropped_activities": dropped, **extra}


async def erase_page(request: Request, ctx: Context) -> Response:
    return render(request, "members/erase.html", await _erase_context(ctx))


async def erase(request: Request, ctx: Context) -> Response:
    if ctx.me.role == "admin":
        return render(request, "members/erase.html", await _erase_context(ctx), status_code=400)
    if forms.field(ctx.form, "confirm") != "yes":
        return render(request, "members/erase.html", await _erase_context(ctx, unconfirmed=True), status_code=400)
    response = redirect(ctx.url("goodbye"))
    await sessions.end(request, ctx.db, response)
    await service.erase(ctx.db, ctx.settings, ctx.me)
    signed_in_as(request, None)
    return response


async def goodbye(request: Request, ctx: Context) -> Response:
    return render(request, "members/goodbye.html")


async def privacy(request: Request, ctx: Context) -> Response:
    return render(
        request,
        "members/privacy.html",
        {
            "confirm_hours": int(service.CONFIRM_LIFETIME.total_seconds() // 3600),
            "purge_days": service.UNCONFIRMED_KEPT.days,
        },
    )


# ---- unsubscribe (no cookie, no CSRF token: RFC 8058 one-click from the mail client) ---------------------------


def _unsubscribe_page(request: Request, link: service.UnsubscribeLink, **flags: bool) -> Response:
    """One page for every answer about a link: a link we did not sign says so (400) and how to unsubscribe
    instead; it looks the same whoever it names, so it tells nobody who is a member."""
    context = {
        "token": request.path_params["token"],
        "state": link.state,
        "masked_email": link.masked_email,
        "subscribed": bool(link.person is not None and link.person.newsletter),
        "consent_text": service.CONSENT_TEXTS[service.NEWSLETTER_CONSENT_VERSION],
        **flags,
    }
    return render(request, "members/unsubscribe.html", context, status_code=400 if link.state == "invalid" else 200)


async def unsubscribe_page(request: Request, ctx: Context) -> Response:
    """Never changes anything."""
    link = await service.unsubscribe_link(ctx.db, ctx.settings, request.path_params["token"])
    return _unsubscribe_page(request, link)


async def unsubscribe(request: Request, ctx: Context) -> Response:
    try:
        form = await request.form(max_files=0, max_fields=10, max_part_size=1024)
    except (HTTPException, BodyTooLarge):
        raise
    except Exception as exc:
        raise HTTPException(400, "bad-form") from exc
    if form.get("List-Unsubscribe") != "One-Click":
        raise HTTPException(400)
    token = request.path_params["token"]
    method = "link" if form.get("from_page") == "1" else "one-click"
    link = await service.unsubscribe(ctx.db, ctx.settings, token, method=method)
    return _unsubscribe_page(request, link, done=True)


async def resubscribe(request: Request, ctx: Context) -> Response:
    token = request.path_params["token"]
    link = await service.resubscribe(ctx.db, ctx.settings, token, language=i18n.current_language.get())
    return _unsubscribe_page(request, link, resubscribed=True)


# ---- admin: interests and the welcome mail ---------------------------------------------------------------------


async def admin_interests(request: Request, ctx: Context, status_code: int = 200, **extra: object) -> Response:
    context = {"interests": await service.all_interests(ctx.db), **extra}
    return render(request, "members/admin_interests.html", context, status_code=status_code)


async def admin_add_interest(request: Request, ctx: Context) -> Response:
    parsed = member_forms.parse_interest(ctx.form)
    if parsed.value is not None and await service.add_interest(ctx.db, **parsed.value) is None:
        parsed.errors.add("name_en", forms.Invalid(N_("An interest with this English name exists.")))
    if parsed.errors:
        return await admin_interests(request, ctx, 400, errors=parsed.errors, values=parsed.values)
    return web.redirect_with_notice(request, ctx.url("admin_interests"), "members.admin-saved")


async def _interest(request: Request, ctx: Context) -> Interest:
    return found(await ctx.db.get(Interest, request.path_params["interest_id"]))


async def admin_update_interest(request: Request, ctx: Context) -> Response:
    interest = await _interest(request, ctx)
    parsed = member_forms.parse_interest(ctx.form)
    if parsed.value is None:
        return await admin_interests(request, ctx, 400, errors=parsed.errors, values=parsed.values, editing=interest.id)
    interest.name_nl = parsed.value["name_nl"]
    interest.name_en = parsed.value["name_en"]
    interest.name_ja = parsed.value["name_ja"]
    return web.redirect_with_notice(request, ctx.url("admin_interests"), "members.admin-saved")


async def admin_delete_interest(request: Request, ctx: Context) -> Response:
    interest = await _interest(request, ctx)
    await ctx.db.delete(interest)
    return web.redirect_with_notice(request, ctx.url("admin_interests"), "members.admin-saved")


async def _welcome_context(request: Request, ctx: Context) -> dict[str, object]:
    texts = []
    for language in i18n.LANGUAGES:
        subject, body, custom = await service.welcome_text(ctx.db, language)
        texts.append({"language": language, "subject": subject, "body": body, "custom": custom})
    return {"texts": texts}


async def admin_welcome(request: Request, ctx: Context) -> Response:
    return render(request, "members/admin_welcome.html", await _welcome_context(request, ctx))


async def admin_save_welcome(request: Request, ctx: Context) -> Response:
    language = request.path_params["language"]
    if language not in i18n.LANGUAGES:
        raise HTTPException(404)
    if forms.field(ctx.form, "reset") == "1":
        await service.reset_welcome_text(ctx.db, language)
        return web.redirect_with_notice(request, ctx.url("admin_welcome"), "members.admin-saved")
    parsed = member_forms.parse_welcome(ctx.form)
    if parsed.value is None:
        context = await _welcome_context(request, ctx)
        for text in context["texts"]:  # type: ignore[attr-defined]
            if text["language"] == language:
                text.update(parsed.values, errors=parsed.errors)
        return render(request, "members/admin_welcome.html", context, status_code=400)
    await service.save_welcome_text(ctx.db, language, **parsed.value)
    return web.redirect_with_notice(request, ctx.url("admin_welcome"), "members.admin-saved")


routes: list[BaseRoute] = [
    route("/join", join_page, public=True),
    route("/join", join, methods=["POST"], name="join_post"),
    route("/join/sent", join_sent),
    route("/join/confirm/{token}", confirm_page),
    route("/join/confirm/{token}", confirm, methods=["POST"], name="confirm_post"),
    route("/login", login_page, public=True),
    route("/login", login, methods=["POST"], name="login_post"),
    route("/login/sent", login_sent),
    route("/login/{token}", login_link_page),
    route("/login/{token}", login_link, methods=["POST"], name="login_link_post"),
    route("/me", profile, role="member"),
    route("/me", save_profile, methods=["POST"], role="member", name="save_profile"),
    route("/me/export", export, role="member"),
    route("/me/erase", erase_page, role="member"),
    route("/me/erase", erase, methods=["POST"], role="member", name="erase_post"),
    route("/goodbye", goodbye),
    route("/privacy", privacy, public=True),
    route("/unsubscribe/{token}", unsubscribe_page),
    route("/unsubscribe/{token}", unsubscribe, methods=["POST"], name="unsubscribe_post", csrf=False),
    route("/unsubscribe/{token}/subscribe", resubscribe, methods=["POST"]),
    route("/admin/interests", admin_interests, role="admin"),
    route("/admin/interests", admin_add_interest, methods=["POST"], role="admin", name="admin_add_interest"),
    route("/admin/interests/{interest_id:int}", admin_update_interest, methods=["POST"], role="admin"),
    route("/admin/interests/{interest_id:int}/delete", admin_delete_interest, methods=["POST"], role="admin"),
    route("/admin/welcome", admin_welcome, role="admin"),
    route("/admin/welcome/{language}", admin_save_welcome, methods=["POST"], role="admin"),
]
