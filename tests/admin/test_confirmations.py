"""Destructive buttons ask first, without JavaScript: the form that does it sits inside a closed <details>."""

from __future__ import annotations

import re

from tests.factories import make_admin, make_ambassador
from tests.helpers import log_in_admin, post_form


def forms_inside_a_question(html: str, action_pattern: str) -> list[bool]:
    """For each form whose action matches: is it inside a <details class="confirm-step"> that is not open?"""
    answers = []
    for match in re.finditer(r'<form method="post" action="(' + action_pattern + r')"', html):
        before = html[: match.start()]
        opened = before.rfind('<details class="confirm-step">')
        closed = before.rfind("</details>")
        answers.append(opened > closed)
    return answers


async def test_make_member_asks_first_also_on_oneself(client, db):
    me = await log_in_admin(client, db)
    other = await make_admin(db, email="other@example.org", name="Other Admin")
    page = (await client.get("/admin/admins")).text
    assert forms_inside_a_question(page, rf"/admin/admins/({me.id}|{other.id})/demote") == [True, True]
    assert "Yes, make me a member" in page and "Yes, make Other Admin a member" in page


async def test_end_term_now_asks_first(client, db):
    await log_in_admin(client, db)
    _person, appointment = await make_ambassador(db, name="Sofie Claeys")
    page = (await client.get("/admin/ambassadors")).text
    assert forms_inside_a_question(page, rf"/admin/ambassadors/terms/{appointment.id}/end") == [True]
    assert "End the term of Sofie Claeys today?" in page


async def test_cancelling_a_newsletter_asks_first(client, db):
    await log_in_admin(client, db)
    response = await post_form(
        client,
        "/admin/newsletters/new",
        {
            "subject_nl": "Nieuws",
            "preheader_nl": "",
            "body_nl": "Beste %%name%%",
            "subject_ja": "",
            "preheader_ja": "",
            "body_ja": "",
            "fallback_language": "nl",
        },
        page="/admin/newsletters/new",
    )
    url = response.headers["location"].split("?")[0].split("#")[0]
    page = (await client.get(url)).text
    assert forms_inside_a_question(page, r"/admin/newsletters/\d+/cancel") == [True]
