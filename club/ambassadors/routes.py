"""Ambassador pages: logging activities (/activities), the public wall and feed (/ambassadors), recruiting
QR codes, past terms and certificates (/me/ambassador). Admin pages are in admin_routes.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
import re
from email.utils import parseaddr
from typing import Any

import segno
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute

from club import forms, i18n, publicpages
from club.accounts.models import Person
from club.ambassadors import certificate, labels, photos, service
from club.ambassadors import forms as activity_forms
from club.ambassadors.admin_routes import routes as admin_routes
from club.ambassadors.certificate_texts import certificate_text
from club.ambassadors.models import ACTIVITY_CITIES, CATEGORIES, Activity, Appointment
from club.ambassadors.pages import page
from club.forms import Errors, Invalid
from club.i18n import N_, _
from club.requestinfo import settings_of
from club.templating import templates
from club.web import Context, FormLimits, found, redirect, route

log = logging.getLogger("club.ambassadors")

# Parsed before counting, so that a seventh photo gets a clear message rather than a bare 400.
MAX_FILES_PARSED = 12
MAX_FIELD_BYTES = 64 * 1024
ACTIVITY_FORM = FormLimits(max_files=MAX_FILES_PARSED, max_part_size=MAX_FIELD_BYTES)
CURSOR_RE = re.compile(r"(\d{4}-\d{2}-\d{2})\.(\d{1,12})")
PHOTO_NAME_RE = re.compile(r"([0-9a-f]{32})-(large|thumb)\.jpg")


async def require_term(ctx: Context) -> Appointment:
    """An ambassador's pages need a current term; when it has ended they are closed (403)."""
    appointment = await service.current_appointment(ctx.db, ctx.me.id)
    if appointment is None:
        raise HTTPException(403)
    return appointment


# ---- the ambassador's own pages --------------------------------------------------------------------------------


async def dashboard(request: Request, ctx: Context) -> Response:
    appointment = await require_term(ctx)
    ambassador = await service.ambassador_of(ctx.db, ctx.me.id)
    assert ambassador is not None
    return page(
        request,
        "ambassadors/dashboard.html",
        {
            "appointment": appointment,
            "totals": await service.totals_for(ctx.db, ctx.me.id, appointment=appointment),
            "activities": await service.activities_of(ctx.db, ctx.me.id),
            "join_url": service.join_url(settings_of(request), ambassador.ref),
        },
    )


def _form_context(
    appointment: Appointment,
    activity: Activity | None,
    values: dict[str, str],
    errors: Errors,
    event_choices: list[tuple[int, str]] | None = None,
) -> dict[str, Any]:
    return {
        "event_choices": event_choices or [],
        "appointment": appointment,
        "activity": activity,
        "values": values,
        "errors": errors,
        "max_date": service.station_today(appointment.stationed_in).isoformat(),
        "max_photos": photos.MAX_PHOTOS,
    }


async def new_activity_page(request: Request, ctx: Context) -> Response:
    appointment = await require_term(ctx)
    values = {
        "happened_on": service.station_today(appointment.stationed_in).isoformat(),
        "city": appointment.stationed_in,
        "public": "1",
        "people_reached": "0",
        "hours": "1",
    }
    return page(
        request,
        "ambassadors/activity_form.html",
        _form_context(appointment, None, values, Errors(), await _event_choices(ctx)),
    )


async def _event_choices(ctx: Context) -> list[tuple[int, str]]:
    from club.events import service as events  # the events an activity can be linked to

    return await events.choices_for_activities(ctx.db, ctx.language)


async def create_activity(request: Request, ctx: Context) -> Response:
    appointment = await require_term(ctx)
    return await _save(request, ctx, appointment, None)


async def _own_editable(request: Request, ctx: Context, appointment: Appointment) -> Activity | Response:
    """The person's own activity if they may still change it; else the page that says why not and what to do."""
    activity = found(await service.own_activity(ctx.db, ctx.me.id, request.path_params["activity_id"]))
    if not activity.editable or activity.appointment_id != appointment.id:
        club_address = parseaddr(settings_of(request).mail_from)[1]
        context = {"activity": activity, "club_address": club_address}
        return page(request, "ambassadors/locked.html", context, status_code=403)
    return activity


async def edit_activity_page(request: Request, ctx: Context) -> Response:
    appointment = await require_term(ctx)
    activity = await _own_editable(request, ctx, appointment)
    if isinstance(activity, Response):
        return activity
    values = {
        "happened_on": activity.happened_on.isoformat(),
        "title": activity.title,
        "category": activity.category,
        "city": activity.city,
        "venue": activity.venue,
        "description": activity.description,
        "people_reached": str(activity.people_reached),
        "hours": f"{activity.hours:g}",
        "link": activity.link or "",
        "public": "1" if activity.public else "",
        "event": str(activity.event_id or ""),
    }
    return page(
        request,
        "ambassadors/activity_form.html",
        _form_context(appointment, activity, values, Errors(), await _event_choices(ctx)),
    )


async def update_activity(request: Request, ctx: Context) -> Response:
    appointment = await require_term(ctx)
    activity = await _own_editable(request, ctx, appointment)
    if isinstance(activity, Response):
        return activity
    return await _save(request, ctx, appointment, activity)


async def _save(request: Request, ctx: Context, appointment: Appointment, activity: Activity | None) -> Response:
    """Check everything first (fields, then photos); store nothing unless all of it is right."""
    form, settings = ctx.form, ctx.settings
    today = service.station_today(appointment.stationed_in)
    data, errors, values = activity_forms.activity(
        form, term_start=appointment.starts_on, term_end=appointment.ends_on, today=today
    )
    choices = await _event_choices(ctx)
    chosen = forms.field(form, "event")
    values["event"] = chosen[:12]
    if chosen and chosen not in {str(event_id) for event_id, _title in choices}:
        errors.add("event", Invalid(N_("Choose one of the options.")))
    existing = [photo.key for photo in activity.photos] if activity else []
    remove_keys = [key for key in form.getlist("remove_photo") if isinstance(key, str) and key in existing]
    uploads = [item for item in form.getlist("photos") if isinstance(item, UploadFile) and item.filename]
    status_code = 400
    if len(existing) - len(remove_keys) + len(uploads) > photos.MAX_PHOTOS:
        errors.add("photos", Invalid(N_("Add at most %(max)s photos to an activity."), max=photos.MAX_PHOTOS))
    else:
        for upload in uploads:
            try:
                photos.check_size(upload.size)
            except photos.PhotoTooLarge as exc:
                errors.add("photos", exc)
                status_code = 413
    processed: list[photos.ProcessedPhoto] = []
    if not errors:
        for upload in uploads:
            try:
                await upload.seek(0)
                processed.append(await run_in_threadpool(photos.process, upload.file))
            except Invalid as exc:
                errors.add("photos", exc)
                break
    if errors or data is None:
        return page(
            request,
            "ambassadors/activity_form.html",
            _form_context(appointment, activity, values, errors, choices),
            status_code=status_code,
        )
    submit = forms.field(form, "action") != "draft"
    saved = await service.save_activity(
        ctx.db,
        person=ctx.me,
        appointment=appointment,
        data=data,
        submit=submit,
        new_photos=processed,
        activity=activity,
        remove_keys=remove_keys,
    )
    saved.event_id = int(chosen) if chosen else None
    for photo in processed:
        await run_in_threadpool(photos.store, settings.var_dir, photo)
    service.remove_photo_files(settings.var_dir, remove_keys)
    return redirect(ctx.url("show_activity", activity_id=saved.id))


async def show_activity(request: Request, ctx: Context) -> Response:
    await require_term(ctx)
    activity = found(await service.own_activity(ctx.db, ctx.me.id, request.path_params["activity_id"]))
    return page(request, "ambassadors/activity.html", {"activity": activity})


async def withdraw_activity(request: Request, ctx: Context) -> Response:
    appointment = await require_term(ctx)
    activity = await _own_editable(request, ctx, appointment)
    if isinstance(activity, Response):
        return activity
    keys = await service.withdraw(ctx.db, activity)
    service.remove_photo_files(settings_of(request).var_dir, keys)
    return redirect(ctx.url("ambassador_dashboard"))


async def _qr(request: Request, ctx: Context) -> segno.QRCode:
    await require_term(ctx)
    ambassador = await service.ambassador_of(ctx.db, ctx.me.id)
    assert ambassador is not None
    return segno.make(service.join_url(settings_of(request), ambassador.ref), error="m")


async def qr_png(request: Request, ctx: Context) -> Response:
    code = await _qr(request, ctx)
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=16, border=4, dark="#0f3d3e")
    return Response(
        buffer.getvalue(),
        media_type="image/png",
        headers={"Content-Disposition": 'inline; filename="join-qr.png"', "Cache-Control": "private, max-age=3600"},
    )


async def qr_svg(request: Request, ctx: Context) -> Response:
    code = await _qr(request, ctx)
    buffer = io.BytesIO()
    code.save(
        buffer,
        kind="svg",
        scale=10,
        border=4,
        dark="#0f3d3e",
        xmldecl=False,
        title=_("Join the Ghent–Kanazawa Supporters Club"),
    )
    return Response(
        buffer.getvalue(),
        media_type="image/svg+xml",
        headers={
            "Content-Disposition": 'inline; filename="join-qr.svg"',
            "Cache-Control": "private, max-age=3600",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )


# ---- past terms and the certificate (any member: the role is gone once a term ends) ----------------------------


def certificate_open(appointment: Appointment, today: dt.date) -> bool:
    return appointment.ended_on is not None or today >= appointment.ends_on - service.CERTIFICATE_FROM


async def my_terms(request: Request, ctx: Context) -> Response:
    terms = await service.appointments_of(ctx.db, ctx.me.id)
    if not terms:
        raise HTTPException(404)
    today = service.club_today()
    rows = []
    for term in terms:
        totals = await service.totals_for(ctx.db, ctx.me.id, appointment=term)
        is_open = certificate_open(term, today)
        if is_open:
            _prepare_certificate(_certificate_text(ctx.me, term, totals))
        rows.append((term, totals, is_open, term.ends_on - service.CERTIFICATE_FROM))
    return page(request, "ambassadors/terms.html", {"terms": rows, "today": today})


_preparing: set[asyncio.Future[bytes]] = set()


def _prepare_certificate(text: certificate.CertificateText) -> None:
    """Start making the certificate in a worker thread while the person reads the page; the click then finds it."""
    if certificate.is_made(text):
        return
    try:
        certificate.find_font()
    except certificate.FontMissing:
        return
    future = asyncio.get_running_loop().run_in_executor(None, certificate.cached_build, text)
    _preparing.add(future)
    future.add_done_callback(_prepared)


def _prepared(future: asyncio.Future[bytes]) -> None:
    _preparing.discard(future)
    if not future.cancelled() and future.exception() is not None:
        log.error("preparing a certificate failed", exc_info=future.exception())


def _certificate_text(person: Person, term: Appointment, totals: service.Totals) -> certificate.CertificateText:
    return certificate_text(
        i18n.current_language.get(), name=person.name, term=term, totals=totals, issued_on=service.club_today()
    )


async def certificate_pdf(request: Request, ctx: Context) -> Response:
    term = await ctx.db.get(Appointment, request.path_params["appointment_id"])
    if term is None or term.person_id != ctx.me.id:
        raise HTTPException(404)
    if not certificate_open(term, service.club_today()):
        raise HTTPException(403)
    totals = await service.totals_for(ctx.db, ctx.me.id, appointment=term)
    text = _certificate_text(ctx.me, term, totals)
    try:
        certificate.find_font()
        pdf = await run_in_threadpool(certificate.cached_build, text)
    except certificate.FontMissing:
        return page(request, "ambassadors/certificate_unavailable.html", status_code=503)
    filename = f"certificate-{term.starts_on.year}-{term.last_day.year}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "private, no-store"},
    )


# ---- the public wall, an activity, the feed, photos ------------------------------------------------------------


def wall_filter(request: Request) -> service.WallFilter:
    """Unknown filter values are ignored, so an old or mistyped link still shows the wall."""
    params = request.query_params
    category = params.get("category", "")
    city = params.get("city", "")
    year_text = params.get("year", "")
    year = int(year_text) if year_text.isdigit() and 2000 <= int(year_text) <= 2100 else None
    return service.WallFilter(
        category=category if category in CATEGORIES else "", city=city if city in ACTIVITY_CITIES else "", year=year
    )


def parse_cursor(value: str) -> tuple[dt.date, int] | None:
    match = CURSOR_RE.fullmatch(value)
    if not match:
        return None
    try:
        return dt.date.fromisoformat(match.group(1)), int(match.group(2))
    except ValueError:
        return None


async def wall(request: Request, ctx: Context) -> Response:
    filters = wall_filter(request)
    before = parse_cursor(request.query_params.get("before", ""))
    activities, cursor = await service.wall_page(ctx.db, filters, before=before)
    older = None
    if cursor is not None:
        older = {**filters.query(), "before": f"{cursor[0].isoformat()}.{cursor[1]}"}
    return page(
        request,
        "ambassadors/wall.html",
        {
            "activities": activities,
            "filters": filters,
            "years": await service.wall_years(ctx.db),
            "older": older,
            "paged": before is not None,
        },
    )


async def public_activity(request: Request, ctx: Context) -> Response:
    activity = found(await service.public_activity(ctx.db, request.path_params["activity_id"]))
    return page(request, "ambassadors/public_activity.html", {"activity": activity})


async def feed(request: Request, ctx: Context) -> Response:
    settings = settings_of(request)
    entries = await service.feed_entries(ctx.db)
    first = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    updated = max((entry.reviewed_at or entry.updated_at for entry in entries), default=first)
    xml = templates.get_template("ambassadors/feed.xml").render(
        {
            "entries": entries,
            "updated": updated.isoformat(),
            "title": _("Ambassadors of the Ghent–Kanazawa Supporters Club"),
            "subtitle": _("What our ambassadors do for Ghent and Kanazawa"),
            "self_url": settings.absolute_url("/ambassadors/feed.atom"),
            "wall_url": settings.absolute_url("/ambassadors"),
            "absolute": settings.absolute_url,
            "lang": i18n.current_language.get(),
            "category_label": labels.category,
        }
    )
    headers = {"Cache-Control": "public, max-age=300", **publicpages.last_modified(updated)}
    return Response(xml, media_type="application/atom+xml; charset=utf-8", headers=headers)


async def photo(request: Request, ctx: Context) -> Response:
    key, size = found(PHOTO_NAME_RE.fullmatch(request.path_params["name"])).groups()
    shown = await service.photo_for_viewer(ctx.db, key, ctx.person)
    path = photos.photo_path(settings_of(request).var_dir, key, size)
    if shown is None or not path.is_file():
        raise HTTPException(404)
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


routes: list[BaseRoute] = [
    route("/activities", dashboard, role="ambassador", name="ambassador_dashboard"),
    route("/activities/new", new_activity_page, role="ambassador"),
    route("/activities/new", create_activity, methods=["POST"], role="ambassador", form=ACTIVITY_FORM),
    route("/activities/qr.png", qr_png, role="ambassador"),
    route("/activities/qr.svg", qr_svg, role="ambassador"),
    route("/activities/{activity_id:int}", show_activity, role="ambassador"),
    route("/activities/{activity_id:int}/edit", edit_activity_page, role="ambassador"),
    route(
        "/activities/{activity_id:int}/edit", update_activity, methods=["POST"], role="ambassador", form=ACTIVITY_FORM
    ),
    route("/activities/{activity_id:int}/withdraw", withdraw_activity, methods=["POST"], role="ambassador"),
    route("/me/ambassador", my_terms, role="member"),
    route("/me/ambassador/certificate/{appointment_id:int}.pdf", certificate_pdf, role="member"),
    route("/ambassadors", wall, public=True),
    route("/ambassadors/feed.atom", feed, name="ambassadors_feed", public=True),
    route("/ambassadors/activities/{activity_id:int}", public_activity, public=True),
    route("/ambassadors/photos/{name}", photo),
    *admin_routes,
]
