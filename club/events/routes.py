"""Event pages: the public list, each event, answers from the mail, tickets, the door (check-in), the admin pages.
Handlers parse, call the service, and render."""

from __future__ import annotations

import csv
import io

import segno
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from club import forms, i18n, labels, publicpages
from club.accounts.models import CITIES, Person
from club.admin import audit
from club.csvfile import neutralise as safe_cell
from club.db import utcnow
from club.events import ics, service
from club.events.forms import form_values, parse_answer, parse_event, values_of
from club.events.models import Event, Zone
from club.events.service import EventError
from club.events.text import description_html, plain_description
from club.i18n import N_, _
from club.newsletters.audience import interest_choices
from club.templating import templates
from club.web import NOTICES, Context, found, redirect_with_notice, render, route

STATUS_NAMES = {"draft": N_("Draft"), "published": N_("Published"), "cancelled": N_("Cancelled")}
ANSWER_NAMES = {
    "yes": N_("Coming"),
    "waiting": N_("On the waiting list"),
    "no": N_("Not coming"),
    "pending": N_("Waiting for confirmation"),
}
ZONE_NAMES = {"Europe/Brussels": N_("Ghent (Europe/Brussels)"), "Asia/Tokyo": N_("Kanazawa (Asia/Tokyo)")}
# Messages of service.EventError, marked for translation here.
ERRORS = (
    N_("Only a draft can be published."),
    N_("This event has been cancelled."),
    N_("Publish the event before inviting."),
    N_("This event is not open for answers."),
    N_("The deadline for answers has passed."),
    N_("Too many guests."),
    N_("Not enough seats left for that many guests."),
    N_("Please fill in a name."),
)
NOTICES.update(
    {
        "events.saved": N_("The event is saved."),
        "events.published": N_("The event is published."),
        "events.cancelled": N_("The event is cancelled; those who said yes are told."),
        "events.invited": N_("The invitations are on their way."),
        "events.answered": N_("Your answer is saved."),
    }
)


async def _undo(ctx: Context, *objects: object) -> None:
    """Roll back what a refused action began; the page that says why still shows these objects and who is
    logged in, so they are read again."""
    db = ctx.db
    await db.rollback()
    for item in (*objects, ctx.person):
        if item is not None:
            await db.refresh(item)


def _event_context(event: Event) -> dict[str, object]:
    lang = i18n.current_language.get()
    return {
        "event": event,
        "title": event.title(lang),
        "text_lang": event.text_language(lang),
        "description": description_html(event, lang),
        "times": service.times_of(event),
        "STATUS_NAMES": STATUS_NAMES,
        "ANSWER_NAMES": ANSWER_NAMES,
    }


async def _event_or_404(request: Request, ctx: Context, *, announced: bool = False, public: bool = False) -> Event:
    """The path's event; announced: not a draft (published or cancelled); public: announced, and public."""
    event = found(await service.get(ctx.db, request.path_params["event_id"]))
    if ((announced or public) and event.status == "draft") or (public and not event.public):
        raise HTTPException(404)
    return event


# ---- public ----------------------------------------------------------------------------------------------------


async def events_list(request: Request, ctx: Context) -> Response:
    db = ctx.db
    upcoming = await service.upcoming_public(db)
    _changes_with(request, upcoming)
    return render(
        request,
        "events/list.html",
        {
            "upcoming": upcoming,
            "past": await service.past_public(db, limit=20),
            "lang": i18n.current_language.get(),
            "times_of": service.times_of,
        },
    )


async def event_page(request: Request, ctx: Context) -> Response:
    event = await _event_or_404(request, ctx, announced=True)
    return await _event_page(request, ctx, event)


async def _event_page(
    request: Request,
    ctx: Context,
    event: Event,
    *,
    status_code: int = 200,
    errors: forms.Errors | None = None,
    values: dict[str, object] | None = None,
    problem: str | None = None,
) -> Response:
    person: Person | None = ctx.person
    mine = await service.rsvp_of(ctx.db, event.id, person.id) if person else None
    if not event.public and mine is None and (person is None or person.role != "admin"):
        raise HTTPException(404)
    _changes_with(request, [event])
    numbers = await service.counts(ctx.db, event.id)
    return render(
        request,
        "events/event.html",
        {
            **_event_context(event),
            "mine": mine,
            "free": numbers.free(event.capacity),
            "map_url": "https://www.openstreetmap.org/search?query=" + _quote(f"{event.venue} {event.address}"),
            "errors": errors or {},
            "join_values": values or {"guests": "0", "newsletter": "1"},
            "problem": problem,
            "CITIES": CITIES,
            "CITY_NAMES": labels.CITIES,
        },
        status_code=status_code,
    )


def _changes_with(request: Request, events: list[Event]) -> None:
    """A kept public page of these events changes by itself when one starts, closes its answers or ends."""
    publicpages.until(request, *(moment for e in events for moment in (e.rsvp_deadline, e.starts_at, e.ends_at)))


def _quote(text: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(text.strip())


async def event_ics(request: Request, ctx: Context) -> Response:
    event = await _event_or_404(request, ctx, public=True)
    lang = i18n.current_language.get()
    body = ics.single(event, lang, service.event_url(ctx.settings, event))
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="event-{event.id}.ics"'},
    )


async def feed_ics(request: Request, ctx: Context) -> Response:
    lang = i18n.current_language.get()
    events = await service.upcoming_public(ctx.db)
    _changes_with(request, events)
    urls = {event.id: service.event_url(ctx.settings, event) for event in events}
    body = ics.feed(events, lang, urls, _("Events of the Ghent–Kanazawa Supporters Club"))
    return Response(body, media_type="text/calendar; charset=utf-8", headers=_newest(events))


async def feed_atom(request: Request, ctx: Context) -> Response:
    lang = i18n.current_language.get()
    settings = ctx.settings
    events = await service.upcoming_public(ctx.db)
    _changes_with(request, events)
    entries = [
        {
            "title": event.title(lang),
            "url": service.event_url(settings, event),
            "event": event,
            "summary": plain_description(event, lang),
            "updated": event.updated_at,
        }
        for event in events
    ]
    xml = templates.get_template("events/feed.xml").render(
        lang=lang,
        entries=entries,
        self_url=settings.absolute_url("/events/feed.xml"),
        list_url=settings.absolute_url("/events"),
        updated=max((e.updated_at for e in events), default=utcnow()),
    )
    return Response(xml, media_type="application/atom+xml; charset=utf-8", headers=_newest(events))


def _newest(events: list[Event]) -> dict[str, str]:
    return publicpages.last_modified(max((e.updated_at for e in events), default=utcnow()))


# ---- answers ---------------------------------------------------------------------------------------------------


async def _person_from_token(request: Request, ctx: Context, event: Event) -> Person:
    person_id = request.path_params["person_id"]
    if not service.check_token(ctx.settings, event.id, person_id, request.path_params["token"]):
        raise HTTPException(404)
    person = found(await ctx.db.get(Person, person_id))
    if ctx.person is None and person.language in i18n.LANGUAGES:
        i18n.current_language.set(person.language)  # the page of a mail's link speaks the mail's language
    return person


async def rsvp_page(request: Request, ctx: Context) -> Response:
    """The page an answer link in a mail opens: it shows the choice; only its button records it."""
    event = await _event_or_404(request, ctx, announced=True)
    person = await _person_from_token(request, ctx, event)
    return await _render_answer(request, ctx, event, person, status_code=200)


async def _render_answer(
    request: Request,
    ctx: Context,
    event: Event,
    person: Person,
    *,
    status_code: int,
    errors: forms.Errors | None = None,
    values: dict[str, object] | None = None,
    problem: str | None = None,
) -> Response:
    mine = await service.rsvp_of(ctx.db, event.id, person.id)
    suggested = request.query_params.get("answer", "")
    if values is None:
        values = {
            "answer": mine.status if mine and mine.status in ("yes", "waiting") else suggested,
            "guests": str(mine.guests) if mine else "0",
            "note": mine.answer if mine else "",
        }
    return render(
        request,
        "events/answer.html",
        {
            **_event_context(event),
            "invitee": person,
            "mine": mine,
            "errors": errors or {},
            "values": values,
            "problem": problem,
            "action": request.url.path,
            "settings_url": service.ticket_url,
            "ticket_url": service.ticket_url(ctx.settings, mine) if mine and mine.status == "yes" else None,
        },
        status_code=status_code,
    )


async def _record_answer(request: Request, ctx: Context, event: Event, person: Person, back: str) -> Response:
    form = ctx.form
    coming, guests, note, errors = parse_answer(form, event)
    if errors:
        return await _render_answer(
            request, ctx, event, person, status_code=400, errors=errors, values=form_values(form)
        )
    try:
        await service.answer(ctx.db, ctx.settings, event, person, coming=coming, guests=guests, note=note)
    except EventError as error:
        await _undo(ctx, event, person)
        return await _render_answer(
            request, ctx, event, person, status_code=409, values=form_values(form), problem=error.message
        )
    return redirect_with_notice(request, back, "events.answered")


async def rsvp_post(request: Request, ctx: Context) -> Response:
    event = await _event_or_404(request, ctx, announced=True)
    person = await _person_from_token(request, ctx, event)
    return await _record_answer(request, ctx, event, person, request.url.path)


async def answer_post(request: Request, ctx: Context) -> Response:
    """A logged-in member answering on the event's page."""
    event = await _event_or_404(request, ctx, announced=True)
    return await _record_answer(request, ctx, event, ctx.me, ctx.url("event_page", event_id=event.id))


async def join_and_answer(request: Request, ctx: Context) -> Response:
    """A visitor joins the club and says yes at once: the sign-up's double opt-in comes first, the answer is
    recorded when they confirm. Every address gets the same page, as on /join."""
    from club.members import service as members
    from club.members.forms import parse_signup

    event = await _event_or_404(request, ctx, public=True)
    form = ctx.form
    parsed = parse_signup(form, [])
    coming, guests, note, errors = parse_answer(form, event)
    errors.update(parsed.errors)
    if parsed.value is None or errors:
        return await _event_page(
            request, ctx, event, status_code=400, errors=errors, values={**parsed.values, **form_values(form)}
        )
    try:
        service._check_open(event, utcnow())
        await members.join(ctx.db, ctx.settings, parsed.value)
        person = await members.find_by_email(ctx.db, parsed.value.email)
        if person is not None and person.confirmed_at is None:
            await service.hold_answer(ctx.db, event, person, guests=guests, note=note)
    except EventError as error:
        await _undo(ctx, event)
        return await _event_page(request, ctx, event, status_code=409, problem=error.message, values=form_values(form))
    return render(request, "events/joined.html", _event_context(event))


async def ticket_page(request: Request, ctx: Context) -> Response:
    event = found(await service.get(ctx.db, request.path_params["event_id"]))
    rsvp = found(await service.ticket(ctx.db, request.path_params["event_id"], request.path_params["code"]))
    url = service.ticket_url(ctx.settings, rsvp)
    qr = segno.make(url, error="m").svg_inline(scale=6, border=2)
    return render(request, "events/ticket.html", {**_event_context(event), "rsvp": rsvp, "qr": qr, "ticket_url": url})


async def ticket_qr(request: Request, ctx: Context) -> Response:
    rsvp = found(await service.ticket(ctx.db, request.path_params["event_id"], request.path_params["code"]))
    buffer = io.BytesIO()
    segno.make(service.ticket_url(ctx.settings, rsvp), error="m").save(buffer, kind="png", scale=8, border=3)
    return Response(buffer.getvalue(), media_type="image/png")


# ---- the door --------------------------------------------------------------------------------------------------


def _door_keeper(ctx: Context) -> Person:
    person = ctx.me
    if person.role not in ("admin", "ambassador"):
        raise HTTPException(403)
    return person


RESULT_NAMES = {
    "arrived": N_("Welcome! Checked in."),
    "again": N_("Already checked in: this ticket was scanned before."),
    "unknown": N_("Unknown ticket: it is not a ticket for this event."),
    "not-coming": N_("This answer is not a yes (cancelled or waiting list): no seat."),
}


async def _door(
    request: Request,
    ctx: Context,
    event: Event,
    *,
    result: service.CheckIn | None = None,
    status_code: int = 200,
    problem: str | None = None,
) -> Response:
    search = request.query_params.get("q", "")[:100]
    db = ctx.db
    return render(
        request,
        "events/door.html",
        {
            **_event_context(event),
            "search": search,
            "found": await service.rsvps(db, event.id, search=search) if search else [],
            "numbers": await service.counts(db, event.id),
            "result": result,
            "RESULT_NAMES": RESULT_NAMES,
            "problem": problem,
        },
        status_code=status_code,
        headers={"Permissions-Policy": "camera=(self), microphone=(), geolocation=()"},
    )


async def door(request: Request, ctx: Context) -> Response:
    _door_keeper(ctx)
    return await _door(request, ctx, await _event_or_404(request, ctx))


def _result_json(result: service.CheckIn, numbers: service.Counts) -> dict[str, object]:
    rsvp = result.rsvp
    return {
        "outcome": result.outcome,
        "message": _(RESULT_NAMES[result.outcome]),
        "name": rsvp.name if rsvp else "",
        "guests": rsvp.guests if rsvp else 0,
        "guests_text": i18n.ngettext("%(num)s guest", "%(num)s guests", rsvp.guests) if rsvp else "",
        "arrived": numbers.arrived,
        "expected": numbers.seats,
    }


async def door_check_in(request: Request, ctx: Context) -> Response:
    keeper = _door_keeper(ctx)
    event = await _event_or_404(request, ctx)
    form = ctx.form
    code = forms.field(form, "code")
    rsvp_id = forms.field(form, "rsvp")
    if code:
        result = await service.check_in(ctx.db, event, keeper, code=code)
    elif rsvp_id.isdigit() and len(rsvp_id) < 10:
        result = await service.check_in(ctx.db, event, keeper, rsvp_id=int(rsvp_id))
    else:
        result = service.CheckIn("unknown", None)
    if "application/json" in request.headers.get("accept", ""):
        numbers = await service.counts(ctx.db, event.id)
        return JSONResponse(_result_json(result, numbers), headers={"Cache-Control": "no-store"})
    return await _door(request, ctx, event, result=result, status_code=200 if result.outcome == "arrived" else 409)


async def door_walk_in(request: Request, ctx: Context) -> Response:
    keeper = _door_keeper(ctx)
    event = await _event_or_404(request, ctx)
    form = ctx.form
    try:
        guests = forms.integer(forms.field(form, "guests") or "0", minimum=0, maximum=service.GUEST_LIMIT) or 0
        rsvp = await service.walk_in(ctx.db, event, keeper, name=forms.field(form, "name"), guests=guests)
    except forms.Invalid:
        return await _door(request, ctx, event, status_code=400, problem=N_("Too many guests."))
    except EventError as error:
        return await _door(request, ctx, event, status_code=400, problem=error.message)
    return await _door(request, ctx, event, result=service.CheckIn("arrived", rsvp))


async def door_count(request: Request, ctx: Context) -> Response:
    _door_keeper(ctx)
    event = await _event_or_404(request, ctx)
    numbers = await service.counts(ctx.db, event.id)
    return JSONResponse({"arrived": numbers.arrived, "expected": numbers.seats}, headers={"Cache-Control": "no-store"})


# ---- admin -----------------------------------------------------------------------------------------------------


async def _edit_context(ctx: Context) -> dict[str, object]:
    lang = i18n.current_language.get()
    return {
        "interests": await interest_choices(ctx.db, lang),
        "CITIES": CITIES,
        "CITY_NAMES": labels.CITIES,
        "ZONES": tuple(Zone),
        "ZONE_NAMES": ZONE_NAMES,
        "STATUS_NAMES": STATUS_NAMES,
    }


async def admin_list(request: Request, ctx: Context) -> Response:
    db = ctx.db
    events = await service.all_events(db)
    numbers = {event.id: await service.counts(db, event.id) for event in events}
    return render(
        request,
        "events/admin_list.html",
        {"events": events, "numbers": numbers, "STATUS_NAMES": STATUS_NAMES, "lang": i18n.current_language.get()},
    )


async def admin_new(request: Request, ctx: Context) -> Response:
    values = {"zone": "Europe/Brussels", "fallback": "en", "public": "1", "max_guests": "1", "reminder_days": "2"}
    return render(request, "events/edit.html", {**await _edit_context(ctx), "event": None, "values": values})


async def admin_create(request: Request, ctx: Context) -> Response:
    form = ctx.form
    context = await _edit_context(ctx)
    parsed = parse_event(form, [slug for slug, _label in context["interests"]])  # type: ignore[attr-defined]
    if parsed.value is None:
        return render(
            request,
            "events/edit.html",
            {**context, "event": None, "errors": parsed.errors, "values": parsed.values},
            status_code=400,
        )
    event = await service.create(ctx.db, parsed.value)
    audit.about(request, "event", event.id)
    return redirect_with_notice(request, ctx.url("admin_event", event_id=event.id), "events.saved")


async def _admin_page(
    request: Request,
    ctx: Context,
    event: Event,
    *,
    status_code: int = 200,
    errors: forms.Errors | None = None,
    values: dict[str, object] | None = None,
    problem: str | None = None,
) -> Response:
    db = ctx.db
    return render(
        request,
        "events/edit.html",
        {
            **await _edit_context(ctx),
            "event": event,
            "errors": errors or {},
            "values": values if values is not None else values_of(event),
            "numbers": await service.counts(db, event.id),
            "attendees": await service.rsvps(db, event.id),
            "problem": problem,
            "ANSWER_NAMES": ANSWER_NAMES,
        },
        status_code=status_code,
    )


async def admin_event(request: Request, ctx: Context) -> Response:
    return await _admin_page(request, ctx, await _event_or_404(request, ctx))


async def admin_update(request: Request, ctx: Context) -> Response:
    event = await _event_or_404(request, ctx)
    form = ctx.form
    context = await _edit_context(ctx)
    parsed = parse_event(form, [slug for slug, _label in context["interests"]])  # type: ignore[attr-defined]
    if parsed.value is None:
        return await _admin_page(request, ctx, event, status_code=400, errors=parsed.errors, values=parsed.values)
    told = await service.change(ctx.db, ctx.settings, event, parsed.value)
    audit.note(request, told=told)
    return redirect_with_notice(request, ctx.url("admin_event", event_id=event.id), "events.saved")


async def _admin_action(request: Request, ctx: Context, action: str) -> Response:
    event = await _event_or_404(request, ctx)
    settings = ctx.settings
    try:
        if action == "publish":
            await service.publish(ctx.db, event)
            notice = "events.published"
        elif action == "cancel":
            audit.note(request, told=await service.cancel(ctx.db, settings, event))
            notice = "events.cancelled"
        else:
            audit.note(request, recipients=await service.invite(ctx.db, settings, event))
            notice = "events.invited"
    except EventError as error:
        await _undo(ctx, event)
        return await _admin_page(request, ctx, event, status_code=409, problem=error.message)
    return redirect_with_notice(request, ctx.url("admin_event", event_id=event.id), notice)


async def admin_publish(request: Request, ctx: Context) -> Response:
    return await _admin_action(request, ctx, "publish")


async def admin_cancel(request: Request, ctx: Context) -> Response:
    return await _admin_action(request, ctx, "cancel")


async def admin_invite(request: Request, ctx: Context) -> Response:
    return await _admin_action(request, ctx, "invite")


async def admin_attendees_csv(request: Request, ctx: Context) -> Response:
    event = await _event_or_404(request, ctx)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_("Name"), _("Answer"), _("Guests"), event.question or _("Note"), _("Checked in")])
    for rsvp in await service.rsvps(ctx.db, event.id):
        writer.writerow(
            [
                safe_cell(rsvp.name),
                _(ANSWER_NAMES[rsvp.status]),
                rsvp.guests,
                safe_cell(rsvp.answer),
                i18n.format_datetime(rsvp.checked_in_at, "short") if rsvp.checked_in_at else "",
            ]
        )
    return Response(
        "\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="event-{event.id}-attendees.csv"'},
    )


routes: list[BaseRoute] = [
    route("/events", events_list, public=True),
    route("/events/feed.ics", feed_ics, public=True),
    route("/events/feed.xml", feed_atom, public=True),
    route("/events/{event_id:int}", event_page, public=True),
    route("/events/{event_id:int}/event.ics", event_ics, public=True),
    route("/events/{event_id:int}/answer", answer_post, methods=("POST",), role="member"),
    route("/events/{event_id:int}/join", join_and_answer, methods=("POST",)),
    route("/events/{event_id:int}/rsvp/{person_id:int}/{token}", rsvp_page),
    route("/events/{event_id:int}/rsvp/{person_id:int}/{token}", rsvp_post, methods=("POST",), name="rsvp_post"),
    route("/events/{event_id:int}/ticket/{code}", ticket_page),
    route("/events/{event_id:int}/ticket/{code}/qr.png", ticket_qr),
    route("/events/{event_id:int}/door", door, role="member"),
    route("/events/{event_id:int}/door/check-in", door_check_in, methods=("POST",), role="member"),
    route("/events/{event_id:int}/door/walk-in", door_walk_in, methods=("POST",), role="member"),
    route("/events/{event_id:int}/door/count", door_count, role="member"),
    route("/admin/events", admin_list, role="admin", name="admin_events"),
    route("/admin/events/new", admin_new, role="admin"),
    route("/admin/events/new", admin_create, methods=("POST",), role="admin"),
    route("/admin/events/{event_id:int}", admin_event, role="admin"),
    route("/admin/events/{event_id:int}", admin_update, methods=("POST",), role="admin"),
    route("/admin/events/{event_id:int}/publish", admin_publish, methods=("POST",), role="admin"),
    route("/admin/events/{event_id:int}/cancel", admin_cancel, methods=("POST",), role="admin"),
    route(
        "/admin/events/{event_id:int}/invite", admin_invite, methods=("POST",), role="admin", name="admin_event_invite"
    ),
    route("/admin/events/{event_id:int}/attendees.csv", admin_attendees_csv, role="admin"),
]
