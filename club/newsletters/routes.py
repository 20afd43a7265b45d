"""Newsletter pages: compose, preview, audience, test, schedule, send, progress and report for admins; the public
archive with its Atom feed; the images uploaded into newsletters."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import secrets
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time, get_datetime_format
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute

from club import forms, i18n, labels, publicpages, web
from club.accounts.models import CITIES
from club.admin import audit
from club.ambassadors import photos
from club.config import Settings
from club.db import utcnow
from club.forms import Errors, Invalid
from club.i18n import LANGUAGES, N_, _, use_language
from club.mail import holds
from club.newsletters import audience as audiences
from club.newsletters import render, service
from club.newsletters.forms import SCHEDULE_ZONES, form_values, parse_draft, parse_schedule, parse_test_addresses
from club.newsletters.models import Newsletter, NewsletterImage
from club.templating import templates
from club.web import Context, FormLimits, found, redirect, redirect_with_notice, route
from club.web import render as render_page

# The mail's own markup, shown in a frame: inline styles allowed, nothing else runs; links open a new tab.
PREVIEW_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https: http:; font-src data:; "
    "form-action 'none'; frame-ancestors 'self'; base-uri 'none'; sandbox allow-popups allow-popups-to-escape-sandbox"
)
# Uploads are re-encoded as JPEG by the activity photos' own code, which leaves EXIF, GPS and XMP behind; the
# other types stay so that images uploaded before that keep being served.
IMAGE_TYPES = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}
IMAGE_MAX_BYTES = photos.MAX_PHOTO_BYTES
IMAGES_PER_UPLOAD = 10
FORM_PART_MAX = 1024 * 1024
EDIT_FORM = FormLimits(max_part_size=FORM_PART_MAX)  # a newsletter's body may be long
NOTICES = {
    "saved": N_("The newsletter is saved."),
    "tested": N_("The test is on its way."),
    "scheduled": N_("The newsletter is scheduled."),
    "unscheduled": N_("The schedule is removed; the newsletter is a draft again."),
    "started": N_("Sending has started."),
    "already": N_("This newsletter was already being sent; it is sent only once."),
    "paused": N_("Sending is paused."),
    "resumed": N_("Sending has resumed."),
    "cancelled": N_("The newsletter is cancelled; nothing more will be sent."),
    "uploaded": N_("The images are uploaded. Describe each one, then insert it into the text."),
    "duplicated": N_("This is a copy of the newsletter, saved as a new draft."),
    "deleted": N_("The draft is deleted."),
    "retried": N_("The failed deliveries are queued again."),
}
# Shown once, on the page after the action (web.redirect_with_notice): a reload, or the poller's, does not say it again.
web.NOTICES.update({f"newsletters.{key}": message for key, message in NOTICES.items()})
NOT_EDITABLE = N_("This newsletter is being sent or has been sent, so it can no longer be changed.")
FINISHED = N_("This newsletter has already finished; there is nothing left to cancel.")
ONLY_DRAFTS = N_("Only a draft can be deleted. Remove the schedule first, or keep the newsletter for the record.")


def _newsletter_id(request: Request) -> int:
    return int(request.path_params["newsletter_id"])


async def _load(request: Request, ctx: Context) -> Newsletter:
    return found(await service.get(ctx.db, _newsletter_id(request)))


def _page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """A console page of newsletters: web.render with the cities, zones and time helper they all use."""
    common = {"CITIES": CITIES, "SCHEDULE_ZONES": SCHEDULE_ZONES, "local_time": local_time, "NAME_TAG": render.NAME_TAG}
    return render_page(request, f"newsletters/{template}", {**common, **context}, status_code=status_code)


def local_time(moment: dt.datetime | None, zone: str | None = None) -> str:
    """A moment in a zone (by default the page language's), in the page's language, to the minute:
    "zaterdag 4 april 2026 09:00"."""
    if moment is None:
        return ""
    locale = i18n._locale()
    local = moment.astimezone(ZoneInfo(zone) if zone else i18n.TIMEZONES[i18n.current_language.get()])
    return (
        str(get_datetime_format("medium", locale=locale))
        .replace("{1}", format_date(local, "full", locale=locale))
        .replace("{0}", format_time(local, "short", locale=locale))
    )


def tag_messages(problems: service.TagProblems) -> dict[str, list[str]]:
    """The placeholder problems of each variant as sentences in the page's language."""
    return {language: [_(message, **values) for message, values in items] for language, items in problems.items()}


async def audience_summary(ctx: Context, newsletter: Newsletter) -> list[tuple[str, str]]:
    """The audience as (what, who) lines in the page's language: cities, interests (any of), languages, ..."""
    chosen = audiences.Audience.from_json(newsletter.audience)
    names = dict(await audiences.interest_choices(ctx.db, i18n.current_language.get()))
    separator = _("%(first)s, %(second)s")
    everyone = _("everyone")

    def listing(items: list[str]) -> str:
        if not items:
            return everyone
        text = items[0]
        for item in items[1:]:
            text = separator % {"first": text, "second": item}
        return text

    lines = [
        (_("Cities"), listing([labels.city(c) for c in chosen.cities])),
        (_("Languages"), listing([i18n.LANGUAGE_NAMES[lang] for lang in chosen.languages])),
        (_("Interests (any of)"), listing([names.get(slug, slug) for slug in chosen.interests])),
    ]
    if chosen.ambassadors_only:
        lines.append((_("Role"), _("Ambassadors only")))
    if chosen.joined_from or chosen.joined_until:
        ends = [i18n.format_date(day, "long") if day else "…" for day in (chosen.joined_from, chosen.joined_until)]
        lines.append((_("Joined"), " – ".join(ends)))
    return lines


def expected_finish(rate: float | None, recipients: int, start: dt.datetime) -> dt.datetime | None:
    """When a send of `recipients` mails should be done at `rate` mails per second; None without a rate."""
    if not rate or recipients <= 0:
        return None
    return start + dt.timedelta(seconds=recipients / rate)


def _refuse(request: Request, newsletter: Newsletter, message: str, status_code: int = 409) -> Response:
    """A state that forbids the action (it is sending, it has finished): say so, change nothing."""
    return _page(request, "refused.html", {"newsletter": newsletter, "message": message}, status_code)


async def _edit_refused(
    request: Request, ctx: Context, newsletter: Newsletter | None, errors: Errors, values: dict[str, object]
) -> Response:
    """The compose page again, with what was wrong and what was typed."""
    context = {**await _edit_context(request, ctx, newsletter), "errors": errors, "values": values}
    return _page(request, "edit.html", context, 400)


# ---- list and compose ------------------------------------------------------------------------------------------


async def admin_list(request: Request, ctx: Context) -> Response:
    newsletters = await service.listing(ctx.db)
    return _page(request, "admin_list.html", {"newsletters": newsletters, "title_of": service.title_of})


def _values_of(newsletter: Newsletter) -> dict[str, object]:
    values: dict[str, object] = {
        "fallback_language": newsletter.fallback_language,
        "private": "1" if newsletter.private else "",
    }
    for variant in newsletter.variants:
        values[f"subject_{variant.language}"] = variant.subject
        values[f"preheader_{variant.language}"] = variant.preheader
        values[f"body_{variant.language}"] = variant.body
    zone = newsletter.schedule_zone if newsletter.schedule_zone in SCHEDULE_ZONES else SCHEDULE_ZONES[0]
    values["timezone"] = zone
    if newsletter.status == "scheduled" and newsletter.scheduled_at is not None:
        values["scheduled_at"] = newsletter.scheduled_at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")
    chosen = audiences.Audience.from_json(newsletter.audience)
    values.update(
        cities=list(chosen.cities),
        languages=list(chosen.languages),
        interests=list(chosen.interests),
        ambassadors_only="1" if chosen.ambassadors_only else "",
        joined_from=chosen.joined_from.isoformat() if chosen.joined_from else "",
        joined_until=chosen.joined_until.isoformat() if chosen.joined_until else "",
    )
    return values


async def _edit_context(request: Request, ctx: Context, newsletter: Newsletter | None) -> dict[str, Any]:
    context: dict[str, Any] = {
        "newsletter": newsletter,
        "interests": await audiences.interest_choices(ctx.db, i18n.current_language.get()),
    }
    if newsletter is not None:
        settings = ctx.settings
        context["plan"] = await service.audience_plan(ctx.db, newsletter)
        context["texts"] = {
            v.language: _preview_text(settings, newsletter, v.language, ctx) for v in newsletter.variants
        }
        context["images"] = list(
            (
                await ctx.db.execute(
                    select(
                        NewsletterImage.token,
                        NewsletterImage.filename,
                        NewsletterImage.content_type,
                        NewsletterImage.width,
                        NewsletterImage.height,
                    )
                    .where(NewsletterImage.newsletter_id == newsletter.id)
                    .order_by(NewsletterImage.id)
                )
            ).all()
        )
        context["image_url"] = lambda token, content_type: image_url(settings, token, content_type)
        context["tag_problems"] = tag_messages(service.tag_problems(newsletter))
        for variant in newsletter.variants:
            if render.images_without_description(variant.body):
                context["tag_problems"].setdefault(variant.language, []).append(_(render.IMAGE_WITHOUT_DESCRIPTION))
    else:
        context["tag_problems"] = {}
    return context


def image_url(settings: Settings, token: str, content_type: str) -> str:
    extension = next((ext for mime, ext in IMAGE_TYPES.values() if mime == content_type), "bin")
    return settings.absolute_url(f"/newsletters/images/{token}.{extension}")


async def new(request: Request, ctx: Context) -> Response:
    context = await _edit_context(request, ctx, None)
    return _page(request, "edit.html", {**context, "values": {"fallback_language": "en"}})


async def create(request: Request, ctx: Context) -> Response:
    return await _save(request, ctx, None)


async def edit(request: Request, ctx: Context) -> Response:
    newsletter = await _load(request, ctx)
    if not newsletter.editable:
        return redirect(ctx.url("report", newsletter_id=newsletter.id))
    context = await _edit_context(request, ctx, newsletter)
    return _page(request, "edit.html", {**context, "values": _values_of(newsletter)})


async def update(request: Request, ctx: Context) -> Response:
    return await _save(request, ctx, await _load(request, ctx))


async def _save(request: Request, ctx: Context, newsletter: Newsletter | None) -> Response:
    if newsletter is not None and not newsletter.editable:
        return _refuse(request, newsletter, NOT_EDITABLE)
    slugs = [slug for slug, _name in await audiences.interest_choices(ctx.db, "en")]
    draft, errors, _typed = parse_draft(ctx.form, slugs)
    if draft is None:
        return await _edit_refused(request, ctx, newsletter, errors, form_values(ctx.form))
    newsletter = await service.save(ctx.db, newsletter, draft, ctx.me)
    return redirect_with_notice(request, ctx.url("edit", newsletter_id=newsletter.id) + "#preview", "newsletters.saved")


# ---- preview ---------------------------------------------------------------------------------------------------


def _preview_response(html: str) -> HTMLResponse:
    return HTMLResponse(
        '<base target="_blank">' + html,
        headers={
            "Content-Security-Policy": PREVIEW_POLICY,
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "no-store",
        },
    )


def _fill_for(ctx: Context, value: str, *, html: bool = True) -> str:
    """A body as the admin's own test mail would read (the HTML's values escaped)."""
    person, unsubscribe_url = ctx.me, ctx.settings.absolute_url(service.TEST_UNSUBSCRIBE_PATH)
    return render.fill_preview(value, name=person.name, email=person.email, unsubscribe_url=unsubscribe_url, html=html)


def _preview_text(settings: Settings, newsletter: Newsletter, language: str, ctx: Context) -> str:
    variant = service.variant_map(newsletter)[language]
    return _fill_for(ctx, service.rendered_variant(settings, newsletter, variant).text, html=False)


async def stored_preview(request: Request, ctx: Context) -> Response:
    newsletter = await _load(request, ctx)
    variant = found(service.variant_map(newsletter).get(request.path_params["language"]))
    mail = service.rendered_variant(ctx.settings, newsletter, variant)
    return _preview_response(_fill_for(ctx, mail.html))


def _live_variant(form: Any) -> tuple[str, str, str, str, str | None]:
    language = forms.field(form, "language")
    if language not in LANGUAGES:
        raise HTTPException(400)
    subject = forms.field(form, "subject").replace("\r", " ").replace("\n", " ")[:200]
    preheader = forms.field(form, "preheader").replace("\r", " ").replace("\n", " ")[:200]
    body = forms.field(form, "body")[:100_000]
    problems = [_(message, **values) for message, values in render.tag_problems(subject, preheader, body)]
    if render.images_without_description(body):
        problems.append(_(render.IMAGE_WITHOUT_DESCRIPTION))
    if render.unsafe_markup(body):
        problems.insert(0, _(render.UNSAFE_MARKUP))
    return language, subject, preheader, body, " ".join(problems) or None


async def live_preview(request: Request, ctx: Context) -> Response:
    """The HTML of the text being typed, posted by static/js/newsletters.js into the preview frame."""
    language, subject, preheader, body, _problem = _live_variant(ctx.form)
    mail = render.mail(ctx.settings, language=language, subject=subject, preheader=preheader, body=body)
    return _preview_response(_fill_for(ctx, mail.html))


async def live_preview_text(request: Request, ctx: Context) -> Response:
    language, subject, preheader, body, problem = _live_variant(ctx.form)
    mail = render.mail(ctx.settings, language=language, subject=subject, preheader=preheader, body=body)
    return JSONResponse(
        {"text": _fill_for(ctx, mail.text, html=False), "problem": problem}, headers={"Cache-Control": "no-store"}
    )


# ---- images ----------------------------------------------------------------------------------------------------


async def upload_images(request: Request, ctx: Context) -> Response:
    newsletter = await _load(request, ctx)
    if not newsletter.editable:
        return _refuse(request, newsletter, NOT_EDITABLE)
    files = [item for item in ctx.form.getlist("images") if isinstance(item, UploadFile) and item.filename]
    errors = Errors()
    accepted: list[NewsletterImage] = []
    if not files:
        errors.add("images", Invalid(N_("Choose one or more images.")))
    for upload in files:
        data = await upload.read(IMAGE_MAX_BYTES + 1)
        if len(data) > IMAGE_MAX_BYTES:
            errors.add("images", Invalid(N_("An image can be at most %(max)s MB."), max=IMAGE_MAX_BYTES // 2**20))
            break
        try:
            # Upright, resized for mail, re-encoded without EXIF, GPS or XMP: these images are public.
            photo = await asyncio.to_thread(photos.process, io.BytesIO(data))
        except Invalid:
            errors.add("images", Invalid(N_("Upload PNG, JPEG or WebP images.")))
            break
        accepted.append(
            NewsletterImage(
                newsletter_id=newsletter.id,
                token=secrets.token_urlsafe(16),
                filename=(upload.filename or "")[:200],
                content_type="image/jpeg",
                width=photo.width,
                height=photo.height,
                data=photo.copies["large"],
            )
        )
    if errors:
        return await _edit_refused(request, ctx, newsletter, errors, _values_of(newsletter))
    ctx.db.add_all(accepted)
    return redirect_with_notice(
        request, ctx.url("edit", newsletter_id=newsletter.id) + "#images", "newsletters.uploaded"
    )


async def image(request: Request, ctx: Context) -> Response:
    token, _dot, _extension = request.path_params["name"].partition(".")
    row = found(
        (
            await ctx.db.execute(
                select(NewsletterImage.data, NewsletterImage.content_type).where(NewsletterImage.token == token)
            )
        ).one_or_none()
    )
    return Response(
        row.data,
        media_type=row.content_type,
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


# ---- test, schedule, send --------------------------------------------------------------------------------------


async def test_send(request: Request, ctx: Context) -> Response:
    newsletter = await _load(request, ctx)
    addresses, errors, _typed = parse_test_addresses(ctx.form)
    if addresses is None or not newsletter.variants:
        values = {**_values_of(newsletter), "addresses": forms.field(ctx.form, "addresses")}
        return await _edit_refused(request, ctx, newsletter, errors, values)
    await service.send_test(ctx.db, ctx.settings, newsletter, ctx.me, addresses)
    return redirect_with_notice(request, ctx.url("edit", newsletter_id=newsletter.id) + "#test", "newsletters.tested")


async def schedule(request: Request, ctx: Context) -> Response:
    newsletter = await _load(request, ctx)
    if not newsletter.editable:
        return _refuse(request, newsletter, NOT_EDITABLE)
    moment, errors, _typed = parse_schedule(ctx.form)
    if moment is not None and not (await service.audience_plan(ctx.db, newsletter)).total:
        errors.add("scheduled_at", Invalid(service_messages["empty"]))
    if moment is not None and service.tag_problems(newsletter):
        errors.add("scheduled_at", Invalid(service_messages["tags"]))
    if errors or moment is None:
        values = {**_values_of(newsletter), **form_values(ctx.form)}
        return await _edit_refused(request, ctx, newsletter, errors, values)
    await service.schedule(ctx.db, newsletter.id, moment, forms.field(ctx.form, "timezone") or None)
    return redirect_with_notice(
        request, ctx.url("edit", newsletter_id=newsletter.id) + "#schedule", "newsletters.scheduled"
    )


async def unschedule(request: Request, ctx: Context) -> Response:
    newsletter = await _load(request, ctx)
    await service.unschedule(ctx.db, newsletter.id)
    return redirect_with_notice(request, ctx.url("edit", newsletter_id=newsletter.id), "newsletters.unscheduled")


service_messages = {
    "empty": N_("No member matches this audience, so there is nobody to send to. Widen the audience first."),
    "tags": N_(
        "This newsletter holds a placeholder that nothing fills in, so it cannot be sent. Correct the text first."
    ),
}


async def _confirm_page(request: Request, ctx: Context, newsletter: Newsletter, status_code: int = 200) -> Response:
    plan = await service.audience_plan(ctx.db, newsletter)
    problems = tag_messages(service.tag_problems(newsletter))
    return _page(
        request,
        "confirm.html",
        {
            "newsletter": newsletter,
            "plan": plan,
            "empty": service_messages["empty"] if not plan.total else None,
            "tag_problems": problems,
            "blocked": service_messages["tags"] if problems else None,
            "audience_lines": await audience_summary(ctx, newsletter),
            **await _pace(ctx, plan.total),
        },
        status_code=status_code,
    )


async def _pace(ctx: Context, recipients: int) -> dict[str, Any]:
    """The expected finish: at the configured rate limit, else at the pace of the last newsletter sent."""
    limit = ctx.settings.smtp_rate
    rate = limit if limit > 0 else await service.last_pace(ctx.db)
    return {"finish": expected_finish(rate, recipients, utcnow()), "rate": rate, "rate_is_limit": limit > 0}


async def confirm(request: Request, ctx: Context) -> Response:
    newsletter = await _load(request, ctx)
    if not newsletter.editable:
        return redirect(ctx.url("report", newsletter_id=newsletter.id))
    return await _confirm_page(request, ctx, newsletter)


async def send(request: Request, ctx: Context) -> Response:
    newsletter = await _load(request, ctx)
    if newsletter.status not in ("draft", "scheduled"):
        if newsletter.status in ("sending", "paused", "sent"):
            return redirect_with_notice(request, ctx.url("report", newsletter_id=newsletter.id), "newsletters.already")
        return _refuse(request, newsletter, NOT_EDITABLE)
    try:
        queued = await service.start_sending(ctx.db, ctx.settings, newsletter.id)
    except (service.NoRecipients, service.UnknownPlaceholders):
        return await _confirm_page(request, ctx, newsletter, status_code=400)
    done = "started" if queued is not None else "already"
    audit.note(request, recipients=queued or 0)  # the entry route() records says to how many people
    return redirect_with_notice(request, ctx.url("report", newsletter_id=newsletter.id), f"newsletters.{done}")


async def pause(request: Request, ctx: Context) -> Response:
    newsletter = await _load(request, ctx)
    if not await service.pause(ctx.db, newsletter.id):
        return _refuse(request, newsletter, N_("Only a newsletter that is being sent can be paused."))
    return redirect_with_notice(request, ctx.url("report", newsletter_id=newsletter.id), "newsletters.paused")


async def resume(request: Request, ctx: Context) -> Response:
    newsletter = await _load(request, ctx)
    if not await service.resume(ctx.db, newsletter.id):
        return _refuse(request, newsletter, N_("Only a paused newsletter can be resumed."))
    return redirect_with_notice(request, ctx.url("report", newsletter_id=newsletter.id), "newsletters.resumed")


async def cancel(request: Request, ctx: Context) -> Response:
    newsletter = await _load(request, ctx)
    if not await service.cancel(ctx.db, newsletter.id):
        return _refuse(request, newsletter, FINISHED)
    return redirect_with_notice(request, ctx.url("report", newsletter_id=newsletter.id), "newsletters.cancelled")


async def retry(request: Request, ctx: Context) -> Response:
    newsletter = await _load(request, ctx)
    retried = await service.retry_failed(ctx.db, newsletter.id)
    if not retried:
        return _refuse(request, newsletter, N_("This newsletter has no failed deliveries to send again."))
    await audit.record(ctx.db, request, "newsletters.retry", "newsletter", newsletter.id, {"deliveries": retried})
    return redirect_with_notice(request, ctx.url("report", newsletter_id=newsletter.id), "newsletters.retried")


# ---- progress and report ---------------------------------------------------------------------------------------


async def report(request: Request, ctx: Context) -> Response:
    newsletter = await _load(request, ctx)
    progress = await service.progress(ctx.db, newsletter)
    return _page(
        request,
        "report.html",
        {
            "newsletter": newsletter,
            "progress": progress,
            "hold": await holds.open_hold(ctx.db),
            "failures": await service.failures(ctx.db, newsletter.id),
            "unsubscribes": await service.unsubscribes(ctx.db, newsletter.id),
            "title": service.title_of(newsletter, i18n.current_language.get()),
            "audience_lines": await audience_summary(ctx, newsletter),
            "finish": _report_finish(ctx.settings, newsletter, progress),
        },
    )


def _report_finish(settings: Settings, newsletter: Newsletter, progress: service.Progress) -> dt.datetime | None:
    """When the send finished, or, while it runs, when it should finish at the pace so far."""
    if newsletter.finished_at is not None or progress.status not in ("sending",):
        return newsletter.finished_at
    started = newsletter.started_at
    if started is None or not progress.done or not progress.pending:
        return None
    elapsed = (utcnow() - started).total_seconds()
    return utcnow() + dt.timedelta(seconds=elapsed / progress.done * progress.pending)


# ---- duplicate and delete --------------------------------------------------------------------------------------


async def duplicate(request: Request, ctx: Context) -> Response:
    newsletter = await _load(request, ctx)
    copy = await service.duplicate(ctx.db, newsletter, ctx.me)
    await audit.record(ctx.db, request, "newsletters.duplicate", "newsletter", copy.id, {"from": newsletter.id})
    return redirect_with_notice(request, ctx.url("edit", newsletter_id=copy.id), "newsletters.duplicated")


async def delete_confirm(request: Request, ctx: Context) -> Response:
    newsletter = await _load(request, ctx)
    if newsletter.status != "draft":
        return _refuse(request, newsletter, ONLY_DRAFTS)
    title = service.title_of(newsletter, i18n.current_language.get())
    return _page(request, "delete.html", {"newsletter": newsletter, "title": title})


async def delete(request: Request, ctx: Context) -> Response:
    newsletter = await _load(request, ctx)
    title = service.title_of(newsletter, newsletter.fallback_language)
    if not await service.delete_draft(ctx.db, newsletter.id):
        return _refuse(request, newsletter, ONLY_DRAFTS)
    await audit.record(
        ctx.db, request, "newsletters.delete_newsletter", "newsletter", newsletter.id, {"subject": title}
    )
    return redirect_with_notice(request, ctx.url("admin_list"), "newsletters.deleted")


async def progress_json(request: Request, ctx: Context) -> Response:
    newsletter = await _load(request, ctx)
    progress = await service.progress(ctx.db, newsletter)
    data = progress.as_dict()
    data["status_name"] = labels.newsletter_status(progress.status)
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


async def deliveries_csv(request: Request, ctx: Context) -> Response:
    newsletter = await _load(request, ctx)
    body = await service.deliveries_csv(ctx.db, newsletter.id)
    return Response(
        "\ufeff" + body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="newsletter-{newsletter.id}-deliveries.csv"',
            "Cache-Control": "no-store",
        },
    )


# ---- public archive --------------------------------------------------------------------------------------------


async def _archived(ctx: Context, limit: int = 200) -> list[Newsletter]:
    statement = (
        select(Newsletter)
        .where(Newsletter.status == "sent", Newsletter.private.is_(False))
        .options(selectinload(Newsletter.variants))
        .order_by(Newsletter.started_at.desc())
        .limit(limit)
    )
    return list((await ctx.db.execute(statement)).scalars())


def _archive_variant(newsletter: Newsletter, language: str) -> Any:
    variants = service.variant_map(newsletter)
    return variants.get(language) or variants.get(newsletter.fallback_language)


async def archive(request: Request, ctx: Context) -> Response:
    language = i18n.current_language.get()
    items = [(n, _archive_variant(n, language)) for n in await _archived(ctx)]
    return render_page(request, "newsletters/archive.html", {"items": items, "web_subject": render.web_subject})


async def archive_item(request: Request, ctx: Context) -> Response:
    newsletter = await service.get(ctx.db, _newsletter_id(request))
    if newsletter is None or newsletter.status != "sent" or newsletter.private:
        raise HTTPException(404)
    wanted = request.query_params.get("lang") or i18n.current_language.get()
    variant = found(_archive_variant(newsletter, wanted if wanted in LANGUAGES else i18n.current_language.get()))
    return render_page(
        request,
        "newsletters/archive_item.html",
        {
            "newsletter": newsletter,
            "variant": variant,
            "subject": render.web_subject(variant.subject, variant.language),
            "content": render.web_html(variant.body, variant.language),
            "languages": [v.language for v in newsletter.variants],
        },
    )


FEED_ENTRIES = 20


async def feed(request: Request, ctx: Context) -> Response:
    language = request.path_params["language"]
    if language not in LANGUAGES:
        raise HTTPException(404)
    with use_language(language):
        entries: list[dict[str, Any]] = []
        # A feed reader wants what is new, not the whole archive in full (the archive page lists it all).
        for newsletter in await _archived(ctx, FEED_ENTRIES):
            variant = _archive_variant(newsletter, language)
            if variant is None:
                continue
            entries.append(
                {
                    "id": newsletter.id,
                    "url": ctx.settings.absolute_url(f"/newsletters/{newsletter.id}?lang={language}"),
                    "title": render.web_subject(variant.subject, variant.language),
                    "updated": newsletter.finished_at or utcnow(),
                    "published": newsletter.started_at or newsletter.created_at,
                    "summary": render.web_subject(variant.preheader, variant.language),
                    "content": render.web_html(variant.body, variant.language),
                }
            )
        updated = max((e["updated"] for e in entries), default=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        xml = templates.get_template("newsletters/feed.xml").render(
            {
                "lang": language,
                "entries": entries,
                "updated": updated,
                "base_url": ctx.settings.base_url,
                "self_url": ctx.settings.absolute_url(f"/newsletters/feed/{language}.atom"),
                "archive_url": ctx.settings.absolute_url("/newsletters"),
            }
        )
    return Response(xml, media_type="application/atom+xml; charset=utf-8", headers=publicpages.last_modified(updated))


routes: list[BaseRoute] = [
    route("/admin/newsletters", admin_list, role="admin"),
    route("/admin/newsletters/new", new, role="admin"),
    route("/admin/newsletters/new", create, methods=("POST",), role="admin", name="create_newsletter", form=EDIT_FORM),
    route("/admin/newsletters/preview", live_preview, methods=("POST",), role="admin", form=EDIT_FORM),
    route("/admin/newsletters/preview.json", live_preview_text, methods=("POST",), role="admin", form=EDIT_FORM),
    route("/admin/newsletters/{newsletter_id:int}", edit, role="admin"),
    route(
        "/admin/newsletters/{newsletter_id:int}",
        update,
        methods=("POST",),
        role="admin",
        name="update_newsletter",
        form=EDIT_FORM,
    ),
    route("/admin/newsletters/{newsletter_id:int}/preview/{language}", stored_preview, role="admin"),
    route(
        "/admin/newsletters/{newsletter_id:int}/images",
        upload_images,
        methods=("POST",),
        role="admin",
        form=FormLimits(max_files=IMAGES_PER_UPLOAD, max_part_size=IMAGE_MAX_BYTES),
    ),
    route("/admin/newsletters/{newsletter_id:int}/test", test_send, methods=("POST",), role="admin"),
    route("/admin/newsletters/{newsletter_id:int}/schedule", schedule, methods=("POST",), role="admin"),
    route("/admin/newsletters/{newsletter_id:int}/unschedule", unschedule, methods=("POST",), role="admin"),
    route("/admin/newsletters/{newsletter_id:int}/confirm", confirm, role="admin"),
    route("/admin/newsletters/{newsletter_id:int}/duplicate", duplicate, methods=("POST",), role="admin"),
    route("/admin/newsletters/{newsletter_id:int}/delete", delete_confirm, role="admin"),
    route(
        "/admin/newsletters/{newsletter_id:int}/delete",
        delete,
        methods=("POST",),
        role="admin",
        name="delete_newsletter",
    ),
    route("/admin/newsletters/{newsletter_id:int}/send", send, methods=("POST",), role="admin"),
    route("/admin/newsletters/{newsletter_id:int}/pause", pause, methods=("POST",), role="admin"),
    route("/admin/newsletters/{newsletter_id:int}/resume", resume, methods=("POST",), role="admin"),
    route("/admin/newsletters/{newsletter_id:int}/cancel", cancel, methods=("POST",), role="admin"),
    route("/admin/newsletters/{newsletter_id:int}/retry", retry, methods=("POST",), role="admin"),
    route("/admin/newsletters/{newsletter_id:int}/report", report, role="admin"),
    route("/admin/newsletters/{newsletter_id:int}/progress.json", progress_json, role="admin"),
    route("/admin/newsletters/{newsletter_id:int}/deliveries.csv", deliveries_csv, role="admin"),
    route("/newsletters", archive, public=True),
    route("/newsletters/feed/{language}.atom", feed, name="newsletters_feed", public=True),
    route("/newsletters/images/{name}", image),
    route("/newsletters/{newsletter_id:int}", archive_item, public=True),
]
