"""Every form validates the same way: `novalidate` (no English bubble from the browser) and the server's message,
translated, beside the field."""

from __future__ import annotations

import re

import pytest

from club.templating import TEMPLATES_DIR
from tests.factories import csrf_token, log_in, make_person
from tests.helpers import log_in_admin, post_form

FORM_TAG = re.compile(r"<form\b[^>]*>")


def test_every_form_in_every_template_has_novalidate():
    forms = {
        f"{path.relative_to(TEMPLATES_DIR)}: {tag}"
        for path in TEMPLATES_DIR.rglob("*.html")
        for tag in FORM_TAG.findall(path.read_text(encoding="utf-8"))
    }
    assert len(forms) > 40  # the walk finds the forms
    assert [form for form in sorted(forms) if "novalidate" not in form] == []


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("nl", "Vink het vakje aan om te bevestigen dat je je account wilt wissen."),
        ("ja", "アカウントを削除する場合は、チェックボックスにチェックを入れてください。"),
    ],
)
async def test_erasing_without_the_box_ticked_says_so_beside_the_box(client, db, language, message):
    person = await make_person(db, language=language)
    await log_in(client, db, person)
    page = (await client.get("/me/erase")).text
    assert re.search(r'<form method="post" action="/me/erase" novalidate>', page)
    token = await csrf_token(client, "/me/erase")
    response = await client.post("/me/erase", data={"csrf_token": token})
    assert response.status_code == 400
    field = re.search(r'<div class="field has-error">(.*?)</div>', response.text, re.S)
    assert field is not None and 'name="confirm"' in field.group(1) and 'aria-invalid="true"' in field.group(1)
    assert message in field.group(1)


async def test_an_import_without_a_file_says_so_beside_the_file_field(client, db):
    admin = await log_in_admin(client, db)
    admin.console_language = "nl"
    await db.commit()
    response = await post_form(client, "/admin/members/import", page="/admin/members/import")
    assert response.status_code == 400
    field = re.search(r'<div class="field has-error">(.*?)</div>', response.text, re.S)
    assert field is not None and 'id="file"' in field.group(1)
    assert "Kies een CSV-bestand om op te laden." in field.group(1)
