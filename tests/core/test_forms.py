"""Declarative forms (club/forms.py): bad input of every kind gets the field's translated message, shows again what
was typed (escaped and cut short), and stores nothing; good input is stored as the models clean it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from club.accounts.models import Person
from club.members import service
from tests.factories import csrf_token


@pytest.fixture(autouse=True)
async def interests(db) -> None:
    if await service.seed_interests(db):  # PostgreSQL runs empty every table between tests, seeds included
        await db.commit()


def join_data(token: str, **fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "email": "hanako@example.jp",
        "name": "Yamada Hanako",
        "city": "kanazawa",
        "language": "ja",
        "interests": ["food"],
        "newsletter": "yes",
        "csrf_token": token,
    }
    data.update(fields)
    return data


async def people(db) -> int:
    db.expire_all()
    return int(await db.scalar(select(func.count()).select_from(Person)) or 0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "", "email": ""}, "This field is required."),
        ({"name": "   "}, "This field is required."),
        ({"name": "a" * 101}, "Use at most 100 characters (you typed 101)."),
        ({"name": "a" * 50_000}, "Use at most 100 characters (you typed 50000)."),
        ({"name": "<script>alert(1)</script>"}, "A name cannot contain < or >."),
        ({"name": "Jan\r\nBcc: someone@example.org"}, "Use a single line, without line breaks."),
        ({"name": "Jan\x00\x1b"}, "Remove the invisible control characters."),
        ({"email": "hanako@example.jp\r\nBcc: x@example.org"}, "Enter an email address like name@example.org."),
        ({"email": "<b>@example.jp"}, "Enter an email address like name@example.org."),
        ({"email": "a" * 300 + "@example.jp"}, "Enter an email address like name@example.org."),
        ({"city": "atlantis"}, "Choose one of the options."),
        ({"language": ["nl", "ja"], "city": ""}, "Choose one of the options."),
        ({"interests": ["food", "<img src=x>"]}, "Choose from the options shown."),
        ({"interests": [f"i{n}" for n in range(60)]}, "Choose from the options shown."),
    ],
)
async def test_bad_join_input_gets_its_message_and_stores_nothing(client, db, fields, message):
    token = await csrf_token(client, "/join")
    response = await client.post("/join", data=join_data(token, **fields))
    assert response.status_code == 400
    assert message in response.text
    assert "<script>alert" not in response.text and "<img src=x>" not in response.text
    assert "a" * 400 not in response.text  # what was typed comes back cut short
    assert await people(db) == 0


async def test_a_huge_field_or_a_file_where_text_belongs_is_refused_before_parsing(client, db):
    token = await csrf_token(client, "/join")
    huge = await client.post("/join", data=join_data(token, name="a" * 300_000))
    assert huge.status_code == 413
    data = join_data(token)
    del data["name"]
    upload = await client.post("/join", data=data, files={"name": ("name.txt", b"Hanako", "text/plain")})
    assert upload.status_code == 400 and "check the form and try again" in upload.text
    assert await people(db) == 0


@pytest.mark.parametrize(
    ("language", "required", "single_line"),
    [("nl", "Dit veld is verplicht.", "Gebruik één regel, zonder regeleinden."), ("ja", "この項目は必須です。", None)],
)
async def test_messages_are_in_the_page_language(client, db, language, required, single_line):
    client.headers["Accept-Language"] = language
    token = await csrf_token(client, "/join")
    response = await client.post("/join", data=join_data(token, email="", name="Jan\nPeeters"))
    assert response.status_code == 400 and required in response.text
    assert "This field is required." not in response.text
    if single_line:
        assert single_line in response.text
    assert await people(db) == 0


async def test_good_input_is_stored_as_the_models_clean_it(client, db):
    token = await csrf_token(client, "/join")
    response = await client.post(
        "/join",
        data=join_data(
            token, email="ＨＡＮＡＫＯ＠ｅｘａｍｐｌｅ．ｊｐ", name="  Yamada   Hanako ", interests=["food", "food"]
        ),
    )
    assert response.status_code == 303
    person = await db.scalar(select(Person))
    assert person is not None
    assert (person.email, person.name, person.city, person.language) == (
        "hanako@example.jp",
        "Yamada Hanako",
        "kanazawa",
        "ja",
    )
