"""Admin pages for ambassadors: appointments and terms, the review queue, the year in numbers (charts, printable
report, CSV export)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute

from club import csvfile, forms, i18n, web
from club.accounts.models import Person
from club.admin import audit
from club.ambassadors import charts, labels, service
from club.ambassadors import forms as ambassador_forms
from club.ambassadors.models import ACTIVITY_CITIES, CATEGORIES, Ambassador, Appointment
from club.ambassadors.pages import page
from club.forms import Invalid
from club.i18n import N_, Np_, _
from club.web import Context, FormLimits, found, redirect, route

web.NOTICES.update(
    {
        "ambassadors.appointed": N_("The ambassador is appointed and a welcome mail is on its way."),
        "ambassadors.ended": N_("The term has ended."),
        "ambassadors.approved": Np_("%(count)s activity approved.", "%(count)s activities approved."),
        "ambassadors.returned": N_("Sent back to the ambassador with your comment."),
        "ambassadors.approved-next": N_("Approved. Here is the next activity waiting for review."),
        "ambassadors.returned-next": N_("Sent back with your comment. Here is the next activity waiting for review."),
    }
)

CHART_CSP = "default-src 'none'; style-src 'unsafe-inline'"


# ---- appointments ----------------------------------------------------------------------------------------------


async def index(request: Request, ctx: Context) -> Response:
    today = service.club_today()
    rows = await service.ambassadors_overview(ctx.db, today)
    recruited = (  # each ambassador's confirmed recruits (an outer join: none is 0)
        select(Ambassador.person_id, func.count(Person.id))
        .outerjoin(Person, (Person.ref == Ambassador.ref) & Person.confirmed_at.is_not(None))
        .where(Ambassador.person_id.in_({person.id for _a, person in rows}))
        .group_by(Ambassador.person_id)
    )
    recruits = dict((await ctx.db.execute(recruited)).all())
    waiting = (
        await ctx.db.execute(
            select(func.count()).select_from(service.Activity).where(service.Activity.status == "submitted")
        )
    ).scalar_one()
    return page(
        request,
        "ambassadors/admin/index.html",
        {
            "rows": [(appointment, person, recruits.get(person.id, 0)) for appointment, person in rows],
            "waiting": waiting,
        },
    )


async def appoint_page(request: Request, ctx: Context) -> Response:
    today = service.club_today()
    # An academic year by default: from today to the end of next June (or the June after, from July on).
    end_year = today.year + (1 if today.month >= 7 else 0)
    values = {
        "email": request.query_params.get("email", "")[:254],
        "starts_on": today.isoformat(),
        "ends_on": f"{end_year}-06-30",
        "home_institution": "ugent",
        "host_institution": "kanazawa-university",
        "stationed_in": "kanazawa",
    }
    return page(request, "ambassadors/admin/appoint.html", {"values": values})


async def appoint(request: Request, ctx: Context) -> Response:
    data, errors, values = ambassador_forms.appointment(ctx.form, today=service.club_today())
    if data is not None:
        try:
            appointment = await service.appoint(ctx.db, ctx.settings, data, admin=ctx.me)
            audit.about(request, "person", appointment.person_id)  # the audit entry links to the new ambassador
        except service.AppointError as exc:
            errors.add(exc.field, Invalid(exc.message))
    if errors:
        return page(request, "ambassadors/admin/appoint.html", {"values": values, "errors": errors}, status_code=400)
    return web.redirect_with_notice(request, ctx.url("index"), "ambassadors.appointed")


async def end_term(request: Request, ctx: Context) -> Response:
    appointment = found(await ctx.db.get(Appointment, request.path_params["appointment_id"]))
    await service.end_term(ctx.db, appointment, admin=ctx.me)
    return web.redirect_with_notice(request, ctx.url("index"), "ambassadors.ended")


# ---- review ----------------------------------------------------------------------------------------------------


def page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 100_000 else 1


def queue_filter(request: Request) -> service.QueueFilter:
    """Unknown values are ignored, as on the wall: an old link still shows the queue."""
    raw = request.query_params.get("ambassador", "")
    category = request.query_params.get("category", "")
    return service.QueueFilter(
        ambassador=int(raw) if raw.isdigit() and 0 < int(raw) < 2**31 else None,
        category=category if category in CATEGORIES else "",
    )


def _queue_url(path: str, filters: service.QueueFilter, **extra: str) -> str:
    query = urlencode({**filters.query(), **extra})
    return f"{path}?{query}" if query else path


async def review_queue(request: Request, ctx: Context) -> Response:
    number = page_number(request)
    filters = queue_filter(request)
    activities, total = await service.review_queue(ctx.db, filters, page=number)
    return page(
        request,
        "ambassadors/admin/queue.html",
        {
            "activities": activities,
            "total": total,
            "page_number": number,
            "page_count": max(1, -(-total // service.QUEUE_PAGE_SIZE)),
            "has_next": number * service.QUEUE_PAGE_SIZE < total,
            "filters": filters,
            "query": filters.query(),
            "authors": await service.queue_authors(ctx.db),
        },
    )


async def approve_selected(request: Request, ctx: Context) -> Response:
    """Bulk approval from the queue: the ticked activities that are still waiting; the others are left alone."""
    ids = [int(value) for value in ctx.form.getlist("activity") if isinstance(value, str) and value.isdigit()]
    approved = 0
    for activity in await service.submitted_activities(ctx.db, ids[: service.QUEUE_PAGE_SIZE]):
        await service.approve(ctx.db, activity, admin=ctx.me)
        approved += 1
    audit.note(request, approved=approved)
    return web.redirect_with_notice(
        request, _queue_url("/admin/ambassadors/review", queue_filter(request)), "ambassadors.approved", approved
    )


async def _for_review(request: Request, ctx: Context) -> service.Activity:
    return found(await service.activity_for_review(ctx.db, request.path_params["activity_id"]))


async def _review_page(
    request: Request, ctx: Context, activity: service.Activity, status_code: int = 200, **extra: object
) -> Response:
    filters = queue_filter(request)
    place = await service.queue_place(ctx.db, activity, filters)
    context = {"activity": activity, "place": place, "query": filters.query(), **extra}
    return page(request, "ambassadors/admin/review.html", context, status_code=status_code)


async def review_page(request: Request, ctx: Context) -> Response:
    return await _review_page(request, ctx, await _for_review(request, ctx))


async def review(request: Request, ctx: Context) -> Response:
    filters = queue_filter(request)
    activity = await _for_review(request, ctx)
    if activity.status != "submitted":
        return redirect(_queue_url("/admin/ambassadors/review", filters))
    action = forms.field(ctx.form, "action")
    # After a decision the admin goes on with the next activity in the same (filtered) queue.
    following = (await service.queue_place(ctx.db, activity, filters)).next_id
    if action == "approve":
        await service.approve(ctx.db, activity, admin=ctx.me)
        return _after_decision(request, filters, following, "approved")
    if action != "return":
        raise HTTPException(400)
    returned, errors, _typed = forms.parse(ambassador_forms.Review, ctx.form)
    if returned is None:
        values = {"comment": forms.field(ctx.form, "comment")}
        return await _review_page(request, ctx, activity, status_code=400, errors=errors, values=values)
    await service.send_back(ctx.db, ctx.settings, activity, admin=ctx.me, comment=returned.comment)
    return _after_decision(request, filters, following, "returned")


def _after_decision(request: Request, filters: service.QueueFilter, following: int | None, decided: str) -> Response:
    if following is None:
        queue = _queue_url("/admin/ambassadors/review", filters)
        if decided == "approved":
            return web.redirect_with_notice(request, queue, "ambassadors.approved", 1)
        return web.redirect_with_notice(request, queue, "ambassadors.returned")
    return web.redirect_with_notice(
        request, _queue_url(f"/admin/ambassadors/review/{following}", filters), f"ambassadors.{decided}-next"
    )


# ---- the year in numbers ---------------------------------------------------------------------------------------


def numbers_filter(request: Request) -> service.NumbersFilter:
    params = request.query_params
    raw_year = params.get("year", "")
    year = int(raw_year) if raw_year.isdigit() and 2000 <= int(raw_year) <= 2100 else service.club_today().year
    category = params.get("category", "")
    city = params.get("city", "")
    return service.NumbersFilter(
        year=year, category=category if category in CATEGORIES else "", city=city if city in ACTIVITY_CITIES else ""
    )


def metric_of(request: Request) -> str:
    metric = request.query_params.get("metric", "activities")
    return metric if metric in charts.METRICS else "activities"


def row_label(dimension: str):  # type: ignore[no-untyped-def]
    def label(row: service.Row) -> str:
        if dimension == "month":
            return _month(int(row.key))
        if dimension == "category":
            return labels.category(row.key)
        if dimension == "city":
            return labels.city(row.key)
        if dimension == "institution":
            return labels.institution(row.key)
        return row.label

    return label


def _month(month: int) -> str:
    from babel.dates import get_month_names

    return str(get_month_names("abbreviated", locale=i18n.current_language.get())[month])


async def _all_numbers(
    request: Request, ctx: Context, filters: service.NumbersFilter, metric: str = "activities"
) -> dict[str, list[service.Row]]:
    return {
        dimension: await service.numbers(ctx.db, filters, dimension, metric=metric) for dimension in service.DIMENSIONS
    }


def cut_note(dimension: str, shown: int, totals: service.Row) -> str:
    """Said wherever a list is cut: "Top 30 of 80 ambassadors"."""
    total = int(totals.label) if dimension == "ambassador" else shown
    if shown >= total:
        return ""
    return i18n.ngettext(
        "Top %(shown)s of %(total)s ambassador",
        "Top %(shown)s of %(total)s ambassadors",
        total,
        shown=i18n.format_number(shown),
        total=i18n.format_number(total),
    )


async def _year(request: Request, ctx: Context, metric: str = "activities") -> dict[str, object]:
    """The year in numbers, as both the page and the printable report show it."""
    filters = numbers_filter(request)
    totals = await service.year_totals(ctx.db, filters)
    tables = await _all_numbers(request, ctx, filters, metric)
    return {
        "filters": filters,
        "totals": totals,
        "tables": tables,
        "notes": {dimension: cut_note(dimension, len(rows), totals) for dimension, rows in tables.items()},
        "dimensions": service.DIMENSIONS,
        "dimension_labels": labels.DIMENSION_LABELS,
        "label_for": row_label,
        "query": filters.query(),
        "attendance": await _attendance(ctx, filters),
    }


async def numbers_page(request: Request, ctx: Context) -> Response:
    metric = metric_of(request)
    year = await _year(request, ctx, metric)
    extra = {"metric": metric, "years": await service.activity_years(ctx.db), "metric_labels": labels.METRIC_LABELS}
    return page(request, "ambassadors/admin/numbers.html", {**year, **extra})


async def _attendance(ctx: Context, filters: service.NumbersFilter) -> list[object]:
    from club.events import service as events  # the events of the year, beside the activities

    return list(await events.attendance_in_year(ctx.db, filters.year))


async def report_page(request: Request, ctx: Context) -> Response:
    return page(request, "ambassadors/admin/report.html", await _year(request, ctx))


async def chart(request: Request, ctx: Context) -> Response:
    dimension = request.path_params["dimension"]
    if dimension not in service.DIMENSIONS:
        raise HTTPException(404)
    filters = numbers_filter(request)
    metric = metric_of(request)
    # The page puts its language in the chart's address, so each language is its own chart (and its own cache entry).
    language = request.query_params.get("lang", "")
    if language not in i18n.LANGUAGES:
        language = i18n.current_language.get()
    with i18n.use_language(language):
        db = ctx.db
        rows = await service.numbers(db, filters, dimension, metric=metric)
        if dimension != "month" and not any(charts.metric_value(row, metric) for row in rows):
            rows = []
        title = f"{_(labels.METRIC_LABELS[metric])} · {_(labels.DIMENSION_LABELS[dimension])} · {filters.year}"
        note = cut_note(dimension, len(rows), await service.year_totals(db, filters)) if rows else ""
        label = row_label(dimension)
        svg = await run_in_threadpool(
            charts.render,
            rows,
            title=f"{title} ({note})" if note else title,
            series=_(labels.METRIC_LABELS[metric]),
            metric=metric,
            horizontal=dimension != "month",
            label=in_language(language, label),
            formatter=in_language(language, i18n.format_number),
            empty=_("No approved activities yet"),
        )
    return Response(
        svg,
        media_type="image/svg+xml; charset=utf-8",
        headers={
            "Content-Security-Policy": CHART_CSP,
            "Cache-Control": "private, max-age=60",
            "Vary": "Cookie, Accept-Language",
        },
    )


def in_language(language: str, function: Callable[[Any], str]) -> Callable[[Any], str]:
    """function, called in `language`: pygal calls a chart's labels in a worker thread, which has no page language."""

    def call(value: Any) -> str:
        with i18n.use_language(language):
            return function(value)

    return call


async def export_csv(request: Request, ctx: Context) -> Response:
    filters = numbers_filter(request)
    language = i18n.current_language.get()
    sessionmaker = request.app.state.sessionmaker
    header = [
        _("id"),
        _("date"),
        _("ambassador"),
        _("home institution"),
        _("host institution"),
        _("category"),
        _("city"),
        _("venue"),
        _("title"),
        _("people reached"),
        _("hours"),
        _("public"),
        _("link"),
    ]

    async def rows() -> AsyncIterator[str]:
        lines = [csvfile.BOM + csvfile.row(header)]
        with i18n.use_language(language):
            async with sessionmaker() as db:
                async for row in service.export_rows(db, filters):
                    activity_id, happened_on, name, home, host, category, city, *rest = row
                    venue, title, people, quarters, public, link = rest
                    cells = (labels.institution(home), labels.institution(host), labels.category(category))
                    lines.append(
                        csvfile.row(
                            (activity_id, happened_on.isoformat(), name, *cells, labels.city(city), venue, title)
                            + (people, f"{quarters / 4:g}", _("yes") if public else _("no"), link)
                        )
                    )
                    if len(lines) >= 500:
                        yield "".join(lines)
                        lines = []
        yield "".join(lines)

    name = (
        f"activities-{filters.year}{'-' + filters.category if filters.category else ''}"
        f"{'-' + filters.city if filters.city else ''}.csv"
    )
    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-store"},
    )


routes: list[BaseRoute] = [
    route("/admin/ambassadors", index, role="admin"),
    route("/admin/ambassadors/appoint", appoint_page, role="admin"),
    route("/admin/ambassadors/appoint", appoint, methods=["POST"], role="admin"),
    route("/admin/ambassadors/terms/{appointment_id:int}/end", end_term, methods=["POST"], role="admin"),
    route("/admin/ambassadors/review", review_queue, role="admin"),
    route(
        "/admin/ambassadors/review/approve",
        approve_selected,
        methods=["POST"],
        role="admin",
        form=FormLimits(max_fields=service.QUEUE_PAGE_SIZE + 20),
    ),
    route("/admin/ambassadors/review/{activity_id:int}", review_page, role="admin"),
    route("/admin/ambassadors/review/{activity_id:int}", review, methods=["POST"], role="admin"),
    route("/admin/ambassadors/numbers", numbers_page, role="admin"),
    route("/admin/ambassadors/report", report_page, role="admin"),
    route("/admin/ambassadors/charts/{dimension}.svg", chart, role="admin"),
    route("/admin/ambassadors/activities.csv", export_csv, role="admin"),
]
