from sqlalchemy import select

from club.accounts import service
from club.accounts.models import Person
from tests.factories import CSRF_RE


async def setup_link(db) -> str:
    token = await service.issue_setup_link(db)
    await db.commit()
    assert token
    return f"/setup/{token}"


async def test_first_run_link_creates_the_admin_once(client, db):
    path = await setup_link(db)
    page = await client.get(path)
    assert page.status_code == 200
    token = CSRF_RE.search(page.text).group(1)
    form = {
        "name": "Hanako Yamada 山田 花子",
        "email": "Hanako@Example.org",
        "password": "kotoji-lantern-1971-ghent",
        "password_again": "kotoji-lantern-1971-ghent",
        "csrf_token": token,
    }
    response = await client.post(path, data=form)
    assert response.status_code == 303
    assert (await client.get("/admin")).status_code == 200
    admin = (await db.execute(select(Person))).scalar_one()
    assert admin.role == "admin" and admin.email == "hanako@example.org" and admin.name == "Hanako Yamada 山田 花子"
    assert admin.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    again = await client.post(path, data=form)
    assert again.status_code == 404
    assert (await client.get(path)).status_code == 404


async def test_no_setup_link_once_an_admin_exists(db):
    db.add(Person(email="a@example.org", name="A", role="admin"))
    await db.commit()
    assert await service.issue_setup_link(db) is None


async def test_forged_setup_token_is_404(client):
    assert (await client.get("/setup/" + "A" * 43)).status_code == 404
    assert (await client.get("/setup/" + "A" * 5000)).status_code == 404


async def test_setup_form_errors_keep_input_and_store_nothing(client, db):
    path = await setup_link(db)
    page = await client.get(path, headers={"accept-language": "ja"})
    token = CSRF_RE.search(page.text).group(1)
    response = await client.post(
        path,
        data={
            "name": "<script>alert(1)</script>",
            "email": "x@example.org",
            "password": "password123",
            "password_again": "password123",
            "csrf_token": token,
        },
        headers={"accept-language": "ja"},
    )
    assert response.status_code == 400
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text
    assert "名前に" in response.text and "よく使われ" in response.text
    assert (await db.execute(select(Person))).first() is None
    response = await client.post(
        path,
        data={
            "name": "Jan\r\nBcc: x@evil.example",
            "email": "x@example.org",
            "password": "kotoji-lantern-1971-ghent",
            "password_again": "different-but-long-enough",
            "csrf_token": token,
        },
    )
    assert response.status_code == 400
    assert (await db.execute(select(Person))).first() is None
