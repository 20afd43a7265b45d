"""Every admin action on events leaves an audit entry with words in the admin's language."""

from __future__ import annotations

from sqlalchemy import select

from club.admin import audit
from club.admin.models import AuditEntry
from tests.events.helpers import event_form, post
from tests.factories import make_person
from tests.helpers import log_in_admin


async def test_each_admin_action_on_an_event_is_audited(client, db):
    await log_in_admin(client, db)
    await make_person(db, email="an@example.org", newsletter=True)
    response = await post(client, "/admin/events/new", event_form(), page="/admin/events/new")
    event_id = int(response.headers["location"].rsplit("/", 1)[1])
    for path, data in (
        (f"/admin/events/{event_id}", event_form(venue="Sint-Pietersabdij")),
        (f"/admin/events/{event_id}/publish", {}),
        (f"/admin/events/{event_id}/invite", {}),
        (f"/admin/events/{event_id}/cancel", {}),
    ):
        assert (await post(client, path, data, page="/admin/events")).status_code == 303, path
    await db.commit()
    entries = (await db.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars().all()
    actions = [entry.action for entry in entries if entry.action.startswith("events.")]
    assert actions == [
        "events.admin_create",
        "events.admin_update",
        "events.admin_publish",
        "events.admin_event_invite",
        "events.admin_cancel",
    ]
    assert all(
        entry.target_type == "event" and entry.target_id == str(event_id)
        for entry in entries
        if entry.action.startswith("events.")
    )
    invite = next(entry for entry in entries if entry.action == "events.admin_event_invite")
    assert audit.details_of(invite)["recipients"] == 1
    assert set(actions) <= set(audit.ACTION_LABELS)
    page = await client.get("/admin/audit")
    assert "Published an event" in page.text and "Cancelled an event" in page.text
