"""Export: the list's filters, streamed CSV, formulas neutralised, and the server.py commands."""

import asyncio
import csv
import io
import re

from sqlalchemy import select

from club.accounts.models import Person
from club.admin.commands import export_members_cli, import_members_cli
from club.admin.exporter import neutralise
from club.members import service as members_service
from club.members.models import Consent, MemberInterest
from tests.factories import add_members, make_person
from tests.helpers import actions, log_in_admin, post_form, upload


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


async def test_export_uses_the_filters_and_neutralises_formulas(client, db):
    await log_in_admin(client, db)
    await add_members(
        db,
        [
            {"name": '=HYPERLINK("http://evil.example","click me")', "email": "formula@example.org", "city": "ghent"},
            {"name": "+SUM(A1:A9)", "email": "plus@example.org", "city": "ghent"},
            {"name": "山田 花子", "email": "hanako@example.jp", "city": "kanazawa"},
        ],
    )
    response = await client.get("/admin/members/export", params={"city": "ghent", "role": "member"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 with a BOM
    rows = read_csv(response.text)
    assert {row["email"] for row in rows} == {"formula@example.org", "plus@example.org"}
    names = {row["name"] for row in rows}
    assert names == {'\'=HYPERLINK("http://evil.example","click me")', "'+SUM(A1:A9)"}
    assert "member.export" in await actions(db)


async def test_export_of_everyone_spans_several_pages(client, db, monkeypatch):
    from club.admin import exporter

    monkeypatch.setattr(exporter, "CHUNK", 7)
    await log_in_admin(client, db)
    await add_members(db, [{"email": f"m{index}@example.org"} for index in range(30)])
    rows = read_csv((await client.get("/admin/members/export", params={"sort": "email"})).text)
    assert len(rows) == 31 and len({row["email"] for row in rows}) == 31


def test_neutralise_only_touches_formula_starts():
    assert neutralise("=1+1") == "'=1+1"
    assert neutralise("@cmd") == "'@cmd"
    assert neutralise("-2") == "'-2"
    assert neutralise("\t=x") == "'\t=x"
    assert neutralise("Jan = Piet") == "Jan = Piet"


async def test_command_line_import_then_export(settings, db, tmp_path, capsys):
    source = tmp_path / "in.csv"
    source.write_bytes("email,name,city\nhanako@example.jp,山田 花子,金沢\nbad,Bad,ghent\n".encode("cp932"))
    assert await import_members_cli(settings, str(source)) == 0
    output = capsys.readouterr()
    assert "1 good" in output.out and "line 3: bad: bad email address" in output.out
    assert "100%" in output.err  # the progress bar
    target = tmp_path / "out.csv"
    assert await export_members_cli(settings, str(target), {"city": "kanazawa"}) == 0
    rows = read_csv(target.read_text(encoding="utf-8"))
    assert [(row["email"], row["name"]) for row in rows] == [("hanako@example.jp", "山田 花子")]
    assert await import_members_cli(settings, str(tmp_path / "missing.csv")) == 2
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert await import_members_cli(settings, str(empty)) == 1
    assert "The file is empty." in capsys.readouterr().err


async def snapshot(db) -> tuple[list, list, list]:
    """Everything an import could change: every member's columns, their consents and their interests."""
    db.expire_all()
    people = [tuple(row) for row in (await db.execute(select(Person.__table__).order_by(Person.id))).all()]
    consents = [tuple(row) for row in (await db.execute(select(Consent.__table__).order_by(Consent.id))).all()]
    links = sorted(tuple(row) for row in (await db.execute(select(MemberInterest.__table__))).all())
    return people, consents, links


async def varied_members(db) -> None:
    formula = await make_person(
        db, email="formula@example.org", name='=HYPERLINK("http://evil.example","x")', city="ghent", language="nl"
    )
    hanako = await make_person(db, email="hanako@example.jp", name="山田 花子", city="kanazawa", language="ja")
    left = await make_person(db, email="left@example.org", name="-Left", city="elsewhere", language="en")
    await make_person(db, email="unconfirmed@example.org", name="Not Yet", confirmed=False)
    for person in (hanako, left):
        await members_service.set_newsletter(db, person, True, method="form", language=person.language)
    await members_service.set_newsletter(db, left, False, method="one-click", language="en")
    await members_service.set_interests(db, hanako, ["culture-crafts", "jazz-music"])
    await members_service.set_interests(db, formula, ["food"])
    await db.commit()


async def test_an_export_imported_again_changes_nothing(client, db):
    admin = await log_in_admin(client, db)
    admin.language = "nl"
    await db.commit()
    await varied_members(db)
    export = await client.get("/admin/members/export", params={"delimiter": "semicolon", "sort": "email"})
    assert export.status_code == 200
    text = export.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))  # ; for Excel set to Belgium
    hanako = next(row for row in rows if row["e-mailadres"] == "hanako@example.jp")
    assert (hanako["stad"], hanako["taal"], hanako["interesses"], hanako["nieuwsbrief"]) == (
        "Kanazawa",
        "Japans",
        "Cultuur en ambachten;Jazz en muziek",
        "ja",
    )
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", hanako["toestemmingsdatum"])  # Excel reads it as a date
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", hanako["ingeschreven_op"])
    before = await snapshot(db)
    response = await upload(client, export.content, filename="export.csv")
    job_url = response.headers["location"]
    preview = (await client.get(job_url)).text
    assert re.search(r'id="problem-rows">0<', preview), preview
    assert re.search(r'id="valid-rows">5 \(0 nieuw', preview)
    await post_form(client, job_url + "/run", page=job_url)
    for _ in range(400):
        if 'id="import-done"' in (await client.get(job_url)).text:
            break
        await asyncio.sleep(0.05)
    assert await snapshot(db) == before


async def test_export_in_english_by_default_with_commas(client, db):
    await log_in_admin(client, db)
    await varied_members(db)
    text = (await client.get("/admin/members/export")).content.decode("utf-8-sig")
    assert text.splitlines()[0] == (
        "email,name,city,language,interests,newsletter,consent_date,role,confirmed_at,suppressed_at,created_at"
    )
    hanako = next(row for row in read_csv(text) if row["email"] == "hanako@example.jp")
    assert (hanako["city"], hanako["language"], hanako["interests"]) == (
        "Kanazawa",
        "Japanese",
        "Culture and crafts;Jazz and music",
    )
