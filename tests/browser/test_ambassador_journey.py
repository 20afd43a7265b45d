"""An ambassador's journey in a real browser: an admin appoints a member, the ambassador (on a phone, in their
own language) logs an activity with a photo, the admin approves it, it shows on the public wall and feed, and at
the end of the term the ambassador downloads a certificate written as a native speaker of their language would."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.browser.helpers import screenshot, start_server
from tests.browser.test_member_journey import first_link, wait_for_mail

pytestmark = pytest.mark.browser
PASSWORD = "kotoji-lantern-1971-ghent"


def in_thread(function, *args):  # type: ignore[no-untyped-def]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


async def seed(database_url: str, ambassador_email: str, language: str) -> None:
    from club.accounts.models import Person
    from club.accounts.passwords import hash_password
    from club.db import create_engine, create_sessionmaker, utcnow

    engine = create_engine(database_url)
    async with create_sessionmaker(engine)() as db:
        db.add(
            Person(
                email="els@example.org",
                name="Els Van Gent",
                role="admin",
                language="nl",
                password_hash=await hash_password(PASSWORD),
                confirmed_at=utcnow(),
            )
        )
        db.add(
            Person(email=ambassador_email, name="Sofie 山田", language=language, city="kanazawa", confirmed_at=utcnow())
        )
        await db.commit()
    await engine.dispose()


def photo(path: Path) -> Path:
    image = Image.new("RGB", (900, 600), (200, 120, 40))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture
def ambassador_server(tmp_path, live_database_url, request):  # type: ignore[no-untyped-def]
    from club.migrate import upgrade

    language = request.param
    in_thread(upgrade, live_database_url)
    in_thread(asyncio.run, seed(live_database_url, f"sofie-{language}@example.org", language))
    server = start_server(tmp_path, live_database_url)
    yield server, language
    server.process.terminate()
    server.process.wait(timeout=10)


@pytest.mark.parametrize("ambassador_server", ["nl", "en", "ja"], indirect=True)
def test_appoint_log_approve_and_show_on_the_wall(ambassador_server, desktop, phone, tmp_path):
    server, language = ambassador_server
    address = f"sofie-{language}@example.org"
    today = dt.date.today()

    # the admin appoints the member
    admin = desktop.new_page()
    admin.goto(server.url + "/admin/login")
    admin.fill("#email", "els@example.org")
    admin.fill("#password", PASSWORD)
    admin.click("main button[type=submit]")
    admin.wait_for_url("**/admin")
    admin.goto(server.url + "/admin/ambassadors/appoint")
    admin.fill("#email", address)
    admin.fill("#starts_on", (today - dt.timedelta(days=30)).isoformat())
    admin.fill("#ends_on", (today + dt.timedelta(days=20)).isoformat())  # the certificate opens in the last month
    admin.select_option("#home_institution", index=0)
    admin.select_option("#host_institution", index=1)
    admin.select_option("#stationed_in", index=1)
    admin.click("main form button[type=submit]")
    admin.wait_for_url("**/admin/ambassadors")

    # the new ambassador gets a welcome mail, logs in with a link and logs an activity with a photo
    wait_for_mail(server.var_dir, address, 1)
    page = phone.new_page()
    page.goto(server.url + "/login")
    page.fill("#email", address)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url("**/login/sent")
    page.goto(first_link(wait_for_mail(server.var_dir, address, 2), "/login/"))
    page.locator("main form button[type=submit]").click()  # a login link logs in on the person's click
    page.wait_for_url("**/me")
    assert page.locator("html").get_attribute("lang") == language
    page.goto(server.url + "/activities/new")
    page.fill("#happened_on", today.isoformat())
    page.fill("#title", f"Kotoji lantern workshop {language}")
    page.select_option("#category", index=2)
    page.select_option("#city", index=0)
    page.fill("#venue", "Citadelpark")
    page.fill("#description", "We made **paper lanterns** with 30 pupils.")
    page.fill("#people_reached", "30")
    page.fill("#hours", "2.5")
    page.set_input_files("#photos", str(photo(tmp_path / "lantern.jpg")))
    page.check("input[name=public]")
    screenshot(page, f"activity-form-phone-{language}")
    page.click("button[name=action][value=submit]")
    page.wait_for_url("**/activities/*")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    # the admin approves it from the review queue
    admin.goto(server.url + "/admin/ambassadors/review")
    admin.click(f"text=Kotoji lantern workshop {language}")
    admin.click("button[name=action][value=approve]")
    admin.wait_for_load_state()

    # the wall shows it with its photo, and the feed announced in the page head carries it
    wall = phone.new_page()
    wall.goto(server.url + "/ambassadors")
    entry = wall.locator("article", has_text=f"Kotoji lantern workshop {language}")
    assert entry.count() == 1
    image = entry.locator("img").first
    assert image.get_attribute("loading") == "lazy"
    assert httpx.get(server.url + image.get_attribute("src")).headers["content-type"].startswith("image/")
    feed_href = wall.locator("link[rel=alternate][type='application/atom+xml']").get_attribute("href")
    feed = httpx.get(server.url + feed_href if feed_href.startswith("/") else feed_href)
    assert f"Kotoji lantern workshop {language}" in feed.text
    screenshot(wall, f"wall-phone-{language}")

    # the ambassador's numbers, counted in their language, and the certificate from the button that says it is busy
    page.goto(server.url + "/activities")
    assert page.locator("[data-figure=activities]").inner_text().split() == SINGLE_ACTIVITY[language]
    page.goto(server.url + "/me/ambassador")
    button = page.locator("a[data-certificate]")
    assert button.get_attribute("data-busy-text") == BUSY[language]
    with page.expect_download() as download_info:
        button.click()
    pdf = Path(download_info.value.path()).read_bytes()
    page.locator("[role=status]", has_text=DOWNLOADED[language]).wait_for()
    assert button.get_attribute("aria-busy") is None
    text = certificate_text(pdf, language)
    for line in CERTIFICATE[language]:
        assert line in text, (line, text)
    screenshot(page, f"terms-phone-{language}")


SINGLE_ACTIVITY = {
    "en": ["1", "approved", "activity"],
    "nl": ["1", "goedgekeurde", "activiteit"],
    "ja": ["1", "承認された活動"],
}
BUSY = {
    "en": "Preparing your certificate…",
    "nl": "Je getuigschrift wordt klaargemaakt…",
    "ja": "証明書を作成しています…",
}
DOWNLOADED = {
    "en": "Your certificate has been downloaded.",
    "nl": "Je getuigschrift is gedownload.",
    "ja": "証明書をダウンロードしました。",
}
# What a native speaker would sign: each language's own text and word order, its plurals, its numbers.
CERTIFICATE = {
    "en": [
        "Certificate of Ambassadorship",
        "This is to certify that Sofie 山田 served as an ambassador of the Ghent–Kanazawa Supporters Club from",
        "based in Kanazawa as a student of Ghent University hosted by Kanazawa University.",
        "1 approved activity",
        "2.5 hours",
        "30 people reached",
        "0 new members",
        "Areas of work",
        "With our warm thanks for bringing Ghent and Kanazawa closer together.",
        "Issued in Ghent on",
    ],
    "nl": [
        "Getuigschrift",
        "De Gent–Kanazawa Supporters Club verklaart hierbij dat Sofie 山田 van",
        "ambassadeur van de club was, met standplaats Kanazawa, als student van de Universiteit Gent te gast aan de "
        "Universiteit van Kanazawa.",
        "1 goedgekeurde activiteit",
        "2,5 uur",
        "30 mensen bereikt",
        "0 nieuwe leden",
        "Domeinen",
        "Met warme dank om Gent en Kanazawa dichter bij elkaar te brengen.",
        "Opgemaakt te Gent op",
    ],
    "ja": [
        "アンバサダー活動証明書",
        "Sofie 山田\u3000殿あなたは、",
        "ゲント大学の学生として金沢大学で学びながら金沢を拠点に、"
        "ゲント・金沢サポーターズクラブのアンバサダーを務めたことを証明します。",
        "承認された活動：1件",
        "活動時間：2.5時間",
        "届いた人数：30人",
        "新しい会員：0人",
        "活動分野",
        "ゲントと金沢の絆を深めるためのご尽力に、心より感謝申し上げます。",
    ],
}


def certificate_text(pdf: bytes, language: str) -> str:
    from pypdf import PdfReader

    lines = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).replace("\x00", "")
    # pypdf puts a NUL before each of fpdf2's two-byte glyph codes; lines are joined as the language writes them.
    return ("" if language == "ja" else " ").join(line.strip() for line in lines.split("\n"))
