"""The admin console: the dashboard, members (list, search, one member, import, export), admins, the audit log.

Every action that changes something calls audit.record in the request's transaction."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from urllib.parse import quote, urlencode

from markupsafe import Markup
from sqlalchemy import func, select
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute

from club import csvfile, forms, labels, web
from club.accounts import passwords, service, sessions, tokens, totp
from club.accounts.models import CITIES, ROLES, Person
from club.admin import account, audit, csvformat, exporter, importer
from club.admin import members as admin_members
from club.admin.forms import AdminInvite, AdminName, MemberEdit
from club.admin.models import MemberImport
from club.admin.search import (
    PAGE_SIZE,
    VERSION,
    MemberFilter,
    MemberPage,
    count_all_members,
    find_members,
    interest_choices,
    kept,
)
from club.ambassadors import labels as ambassador_labels
from club.ambassadors import service as ambassadors
from club.i18n import LANGUAGE_NAMES, LANGUAGES, N_, TIMEZONES, _, current_language, format_date
from club.members import service as members
from club.web import Context, FormLimits, found, redirect, render, render_part, route, signed_in_as

NOTICES = {
    "saved": N_("Saved."),
    "suppressed": N_("No more mail will be sent to this member."),
    "unsuppressed": N_("Mail to this member is allowed again."),
    "deleted": N_("The member was deleted."),
    "revoked": N_("The session was ended."),
    "repermission": N_("The re-permission mail is on its way."),
    "repermission-none": N_("Nobody needed a re-permission mail."),
    "invited": N_("The invitation is on its way."),
    "promote-invited": N_(
        "Saved. An invitation to become an admin is on its way to this member; they become admin "
        "when they accept it and choose a password."
    ),
    "demoted": N_("That admin is now a member."),
    "totp-on": N_("Two-factor login is on."),
    "totp-off": N_("Two-factor login is off."),
    "cancelled": N_("The import was cancelled; nothing was imported."),
}


web.NOTICES.update({f"admin.{key}": message for key, message in NOTICES.items()})


def with_notice(request: Request, url: str, key: str) -> Response:
    return web.redirect_with_notice(request, url, f"admin.{key}")


async def load_member(request: Request, ctx: Context) -> Person:
    return found(await ctx.db.get(Person, request.path_params["person_id"]))


# ---- dashboard -------------------------------------------------------------------------------------------------


async def dashboard(request: Request, ctx: Context) -> Response:
    counts = dict((await ctx.db.execute(select(Person.role, func.count()).group_by(Person.role))).all())
    # "Members" is everyone in the club, as the member list counts them (ambassadors and admins are members too).
    return render(request, "admin/dashboard.html", {"counts": counts, "everyone": await count_all_members(ctx.db)})


# ---- members ---------------------------------------------------------------------------------------------------


def member_rows(page: MemberPage) -> Sequence[tuple[object, ...]]:
    """The table's cells, ready to print: labels in the page's language, dates formatted once per day (formatting
    is the slowest part of this page)."""
    language = current_language.get()
    zone = TIMEZONES[language]
    roles, cities = dict(labels.choices(labels.ROLES)), dict(labels.choices(labels.CITIES))
    suppressed, unconfirmed, subscribed = _("Mail suppressed"), _("Not confirmed"), _("Newsletter")
    day_names: dict[dt.date, str] = {}
    rows = []
    for member in page.members:
        day = member.created_at.astimezone(zone).date()
        joined = day_names.get(day)
        if joined is None:
            joined = day_names[day] = format_date(day)
        if member.suppressed:
            status: tuple[str, str] | None = ("tag tag-warn", suppressed)
        elif not member.confirmed:
            status = ("tag", unconfirmed)
        elif member.newsletter:
            status = ("tag tag-ok", subscribed)
        else:
            status = None
        rows.append(
            (
                member.id,
                member.name,
                roles.get(member.role, member.role) if member.role != "member" else "",
                member.email,
                cities.get(member.city, member.city),
                LANGUAGE_NAMES.get(member.language, member.language),
                status,
                joined,
            )
        )
    return rows


async def member_list(request: Request, ctx: Context) -> Response:
    where = MemberFilter.from_params(request.query_params)
    language = current_language.get()
    version = ctx.read  # the route's reads=VERSION, with the session: before the rows, which are at least as new

    def url(path: str = "/admin/members", **changes: object) -> str:
        """This list (or its export) with some of the filter changed, from its first page unless told."""
        return path + "?" + urlencode(where.params(**{"after": "", "before": "", "page": 1, **changes}))

    async def body() -> Markup:
        page = await find_members(ctx.db, where, version)
        return render_part(
            "admin/_members_body.html",
            {
                "where": where,
                "page": page,
                "rows": member_rows(page),
                "interest_choices": await interest_choices(ctx.db, language),
                "next_url": url(after=page.next_cursor, page=where.page + 1) if page.next_cursor else None,
                "previous_url": (
                    url(before=page.previous_cursor, page=max(where.page - 1, 1))
                    if page.previous_cursor and where.page > 2
                    else (url() if page.previous_cursor else None)
                ),
                "first_row": (where.page - 1) * PAGE_SIZE + 1 if page.previous_cursor else 1,
                "export_url": url("/admin/members/export"),
                "sort_urls": {sort: url(sort=sort) for sort in ("newest", "oldest", "name", "email")},
            },
        )

    # All but the layout depends only on the filter, the language and the version: rendered once, kept.
    kept_body = await kept(ctx.db, version, (language, *where.params().items()), body)
    return render(request, "admin/members.html", {"body": kept_body})


async def member_export(request: Request, ctx: Context) -> Response:
    where = MemberFilter.from_params(request.query_params)
    delimiter = exporter.DELIMITERS.get(request.query_params.get("delimiter", ""), ",")
    await audit.record(
        ctx.db,
        request,
        "member.export",
        "members",
        "",
        {**where.params(after="", before="", page=1), **({"delimiter": delimiter} if delimiter != "," else {})},
    )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M")
    language = current_language.get()

    async def body():  # type: ignore[no-untyped-def]
        async for chunk in exporter.export_lines(
            request.app.state.sessionmaker, where, language=language, delimiter=delimiter
        ):
            yield chunk.encode("utf-8")

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="members-{stamp}.csv"', "cache-control": "no-store"},
    )


async def member_page(request: Request, ctx: Context) -> Response:
    person = await load_member(request, ctx)
    info = await admin_members.details(ctx.db, ctx.settings, person)
    history = (
        await audit.entries(ctx.db, audit.AuditFilter(target_type="person", target_id=str(person.id)), limit=20)
    )[0]
    return render(
        request,
        "admin/member.html",
        {
            "member": person,
            "info": info,
            "history": history,
            "consent_text": members.consent_text,
            "methods": members.METHODS,
            "current_session": getattr(ctx.auth_session, "id", None),
            "audit_label": audit.action_label,
            "day": dt.date.fromisoformat,
            "status_label": ambassador_labels.status,
        },
    )


def _edit_page(
    request: Request, person: Person, interests: object, status_code: int = 200, **extra: object
) -> Response:
    context = {"member": person, "interests": interests, "cities": CITIES, "roles": ROLES, "languages": LANGUAGES}
    return render(request, "admin/member_edit.html", {**context, **extra}, status_code=status_code)


async def member_edit_page(request: Request, ctx: Context) -> Response:
    person = await load_member(request, ctx)
    chosen = [interest.slug for interest in await members.interests_of(ctx.db, person.id)]
    values = {
        **{key: getattr(person, key) for key in ("name", "email", "city", "language", "role")},
        "interests": chosen,
    }
    return _edit_page(request, person, await members.all_interests(ctx.db), values=values)


async def member_edit(request: Request, ctx: Context) -> Response:
    person = await load_member(request, ctx)
    all_interests = await members.all_interests(ctx.db)
    cleaned, errors, values = forms.parse(MemberEdit, ctx.form, context={"interests": [i.slug for i in all_interests]})
    if cleaned and cleaned.email != person.email and await members.find_by_email(ctx.db, cleaned.email):
        errors.add("email", forms.Invalid(N_("Another member already uses this address.")))
    if (
        cleaned
        and person.role == "admin"
        and cleaned.role != "admin"
        and await admin_members.other_admins(ctx.db, person) == 0
    ):
        errors.add("role", forms.Invalid(N_("This is the last admin. Make someone else admin first.")))
    if errors or cleaned is None:
        return _edit_page(request, person, all_interests, 400, values=values, errors=errors)
    changes = await admin_members.update_profile(
        ctx.db,
        person,
        name=cleaned.name,
        email=cleaned.email,
        city=cleaned.city,
        language=cleaned.language,
        interests=cleaned.interests,
    )
    old_role = person.role
    promote = cleaned.role == "admin" and person.role != "admin"
    # An admin needs a password and, maybe, a second factor: promotion goes through an invitation they accept.
    if not promote and await admin_members.change_role(ctx.db, person, cleaned.role):
        changes["role"] = [old_role, person.role]
    if changes:
        # Which fields changed, not their old and new values: the log outlives an erasure.
        await audit.record(
            ctx.db, request, "member.edit", "person", person.id, audit.without_personal_values({"changes": changes})
        )
    if promote:
        await admin_members.invite_admin(
            ctx.db, ctx.settings, email=person.email, name=person.name, language=person.language, invited_by=ctx.me
        )
        await audit.record(ctx.db, request, "admin.promote", "person", person.id, {})
        return with_notice(request, f"/admin/members/{person.id}", "promote-invited")
    return with_notice(request, f"/admin/members/{person.id}", "saved")


async def member_suppress(request: Request, ctx: Context) -> Response:
    person = await load_member(request, ctx)
    try:
        reason = forms.text(forms.field(ctx.form, "reason"), max_length=200, required=False)
    except forms.Invalid:
        reason = ""
    await admin_members.suppress(ctx.db, person, reason)
    # The reason is kept on the member (and goes with them), not in the log.
    await audit.record(
        ctx.db, request, "member.suppress", "person", person.id, audit.without_personal_values({"reason": reason})
    )
    return with_notice(request, f"/admin/members/{person.id}", "suppressed")


async def member_unsuppress(request: Request, ctx: Context) -> Response:
    person = await load_member(request, ctx)
    await admin_members.unsuppress(ctx.db, person)
    await audit.record(ctx.db, request, "member.unsuppress", "person", person.id, {})
    return with_notice(request, f"/admin/members/{person.id}", "unsuppressed")


async def _delete_context(ctx: Context, person: Person, **extra: object) -> dict[str, object]:
    kept, dropped = await ambassadors.erasure_outcome(ctx.db, person.id)
    return {"member": person, "kept_activities": kept, "dropped_activities": dropped, **extra}


async def member_delete_page(request: Request, ctx: Context) -> Response:
    person = await load_member(request, ctx)
    return render(request, "admin/member_delete.html", await _delete_context(ctx, person))


async def member_delete(request: Request, ctx: Context) -> Response:
    person = await load_member(request, ctx)
    refusal = None
    if forms.field(ctx.form, "confirm_email").strip().lower() != person.email:
        refusal = N_("Type the member's email address to confirm.")
    else:
        try:
            await admin_members.delete_member(ctx.db, ctx.settings, person)
        except admin_members.LastAdmin:
            refusal = N_("This is the last admin. Make someone else admin first.")
    if refusal:
        context = await _delete_context(ctx, person, errors={"confirm_email": (refusal, {})})
        return render(request, "admin/member_delete.html", context, status_code=400)
    # The member is erased: the entry says that a member was deleted, and by whom; not who (their id included).
    await audit.record(ctx.db, request, "member.delete", "person", "", {})
    return with_notice(request, "/admin/members", "deleted")


async def member_revoke_session(request: Request, ctx: Context) -> Response:
    person = await load_member(request, ctx)
    session_id = forms.field(ctx.form, "session")[:64]
    if await admin_members.revoke_session(ctx.db, person, session_id):
        await audit.record(ctx.db, request, "member.session.revoke", "person", person.id, {"session": session_id[:8]})
    return with_notice(request, f"/admin/members/{person.id}", "revoked")


async def member_repermission(request: Request, ctx: Context) -> Response:
    person = await load_member(request, ctx)
    sent = await admin_members.send_repermission(ctx.db, ctx.settings, person)
    if sent:
        await audit.record(ctx.db, request, "member.repermission", "person", person.id, {})
    return with_notice(request, f"/admin/members/{person.id}", "repermission" if sent else "repermission-none")


# ---- import ----------------------------------------------------------------------------------------------------

# A file this small is usually checked within the wait, and the upload goes straight to its preview; a larger
# one goes at once to the page that shows the check's progress.
CHECK_WAIT = 1.5  # seconds
CHECK_WAIT_ROWS = 5000


async def _import_page_context(request: Request, ctx: Context) -> dict[str, object]:
    language = current_language.get()
    recent = (await ctx.db.execute(select(MemberImport).order_by(MemberImport.id.desc()).limit(10))).scalars().all()
    interests = await members.all_interests(ctx.db)
    return {
        "recent": recent,
        "max_rows": importer.MAX_ROWS,
        "column_names": csvformat.COLUMN_NAMES,
        "languages": LANGUAGES,
        "language_names": LANGUAGE_NAMES,
        "accepted": {
            "city": [_(label) for label in labels.CITIES.values()],
            "language": [_(label) for label in labels.LANGUAGES.values()],
            "interests": [interest.name(language) for interest in interests],
            "newsletter": [_(csvformat.YES_LABEL), _(csvformat.NO_LABEL)],
        },
        "interest_codes": [interest.slug for interest in interests],
    }


async def import_page(request: Request, ctx: Context) -> Response:
    return render(request, "admin/import.html", await _import_page_context(request, ctx))


async def import_template(request: Request, ctx: Context) -> Response:
    """An example file in the page's language, to fill in: the column names and one row."""
    language = current_language.get()
    delimiter = exporter.DELIMITERS.get(request.query_params.get("delimiter", ""), ",")
    interests = [interest.name(language) for interest in (await members.all_interests(ctx.db))[:2]]
    header = [names[language] for names in csvformat.COLUMN_NAMES.values()]
    example = [
        "hanako.yamada@example.jp",
        "山田 花子",
        labels.city("kanazawa"),
        labels.language("ja"),
        ";".join(interests),
        _(csvformat.YES_LABEL),
        dt.date.today().isoformat(),
    ]
    text = csvfile.BOM + csvfile.row(header, delimiter) + csvfile.row(example, delimiter)
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="members-template.csv"'},
    )


async def import_upload(request: Request, ctx: Context) -> Response:
    upload = ctx.form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise importer.ImportRefused(N_("Choose a CSV file to upload."))
        data = await upload.read()
        job = await importer.create(ctx.db, ctx.settings, data=data, filename=upload.filename, created_by=ctx.me.id)
    except importer.ImportRefused as exc:
        context = {**await _import_page_context(request, ctx), "refused": (exc.message, exc.variables)}
        return render(request, "admin/import.html", context, status_code=400)
    await audit.record(
        ctx.db, request, "member.import.check", "import", job.id, {"file": job.filename, "rows": job.total_rows}
    )
    await ctx.db.commit()  # the import exists before its check starts in the background
    task = importer.in_background(importer.check(request.app.state.sessionmaker, ctx.settings, job.id))
    if job.total_rows <= CHECK_WAIT_ROWS:
        await asyncio.wait({task}, timeout=CHECK_WAIT)
    return redirect(ctx.url("import_job_page", import_id=job.id))


async def load_import(request: Request, ctx: Context) -> MemberImport:
    return found(await ctx.db.get(MemberImport, request.path_params["import_id"]))


async def import_job_page(request: Request, ctx: Context) -> Response:
    job = await load_import(request, ctx)
    running = job.status == "running" and not importer.is_stale(job)
    checking = job.status == "checking" and not importer.is_stale_check(job)
    sending = job.repermission_status == "running" and not importer.repermission_is_stale(job)
    refusal = importer.refusal_of(job)
    return render(
        request,
        "admin/import_job.html",
        {
            "job": job,
            "problems": importer.problems_of(job)[:200],
            "conflicts": importer.conflicts_of(job)[:200],
            "running": running,
            "checking": checking,
            "check_stale": job.status == "checking" and not checking,
            "stale": importer.is_stale(job),
            "refusal": refusal,
            "sending": sending,
            "sending_stale": importer.repermission_is_stale(job),
            "has_rejected": job.problem_rows > 0 and importer.rejected_path(ctx.settings, job.id).exists(),
        },
        headers={"refresh": "1" if checking else "2"} if running or checking or sending else None,
    )


async def import_rejected(request: Request, ctx: Context) -> Response:
    job = await load_import(request, ctx)
    if not importer.rejected_path(ctx.settings, job.id).exists():
        raise HTTPException(404)
    await audit.record(ctx.db, request, "member.import.rejected", "import", job.id, {})
    lines = importer.rejected_rows_csv(ctx.settings, job, current_language.get())
    stem = job.filename.rsplit(".", 1)[0].replace('"', "")
    return StreamingResponse(
        (line.encode("utf-8") for line in lines),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f"attachment; filename*=UTF-8''{quote(stem + '-rejected.csv')}",
            "cache-control": "no-store",
        },
    )


async def import_run(request: Request, ctx: Context) -> Response:
    job = await load_import(request, ctx)
    if await importer.claim(ctx.db, job.id):
        await audit.record(
            ctx.db,
            request,
            "member.import.start",
            "import",
            job.id,
            {"rows": job.valid_rows, "resume_from": job.processed_rows},
        )
        # Claimed and recorded before the import starts in the background: the next page says it is running.
        await ctx.db.commit()
        importer.in_background(importer.run(request.app.state.sessionmaker, ctx.settings, job.id, claimed=True))
    return redirect(ctx.url("import_job_page", import_id=job.id))


async def import_cancel(request: Request, ctx: Context) -> Response:
    job = await load_import(request, ctx)
    if job.status == "previewed":
        job.status = "cancelled"
        for path in importer.scratch_paths(ctx.settings, job.id):
            path.unlink(missing_ok=True)
        await audit.record(ctx.db, request, "member.import.cancel", "import", job.id, {})
    return with_notice(request, "/admin/members/import", "cancelled")


async def import_repermission(request: Request, ctx: Context) -> Response:
    """Send the re-permission mail to every row that wanted the newsletter without a consent date."""
    job = await load_import(request, ctx)
    if await importer.claim_repermission(ctx.db, ctx.settings, job):
        await audit.record(
            ctx.db,
            request,
            "member.import.repermission",
            "import",
            job.id,
            {"rows": job.repermission_total, "resume_from": job.repermission_done},
        )
        await ctx.db.commit()  # claimed before the mail starts in the background
        importer.in_background(importer.send_repermission(request.app.state.sessionmaker, ctx.settings, job.id))
    return redirect(ctx.url("import_job_page", import_id=job.id))


# ---- audit log -------------------------------------------------------------------------------------------------


def _date_param(raw: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


async def audit_page(request: Request, ctx: Context) -> Response:
    params = request.query_params
    try:
        before = int(params.get("before", "")) if params.get("before") else None
    except ValueError:
        before = None
    where = audit.AuditFilter(
        q=" ".join(params.get("q", "").split())[:100],
        action=params.get("action", "")[:60],
        target_type=params.get("target_type", "")[:40],
        target_id=params.get("target_id", "")[:64],
        since=_date_param(params.get("since")),
        until=_date_param(params.get("until")),
        before=before,
    )
    rows, next_before = await audit.entries(ctx.db, where)
    base = {key: value for key, value in params.items() if key != "before" and value}
    return render(
        request,
        "admin/audit.html",
        {
            "entries": [
                (
                    entry,
                    audit.action_label(entry.action),
                    audit.target_label(entry.target_type),
                    audit.readable_details(entry),
                )
                for entry in rows
            ],
            "where": where,
            "actions": sorted(
                ((action, audit.action_label(action)) for action in await audit.actions(ctx.db)),
                key=lambda pair: pair[1],
            ),
            "next_url": "/admin/audit?" + urlencode({**base, "before": next_before}) if next_before else None,
        },
    )


# ---- admins and two-factor login -------------------------------------------------------------------------------


async def _admins_context(request: Request, ctx: Context) -> dict[str, object]:
    admins = (await ctx.db.execute(select(Person).where(Person.role == "admin").order_by(Person.name))).scalars().all()
    with_totp = {person.id for person in admins if await totp.is_enabled(ctx.db, person.id)}
    invitations = [
        (token.id, *admin_members.invitation_of(token.data), token.created_at, token.expires_at)
        for token in await admin_members.pending_invitations(ctx.db)
    ]
    return {
        "admins": admins,
        "with_totp": with_totp,
        "languages": LANGUAGES,
        "invitations": invitations,
        "totp_required": await account.totp_required(ctx.db),
    }


async def admins_page(request: Request, ctx: Context) -> Response:
    return render(request, "admin/admins.html", await _admins_context(request, ctx))


async def admin_invite(request: Request, ctx: Context) -> Response:
    cleaned, errors, values = forms.parse(AdminInvite, ctx.form)
    if cleaned:
        existing = await members.find_by_email(ctx.db, cleaned.email)
        if existing is not None and existing.role == "admin":
            errors.add("email", forms.Invalid(N_("This person is already an admin.")))
    if errors or cleaned is None:
        return render(
            request,
            "admin/admins.html",
            {**await _admins_context(request, ctx), "errors": errors, "values": values},
            status_code=400,
        )
    await admin_members.invite_admin(
        ctx.db, ctx.settings, email=cleaned.email, name=cleaned.name, language=cleaned.language, invited_by=ctx.me
    )
    await audit.record(ctx.db, request, "admin.invite", "email", "", {"email": cleaned.email})
    return with_notice(request, "/admin/admins", "invited")


async def admin_demote(request: Request, ctx: Context) -> Response:
    person = await load_member(request, ctx)
    try:
        changed = await admin_members.change_role(ctx.db, person, "member")
    except admin_members.LastAdmin:
        return render(
            request,
            "admin/admins.html",
            {
                **await _admins_context(request, ctx),
                "refused": N_("This is the last admin. Make someone else admin first."),
            },
            status_code=400,
        )
    if changed:
        await audit.record(ctx.db, request, "admin.demote", "person", person.id, {})
    if person.id == ctx.me.id:
        return redirect(ctx.url("home"))
    return with_notice(request, "/admin/admins", "demoted")


async def _invitation(request: Request, ctx: Context) -> tuple[str, str, str]:
    """The invitation's token, address and name while its link is good; else the page is not there."""
    raw: str = request.path_params["token"]
    token = found(await tokens.peek(ctx.db, admin_members.INVITE_PURPOSE, raw))
    return (raw, *admin_members.invitation_of(token.data))


async def invite_page(request: Request, ctx: Context) -> Response:
    raw, email, name = await _invitation(request, ctx)
    return render(request, "admin/invite.html", {"token": raw, "email": email, "values": {"name": name}})


async def invite_accept(request: Request, ctx: Context) -> Response:
    raw, email, _name = await _invitation(request, ctx)
    cleaned, errors, values = forms.parse(AdminName, ctx.form)
    password = passwords.read_new_password(ctx.form, errors, email=email)
    if cleaned is None or errors:
        return render(
            request,
            "admin/invite.html",
            {"token": raw, "email": email, "values": values, "errors": errors},
            status_code=400,
        )
    found(await tokens.consume(ctx.db, admin_members.INVITE_PURPOSE, raw))
    person = await service.create_admin(
        ctx.db, email=email, name=cleaned.name, password=password, language=current_language.get()
    )
    await sessions.revoke_all(ctx.db, person.id)
    response = redirect(ctx.url("security_page"))
    await sessions.start(request, ctx.db, response, person)
    signed_in_as(request, person)
    await audit.record(ctx.db, request, "admin.invite.accept", "person", person.id, {})
    return response


async def security_context(ctx: Context) -> dict[str, object]:
    factor = await totp.factor_of(ctx.db, ctx.me.id)
    return {
        "factor": factor,
        "enabled": factor is not None and factor.enabled_at is not None,
        "codes_left": await totp.recovery_codes_left(ctx.db, ctx.me.id),
        "totp_required": await account.totp_required(ctx.db),
        "time_zones": account.TIME_ZONES,
        "languages": LANGUAGES,
        "values": {
            "console_language": ctx.me.page_language,
            "language": ctx.me.language,
            "time_zone": ctx.me.time_zone or TIMEZONES[ctx.me.page_language].key,
        },
    }


async def security_page(request: Request, ctx: Context) -> Response:
    return render(request, "admin/security.html", await security_context(ctx))


async def totp_start(request: Request, ctx: Context) -> Response:
    factor = await totp.start_enrolment(ctx.db, ctx.me.id)
    if factor.enabled_at is not None:
        return redirect(ctx.url("security_page"))
    return _enrol_page(request, ctx, factor)


def _enrol_page(request: Request, ctx: Context, factor, errors: dict | None = None) -> Response:  # type: ignore[no-untyped-def]
    uri = totp.provisioning_uri(factor, ctx.me.email)
    return render(
        request,
        "admin/totp_enrol.html",
        {"secret": factor.secret, "qr": totp.qr_data_uri(uri), "errors": errors or {}},
        status_code=400 if errors else 200,
    )


async def totp_enable(request: Request, ctx: Context) -> Response:
    factor = await totp.factor_of(ctx.db, ctx.me.id)
    if factor is None or factor.enabled_at is not None:
        return redirect(ctx.url("security_page"))
    codes = await totp.enable(ctx.db, factor, forms.field(ctx.form, "code"))
    if codes is None:
        return _enrol_page(
            request, ctx, factor, {"code": (N_("That code is not right. Enter the 6 digits your app shows now."), {})}
        )
    await audit.record(ctx.db, request, "admin.totp.enable", "person", ctx.me.id, {})
    return render(request, "admin/recovery_codes.html", {"codes": codes})


async def security_refused(request: Request, ctx: Context, errors: Mapping[str, object]) -> Response:
    """The security page again, with what was wrong (a code, a password)."""
    return render(request, "admin/security.html", {**await security_context(ctx), "errors": errors}, status_code=400)


WRONG_CODE = N_("That code is not right, or it was used already.")


async def totp_disable(request: Request, ctx: Context) -> Response:
    if await account.totp_required(ctx.db):
        refusal = N_("Two-factor login is required for every admin, so it cannot be turned off.")
        return await security_refused(request, ctx, {"code": (refusal, {})})
    if await totp.check(ctx.db, ctx.me.id, forms.field(ctx.form, "code")) is None:
        return await security_refused(request, ctx, {"code": (WRONG_CODE, {})})
    await totp.disable(ctx.db, ctx.me.id)
    await audit.record(ctx.db, request, "admin.totp.disable", "person", ctx.me.id, {})
    return with_notice(request, "/admin/security", "totp-off")


async def recovery_codes(request: Request, ctx: Context) -> Response:
    if await totp.check(ctx.db, ctx.me.id, forms.field(ctx.form, "code")) != "totp":
        return await security_refused(request, ctx, {"code": (WRONG_CODE, {})})
    codes = await totp.new_recovery_codes(ctx.db, ctx.me.id)
    await audit.record(ctx.db, request, "admin.recovery_codes.renew", "person", ctx.me.id, {})
    return render(request, "admin/recovery_codes.html", {"codes": codes})


# ---- re-permission (public: the member's answer to the mail) ----------------------------------------------------


async def repermission_page(request: Request, ctx: Context) -> Response:
    raw = request.path_params["token"]
    token = await tokens.peek(ctx.db, admin_members.REPERMISSION_PURPOSE, raw)
    return render(
        request,
        "admin/repermission.html",
        {
            "token": raw,
            "valid": token is not None,
            "consent": members.consent_text(
                members.NEWSLETTER_CONSENT_VERSION, ctx.person.language if ctx.person else "en"
            ),
        },
        status_code=200 if token is not None else 404,
    )


async def repermission_accept(request: Request, ctx: Context) -> Response:
    person = await admin_members.accept_repermission(ctx.db, request.path_params["token"])
    return render(
        request,
        "admin/repermission.html",
        {"token": "", "valid": person is not None, "done": True, "consent": ""},
        status_code=200 if person is not None else 404,
    )


routes: list[BaseRoute] = [
    route("/admin", dashboard, role="admin", name="admin_dashboard"),
    route("/admin/members", member_list, role="admin", reads=VERSION),
    route("/admin/members/export", member_export, role="admin"),
    route("/admin/members/import", import_page, role="admin"),
    route(
        "/admin/members/import",
        import_upload,
        methods=["POST"],
        role="admin",
        name="import_upload",
        form=FormLimits(max_files=1),
    ),
    route("/admin/members/import/{import_id:int}", import_job_page, role="admin"),
    route("/admin/members/import/{import_id:int}/run", import_run, methods=["POST"], role="admin"),
    route("/admin/members/import/{import_id:int}/cancel", import_cancel, methods=["POST"], role="admin"),
    route("/admin/members/import/template.csv", import_template, role="admin"),
    route("/admin/members/import/{import_id:int}/rejected.csv", import_rejected, role="admin"),
    route("/admin/members/import/{import_id:int}/repermission", import_repermission, methods=["POST"], role="admin"),
    route("/admin/members/{person_id:int}", member_page, role="admin"),
    route("/admin/members/{person_id:int}/edit", member_edit_page, role="admin"),
    route("/admin/members/{person_id:int}/edit", member_edit, methods=["POST"], role="admin", name="member_edit_post"),
    route("/admin/members/{person_id:int}/suppress", member_suppress, methods=["POST"], role="admin"),
    route("/admin/members/{person_id:int}/unsuppress", member_unsuppress, methods=["POST"], role="admin"),
    route("/admin/members/{person_id:int}/delete", member_delete_page, role="admin"),
    route(
        "/admin/members/{person_id:int}/delete",
        member_delete,
        methods=["POST"],
        role="admin",
        name="member_delete_post",
    ),
    route("/admin/members/{person_id:int}/sessions/revoke", member_revoke_session, methods=["POST"], role="admin"),
    route("/admin/members/{person_id:int}/repermission", member_repermission, methods=["POST"], role="admin"),
    route("/admin/audit", audit_page, role="admin"),
    route("/admin/admins", admins_page, role="admin"),
    route("/admin/admins/invite", admin_invite, methods=["POST"], role="admin"),
    route("/admin/admins/{person_id:int}/demote", admin_demote, methods=["POST"], role="admin"),
    route("/admin/invite/{token}", invite_page),
    route("/admin/invite/{token}", invite_accept, methods=["POST"], name="invite_accept"),
    route("/admin/security", security_page, role="admin"),
    route("/admin/security/totp/start", totp_start, methods=["POST"], role="admin"),
    route("/admin/security/totp/enable", totp_enable, methods=["POST"], role="admin"),
    route("/admin/security/totp/disable", totp_disable, methods=["POST"], role="admin"),
    route("/admin/security/recovery-codes", recovery_codes, methods=["POST"], role="admin"),
    *account.routes,
    route("/newsletter/opt-in/{token}", repermission_page),
    route("/newsletter/opt-in/{token}", repermission_accept, methods=["POST"], name="repermission_accept"),
]
