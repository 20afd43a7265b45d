"""Words as a native speaker writes them: Beheerder, de Engelse versie, no double honorifics, the year title."""

from __future__ import annotations

import re

from club.ambassadors.service import club_today
from tests.factories import make_person
from tests.helpers import log_in_admin, post_form


async def test_dutch_says_beheerder_for_the_role(client, db):
    admin = await log_in_admin(client, db)
    admin.language = "nl"
    await db.commit()
    page = (await client.get(f"/admin/members/{admin.id}")).text
    assert re.search(r"<dd>Beheerder</dd>", page)
    assert '<option value="admin">Beheerder</option>' in (await client.get("/admin/members")).text


async def test_a_language_inside_a_sentence_reads_naturally(client, db):
    admin = await log_in_admin(client, db)
    await make_person(db, email="reader@example.org", language="en", newsletter=True)
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
    newsletter = response.headers["location"].split("?")[0].split("#")[0]
    admin.language = "nl"
    await db.commit()
    page = (await client.get(f"{newsletter}/confirm")).text
    assert "1 lid leest Engels, maar er is geen versie in die taal: dat lid krijgt de Nederlandse versie." in page
    assert "het English" not in page and "in het " not in page
    admin.language = "ja"
    await db.commit()
    page = (await client.get(f"{newsletter}/confirm")).text
    assert "英語で読む会員が1人いますが、英語の版がありません。この会員にはオランダ語版が届きます。" in page


async def test_japanese_without_double_honorifics_or_stray_spaces(client, db):
    admin = await log_in_admin(client, db)
    admin.language = "ja"
    await db.commit()
    await post_form(
        client,
        "/admin/admins/invite",
        {"email": "new@example.jp", "name": "新しい管理者", "language": "ja"},
        page="/admin/admins",
    )
    from sqlalchemy import select

    from club.mail.models import Mail

    mail = (await db.execute(select(Mail))).scalars().first()
    link = re.search(r"http://testserver(/admin/invite/\S+)", mail.text).group(1)
    assert "ご招待が届いて" not in mail.text and " さん" not in mail.text
    client.cookies.set("club_lang", "ja", domain="testserver.local")
    page = (await client.get(link)).text
    assert "new@example.jpとして、クラブの運営に招待されています。" in page
    assert "ご招待されて" not in page


async def test_the_year_title_reads_naturally(client, db):
    admin = await log_in_admin(client, db)
    year = club_today().year
    for language, title in (
        ("en", f"The year {year} in numbers"),
        ("nl", f"Het jaar {year} in cijfers"),
        ("ja", f"数字で見る{year}年"),
    ):
        admin.language = language
        await db.commit()
        page = (await client.get("/admin/ambassadors/numbers")).text
        assert f"<h1>{title}</h1>" in page, language
