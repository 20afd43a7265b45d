"""Importing members: preview with each row's problem, then a resumable import; bad files are refused whole."""

import asyncio
import csv
import datetime as dt
import io
import re

import pytest
from sqlalchemy import func, select

from club.accounts.models import Person
from club.admin import importer
from club.admin.models import MemberImport
from club.mail.models import Delivery, Mail
from club.members import service as members_service
from club.members.models import Consent, Interest, MemberInterest
from tests.factories import make_person
from tests.helpers import actions, log_in_admin, post_form, upload, wait_until_checked

GOOD = (
    "email,name,city,language,interests,newsletter,consent_date\n"
    "new1@example.org,Nieuw Lid,gent,nl,jazz-music;food,yes,2024-05-01\n"
    "new2@example.org,新しい 会員,金沢,日本語,,yes,\n"
    "existing@example.org,Renamed Person,kanazawa,ja,,no,\n"
)


async def count(db, model) -> int:
    return (await db.execute(select(func.count()).select_from(model))).scalar_one()


async def speak(db, admin, language: str) -> None:
    """The admin's console language (their saved language wins over the cookie)."""
    admin.language = language
    await db.commit()


async def wait_until_done(client, job_url: str) -> str:
    for _ in range(400):
        page = await client.get(job_url)
        if 'id="import-done"' in page.text or "The import was interrupted" in page.text:
            return page.text
        await asyncio.sleep(0.05)
    raise AssertionError("the import did not finish")


async def test_preview_then_import_creates_and_updates(client, db):
    await log_in_admin(client, db)
    await make_person(db, email="existing@example.org", name="Old Name", city="ghent", newsletter=True)
    response = await upload(client, GOOD.encode())
    assert response.status_code == 303
    job_url = response.headers["location"]
    preview = await client.get(job_url)
    assert "Import 3 members" in preview.text
    assert re.search(r'id="valid-rows">3 \(2 new, 1 updates\)', preview.text)
    assert await count(db, Person) == 2  # nothing imported before the admin says so

    response = await post_form(client, job_url + "/run", page=job_url)
    assert response.status_code == 303
    done = await wait_until_done(client, job_url)
    assert "Done: 3 members imported." in done

    db.expire_all()
    people = {p.email: p for p in (await db.execute(select(Person))).scalars()}
    assert len(people) == 4  # admin, existing, two new: no duplicate
    assert people["existing@example.org"].name == "Renamed Person"
    assert people["existing@example.org"].city == "kanazawa"
    assert people["existing@example.org"].newsletter is False  # 'no' in the file withdraws, and says so
    new1, new2 = people["new1@example.org"], people["new2@example.org"]
    assert (new1.city, new1.language, new1.newsletter) == ("ghent", "nl", True)
    assert (new2.city, new2.language, new2.name) == ("kanazawa", "ja", "新しい 会員")
    assert new2.newsletter is False  # wants it, but no proof of consent: nothing until they confirm
    consents = (await db.execute(select(Consent).order_by(Consent.id))).scalars().all()
    assert {(c.person_id, c.given, c.method) for c in consents} == {
        (people["existing@example.org"].id, False, "import"),
        (new1.id, True, "import"),
    }
    assert await count(db, MemberInterest) == 2
    assert {"member.import.check", "member.import.start", "member.import.finish"} <= set(await actions(db))


async def test_preview_lists_each_rows_problem_and_skips_those_rows(client, db):
    await log_in_admin(client, db)
    content = (
        "email;name;city;language\n"
        "not-an-address;Someone;ghent;nl\n"
        "ok@example.org;Good Row;ghent;nl\n"
        "OK@example.org;Duplicate;ghent;nl\n"
        "third@example.org;Third;paris;nl\n"
        "fourth@example.org;Fourth;ghent;klingon\n"
        'formula@example.org;=HYPERLINK("http://evil.example","click");ghent;en\n'
    )
    response = await upload(client, content.encode())
    job_url = response.headers["location"]
    preview = (await client.get(job_url)).text
    assert "bad email address" in preview
    assert "duplicate of an earlier row" in preview
    assert "unknown city" in preview
    assert "unknown language" in preview
    assert re.search(r'id="problem-rows">4<', preview)
    assert "Import 2 members" in preview
    await post_form(client, job_url + "/run", page=job_url)
    await wait_until_done(client, job_url)
    db.expire_all()
    emails = set((await db.execute(select(Person.email))).scalars())
    assert emails == {"admin@example.org", "ok@example.org", "formula@example.org"}


@pytest.mark.parametrize(("encoding", "prefix"), [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("cp932", b"")])
async def test_utf8_with_or_without_bom_and_excel_shift_jis(client, db, encoding, prefix):
    await log_in_admin(client, db)
    content = prefix + "メールアドレス,名前,都市,言語\nhanako@example.jp,山田 花子,金沢,日本語\n".encode(encoding)
    response = await upload(client, content)
    assert response.status_code == 303
    job = (await db.execute(select(MemberImport))).scalar_one()
    assert job.valid_rows == 1 and job.problem_rows == 0
    assert job.encoding == {b"": encoding, b"\xef\xbb\xbf": "utf-8-sig"}[prefix]
    await post_form(client, response.headers["location"] + "/run", page=response.headers["location"])
    await wait_until_done(client, response.headers["location"])
    person = (await db.execute(select(Person).where(Person.email == "hanako@example.jp"))).scalar_one()
    assert (person.name, person.city, person.language) == ("山田 花子", "kanazawa", "ja")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"\xef\xbb\xbf \r\n", "The file is empty."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00" + bytes(range(256)) * 4, "This is not a CSV text file."),
        (b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), "This is not a CSV text file."),
        (b"naam,stad\nJan,gent\n", "at least an email column"),
        (b"email,name\n", "a header row but no members"),
    ],
)
async def test_bad_files_are_refused_whole(client, db, content, message):
    await log_in_admin(client, db)
    response = await upload(client, content)
    assert response.status_code == 400
    assert message in response.text
    assert "Nothing was imported." in response.text
    assert await count(db, MemberImport) == 0
    assert await count(db, Person) == 1


async def test_upload_without_a_file_or_csrf(client, db):
    await log_in_admin(client, db)
    response = await post_form(client, "/admin/members/import", page="/admin/members/import")
    assert response.status_code == 400
    response = await client.post("/admin/members/import", files={"file": ("m.csv", GOOD.encode(), "text/csv")})
    assert response.status_code == 403


async def test_an_interrupted_import_resumes_without_applying_a_row_twice(app, client, db, settings, monkeypatch):
    await log_in_admin(client, db)
    monkeypatch.setattr(importer, "BATCH", 10)
    rows = "".join(f"p{index}@example.org,Person {index},ghent,en,,yes,2024-01-01\n" for index in range(35))
    response = await upload(client, ("email,name,city,language,interests,newsletter,consent_date\n" + rows).encode())
    job_id = int(response.headers["location"].rsplit("/", 1)[1])

    def crash_after_two_batches(done: int, total: int) -> None:
        if done >= 20:
            raise RuntimeError("power cut")

    status = await importer.run(app.state.sessionmaker, settings, job_id, progress=crash_after_two_batches)
    assert status == "interrupted"
    db.expire_all()
    assert await count(db, Person) == 21
    page = await client.get(f"/admin/members/import/{job_id}")
    assert "Resume" in page.text and 'value="20"' in page.text
    assert await importer.run(app.state.sessionmaker, settings, job_id) == "done"
    db.expire_all()
    assert await count(db, Person) == 36
    assert await count(db, Consent) == 35  # one consent each: no batch applied twice
    assert await importer.run(app.state.sessionmaker, settings, job_id) == "done"  # a third run does nothing
    assert await count(db, Person) == 36


@pytest.mark.slow
async def test_a_file_of_200000_rows_is_checked_and_imported_whole(app, client, db, settings):
    await log_in_admin(client, db)
    lines = ["email,name,city,language"]
    lines += [f"member{index}@example.org,Member {index},ghent,nl" for index in range(200_000)]
    response = await upload(client, ("\n".join(lines) + "\n").encode())
    assert response.status_code == 303
    job_id = int(response.headers["location"].rsplit("/", 1)[1])
    db.expire_all()
    job = await db.get(MemberImport, job_id)
    assert (job.total_rows, job.valid_rows, job.problem_rows) == (200_000, 200_000, 0)
    assert await importer.run(app.state.sessionmaker, settings, job_id) == "done"
    assert await count(db, Person) == 200_001


async def test_too_many_rows_are_refused_whole(client, db, monkeypatch):
    await log_in_admin(client, db)
    monkeypatch.setattr(importer, "MAX_ROWS", 100)
    lines = ["email"] + [f"m{index}@example.org" for index in range(101)]
    response = await upload(client, ("\n".join(lines)).encode())
    assert response.status_code == 400
    assert "more than 100 rows" in response.text
    assert await count(db, MemberImport) == 0


async def test_each_problem_names_the_column_and_the_value_in_the_admins_language(client, db):
    admin = await log_in_admin(client, db)
    content = (
        "email,name,city,language,interests,newsletter,consent_date\n"
        "kenji@example.jp,田中 健二,石川県金沢市,日本語,,,\n"
        "not-an-address,Someone,gent,nl,,,\n"
        "an@example.be,An,gent,klingon,origami,misschien,31/31/2024\n"
    )
    response = await upload(client, content.encode())
    preview = (await client.get(response.headers["location"])).text
    for said in (
        "unknown city: 石川県金沢市",
        "bad email address: not-an-address",
        "unknown language: klingon",
        "unknown interest: origami",
        "newsletter is not yes or no: misschien",
        "consent date is not a date: 31/31/2024",
    ):
        assert said in preview
    await speak(db, admin, "ja")
    japanese = (await client.get(response.headers["location"])).text
    assert "不明な都市：石川県金沢市" in japanese
    assert "不明な関心：origami" in japanese
    await speak(db, admin, "nl")
    dutch = (await client.get(response.headers["location"])).text
    assert "onbekende stad: 石川県金沢市" in dutch


async def test_interests_by_name_in_any_language_or_code_and_names_of_cities_and_languages(client, db):
    await log_in_admin(client, db)
    content = (
        "e-mailadres;naam;stad;taal;interesses;nieuwsbrief;toestemmingsdatum\n"
        "an@example.be;An Peeters;Gent;Nederlands;Jazz en muziek|文化・工芸;ja;2024-04-01\n"
        "taro@example.jp;山田 太郎;金沢;Japans;食、Sustainability;はい;2024-04-01\n"
        "tom@example.org;Tom;Elsewhere;英語;youth| STUDENT EXCHANGE ;nee;\n"
    )
    response = await upload(client, content.encode())
    job_url = response.headers["location"]
    preview = await client.get(job_url)
    assert re.search(r'id="problem-rows">0<', preview.text), preview.text
    await post_form(client, job_url + "/run", page=job_url)
    await wait_until_done(client, job_url)
    db.expire_all()
    rows = (
        await db.execute(
            select(Person.email, Person.city, Person.language, Interest.slug)
            .join(MemberInterest, MemberInterest.person_id == Person.id)
            .join(Interest, Interest.id == MemberInterest.interest_id)
        )
    ).all()
    found: dict[str, set] = {}
    for email, city, language, slug in rows:
        found.setdefault((email, city, language), set()).add(slug)
    assert found == {
        ("an@example.be", "ghent", "nl"): {"jazz-music", "culture-crafts"},
        ("taro@example.jp", "kanazawa", "ja"): {"food", "sustainability"},
        ("tom@example.org", "elsewhere", "en"): {"youth", "student-exchange"},
    }


async def test_the_page_lists_accepted_values_and_column_names_and_offers_a_template(client, db):
    await speak(db, await log_in_admin(client, db), "nl")
    page = (await client.get("/admin/members/import")).text
    columns = page.split('id="import-columns"', 1)[1].split("</table>", 1)[0]
    for name in ("email", "e-mailadres", "メールアドレス", "consent_date", "toestemmingsdatum", "同意日", "関心"):
        assert re.search(f'<code lang="..">{name}</code>', columns)
    for value in ("Jazz en muziek", "Studentenuitwisseling", "Gent", "Elders", "Japans", "ja", "nee"):
        assert value in columns
    assert "Jazz and music" not in columns  # the values in the page's language
    template = await client.get("/admin/members/import/template.csv?delimiter=semicolon")
    assert template.status_code == 200 and "attachment" in template.headers["content-disposition"]
    lines = template.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "e-mailadres;naam;stad;taal;interesses;nieuwsbrief;toestemmingsdatum"
    response = await upload(client, template.content)  # the example imports as it is
    preview = (await client.get(response.headers["location"])).text
    assert re.search(r'id="valid-rows">1 ', preview) and re.search(r'id="problem-rows">0<', preview)


async def test_dates_as_excel_writes_them(client, db):
    await log_in_admin(client, db)
    written = {
        "a": "2024/04/01",
        "b": "15/03/2024",
        "c": "2024-04-01",
        "d": "45383",
        "e": "2024/4/1 0:00",
        "f": "2024年4月1日",
    }
    content = "email,name,newsletter,consent_date\n" + "".join(
        f"{key}@example.org,Member {key},yes,{value}\n" for key, value in written.items()
    )
    response = await upload(client, content.encode())
    job_url = response.headers["location"]
    assert re.search(r'id="problem-rows">0<', (await client.get(job_url)).text)
    await post_form(client, job_url + "/run", page=job_url)
    await wait_until_done(client, job_url)
    db.expire_all()
    versions = dict(
        (
            await db.execute(select(Person.email, Consent.text_version).join(Consent, Consent.person_id == Person.id))
        ).all()
    )
    assert versions == {
        "a@example.org": "import:2024-04-01",
        "b@example.org": "import:2024-03-15",
        "c@example.org": "import:2024-04-01",
        "d@example.org": "import:2024-04-01",
        "e@example.org": "import:2024-04-01",
        "f@example.org": "import:2024-04-01",
    }


async def test_the_rejected_rows_download_as_csv_with_their_problems(client, db):
    await log_in_admin(client, db)
    content = (
        "email;name;city;note\n"
        "not-an-address;Someone;gent;first\n"
        "ok@example.org;Good Row;ghent;fine\n"
        'third@example.org;"=HYPERLINK(""http://evil.example"")";paris;third\n'
    )
    response = await upload(client, content.encode(), filename="leden.csv")
    job_url = response.headers["location"]
    preview = (await client.get(job_url)).text
    assert f'href="{job_url}/rejected.csv"' in preview
    rejected = await client.get(job_url + "/rejected.csv")
    assert rejected.status_code == 200 and "leden-rejected.csv" in rejected.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(rejected.content.decode("utf-8-sig")), delimiter=";"))
    assert rows == [
        ["email", "name", "city", "note", "line", "problem"],
        ["not-an-address", "Someone", "gent", "first", "2", "bad email address: not-an-address"],
        ["third@example.org", '\'=HYPERLINK("http://evil.example")', "paris", "third", "4", "unknown city: paris"],
    ]
    fixed = upload(client, rejected.content.replace(b"paris", b"gent"))  # fix a row, import that file
    preview = (await client.get((await fixed).headers["location"])).text
    assert re.search(r'id="valid-rows">1 ', preview)  # the fixed row; the bad address is still refused


async def test_checking_a_large_file_shows_its_progress(client, db, monkeypatch):
    from club.admin import routes

    await log_in_admin(client, db)
    monkeypatch.setattr(routes, "CHECK_WAIT", 0)
    monkeypatch.setattr(importer, "CHECK_BATCH", 10)
    lines = ["email,name"] + [f"m{index}@example.org,Member {index}" for index in range(200)]
    response = await upload(client, "\n".join(lines).encode(), checked=False)
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert 'id="check-progress"' in page.text and 'max="200"' in page.text
    assert page.headers["refresh"] == "1"
    preview = await wait_until_checked(client, response.headers["location"])
    assert re.search(r'id="valid-rows">200 ', preview)


async def test_rows_without_a_consent_date_get_the_repermission_mail_through_the_outbox(client, db, monkeypatch):
    await log_in_admin(client, db)
    monkeypatch.setattr(importer, "REPERMISSION_BATCH", 2)
    left = await make_person(db, email="left@example.org", newsletter=True)
    await make_person(db, email="already@example.org", newsletter=True)
    await members_service.set_newsletter(db, left, False, method="one-click", language="en")
    await db.commit()
    content = (
        "email,name,newsletter,consent_date\n"
        + "".join(f"ask{index}@example.org,Asked {index},yes,\n" for index in range(5))
        + "left@example.org,Left Us,yes,\nproof@example.org,Has Proof,yes,2024-04-01\n"
        + "already@example.org,Already In,yes,\n"
    )
    response = await upload(client, content.encode())
    job_url = response.headers["location"]
    preview = (await client.get(job_url)).text
    assert re.search(r'id="without-consent">5<', preview) and re.search(r'id="conflict-rows">1<', preview)
    await post_form(client, job_url + "/run", page=job_url)
    done = await wait_until_done(client, job_url)
    assert "Send the re-permission mail to 5 members" in done
    response = await post_form(client, job_url + "/repermission", page=job_url)
    assert response.status_code == 303
    for _ in range(400):
        page = (await client.get(job_url)).text
        if 'id="repermission-done"' in page:
            break
        assert 'id="repermission-progress"' in page
        await asyncio.sleep(0.05)
    assert "Done: 5 re-permission mails are in the outbox." in page
    db.expire_all()
    queued = dict(
        (
            await db.execute(
                select(Delivery.to_email, Mail.text)
                .join(Mail, Mail.id == Delivery.mail_id)
                .where(Mail.kind == "admin-repermission")
            )
        ).all()
    )
    assert set(queued) == {f"ask{index}@example.org" for index in range(5)}
    await post_form(client, job_url + "/repermission", page=job_url)  # a second press sends nothing more
    assert (await db.execute(select(func.count()).select_from(Delivery))).scalar_one() == 5
    link = re.search(r"http://testserver(/newsletter/opt-in/\S+)", queued["ask3@example.org"]).group(1)
    await post_form(client, link, page=link)
    db.expire_all()
    person = (await db.execute(select(Person).where(Person.email == "ask3@example.org"))).scalar_one()
    assert person.newsletter is True
    assert "member.import.repermission" in await actions(db)


async def test_files_of_imports_older_than_30_days_are_forgotten(app, client, db, settings):
    from club.admin.tasks import forget_old_import_files

    await log_in_admin(client, db)
    old = await upload(client, b"email,name\nnot-an-address,Old\nold@example.org,Old\n")
    recent = await upload(client, b"email,name\nalso-bad,Recent\n")
    old_id = int(old.headers["location"].rsplit("/", 1)[1])
    job = await db.get(MemberImport, old_id)
    job.created_at = job.created_at - dt.timedelta(days=31)
    await db.commit()
    await forget_old_import_files(app.state.sessionmaker, settings)
    assert not importer.rejected_path(settings, old_id).exists()
    assert not importer.rows_path(settings, old_id).exists()
    assert (await client.get(old.headers["location"] + "/rejected.csv")).status_code == 404
    assert (await client.get(recent.headers["location"] + "/rejected.csv")).status_code == 200


async def test_a_consent_date_later_than_the_withdrawal_subscribes_again(client, db):
    await log_in_admin(client, db)
    for email in ("came-back@example.org", "still-gone@example.org"):
        person = await make_person(db, email=email, newsletter=True)
        await members_service.set_newsletter(db, person, False, method="one-click", language="en")
    await db.commit()
    ten_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    for withdrawal in (await db.execute(select(Consent).where(Consent.given.is_(False)))).scalars():
        withdrawal.created_at = ten_days_ago
    await db.commit()
    later = (ten_days_ago + dt.timedelta(days=5)).date().isoformat()
    earlier = (ten_days_ago - dt.timedelta(days=5)).date().isoformat()
    content = (
        "email,name,newsletter,consent_date\n"
        f"came-back@example.org,Came Back,yes,{later}\nstill-gone@example.org,Still Gone,yes,{earlier}\n"
    )
    response = await upload(client, content.encode())
    job_url = response.headers["location"]
    assert re.search(r'id="conflict-rows">1<', (await client.get(job_url)).text)
    await post_form(client, job_url + "/run", page=job_url)
    await wait_until_done(client, job_url)
    db.expire_all()
    subscribed = dict(
        (await db.execute(select(Person.email, Person.newsletter).where(Person.email.like("%@example.org")))).all()
    )
    assert subscribed["came-back@example.org"] is True
    assert subscribed["still-gone@example.org"] is False
