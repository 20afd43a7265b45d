"""The newsletter journey in a real browser: an admin writes in Dutch and Japanese with the name placeholder exactly
as the composer's hint shows it, is warned about a mistyped one, inserts an image with a description, previews
both, sends a test, sends to a small audience; every member receives exactly one mail in their language with their
name; one of them unsubscribes with one click and the report counts it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import re
import subprocess
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from tests.browser.helpers import screenshot, start_server
from tests.helpers import SECRET

pytestmark = pytest.mark.browser
PASSWORD = "kotoji-lantern-1971-ghent"
MEMBERS = {
    "jan@example.be": ("Jan Peeters", "nl"),
    "hanako@example.jp": ("山田 花子", "ja"),
    "sam@example.org": ("Sam Smith", "en"),
}


async def _seed(database_url: str, admin_language: str) -> None:
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
                language=admin_language,
                password_hash=await hash_password(PASSWORD),
                confirmed_at=utcnow(),
            )
        )
        for email, (name, language) in MEMBERS.items():
            db.add(Person(email=email, name=name, language=language, confirmed_at=utcnow(), newsletter=True))
        await db.commit()
    await engine.dispose()


def in_thread(function, *args):  # type: ignore[no-untyped-def]
    """Run blocking or asyncio work beside Playwright's own event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


UI = {  # what the admin reads, in the admin's own language
    "nl": {"new": "Nieuwe nieuwsbrief", "review": "Nakijken en nu versturen", "sent": "Verstuurd"},
    "en": {"new": "New newsletter", "review": "Review and send now", "sent": "Sent"},
    "ja": {"new": "新しいニュースレター", "review": "確認して今すぐ送信", "sent": "送信済み"},
}


@pytest.fixture(params=["nl", "en", "ja"])
def admin_language(request) -> str:  # type: ignore[no-untyped-def]
    return str(request.param)


@pytest.fixture
def newsletter_server(
    tmp_path: Path, live_database_url: str, smtp_server, admin_language: str
) -> Iterator[tuple[str, object]]:
    """The server started the README's way, sending through a real SMTP server on loopback."""
    from club.migrate import upgrade

    mailbox, smtp_port = smtp_server
    in_thread(upgrade, live_database_url)
    in_thread(asyncio.run, _seed(live_database_url, admin_language))
    server = start_server(
        tmp_path, live_database_url, CLUB_SECRET_KEY=SECRET, CLUB_SMTP_HOST="127.0.0.1", CLUB_SMTP_PORT=str(smtp_port)
    )
    yield server.url, mailbox
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


def wait_for(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def newsletters_to(mailbox, address: str) -> list[EmailMessage]:  # type: ignore[no-untyped-def]
    return [m for m in mailbox.to(address) if not str(m["Subject"]).startswith("[TEST]")]


def test_write_preview_test_send_follow_and_unsubscribe(newsletter_server, desktop, phone, admin_language):
    url, mailbox = newsletter_server
    ui = UI[admin_language]
    page = desktop.new_page()
    page.goto(url + "/admin/login")
    page.fill("#email", "els@example.org")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/admin")

    page.goto(url + "/admin/newsletters/new")
    assert page.locator("h1").inner_text() == ui["new"]  # the admin reads their own language
    tag = page.locator("#compose-hint code").inner_text()  # the name placeholder, as the hint writes it
    page.fill("#subject_nl", "Nieuws uit Gent")
    # A mistyped placeholder is pointed out in the live preview, before anything is saved.
    page.fill("#body_nl", "# Beste %naam%\n\nDe **Gentse Feesten** komen eraan.")
    page.locator("#preview-nl .preview-problem", has_text="%naam%").wait_for()
    page.fill("#body_nl", f"# Beste {tag}\n\nDe **Gentse Feesten** komen eraan.")
    page.locator("#preview-nl .preview-problem").wait_for(state="hidden")
    # The live preview follows the typing, before anything is saved.
    nl_frame = page.frame_locator("iframe[name=preview-frame-nl]")
    nl_frame.locator("text=Gentse Feesten").wait_for()
    assert "Beste Els Van Gent" in page.locator("#preview-nl .preview-text").inner_text()
    page.fill("#subject_ja", "ゲントからのお知らせ")
    page.fill("#body_ja", f"# {tag} 様\n\n**ゲント祭り**が\nまもなく始まります。")
    page.frame_locator("iframe[name=preview-frame-ja]").locator("text=ゲント祭り").wait_for()
    page.select_option("#fallback_language", "nl")
    page.click("#save-button")
    page.wait_for_url("**/admin/newsletters/*")
    assert "ゲント祭りがまもなく始まります。" in page.locator("#preview-ja .preview-text").inner_text()
    page.frame_locator("iframe[name=preview-frame-nl]").locator("text=Gentse Feesten").wait_for()
    screenshot(page, f"newsletter-compose-{admin_language}")

    # An image goes in with a button and a real description, not its file name.
    from PIL import Image

    picture = io.BytesIO()
    Image.new("RGB", (120, 80), "orange").save(picture, "JPEG")
    page.set_input_files(
        "#images-input", files=[{"name": "IMG_0042.jpg", "mimeType": "image/jpeg", "buffer": picture.getvalue()}]
    )
    page.click("#images button[type=submit]")
    page.wait_for_url("**#images")
    page.locator(".image-insert-button[data-language=nl]").click()
    assert page.locator(".image-alt-error").is_visible()  # no description yet: nothing inserted
    assert "![" not in page.input_value("#body_nl")
    page.fill(".image-alt", "Lampionnen op de Graslei")
    page.locator(".image-insert-button[data-language=nl]").click()
    assert re.search(
        r"!\[Lampionnen op de Graslei\]\(http://\S+/newsletters/images/\S+\.jpg\)", page.input_value("#body_nl")
    )
    page.click("#save-button")
    page.wait_for_url("**/admin/newsletters/*")

    page.fill("#addresses", "redactie@example.be")
    page.click("#test button[type=submit]")
    wait_for(lambda: len(mailbox.to("els@example.org")) == 2 and len(mailbox.to("redactie@example.be")) == 2)
    assert sorted(m["Subject"] for m in mailbox.to("els@example.org")) == [
        "[TEST] Nieuws uit Gent",
        "[TEST] ゲントからのお知らせ",
    ]

    page.click(f"text={ui['review']}")
    assert page.locator("#plan-total").inner_text() == "3"
    assert page.locator("#audience-summary").is_visible()
    # The send button says it is busy and takes one press (the form's real submission is held back here).
    label = page.locator("#send-now").inner_text()
    page.evaluate("document.querySelector('.send-form').addEventListener('submit', e => e.preventDefault())")
    page.click("#send-now")
    page.wait_for_function("document.querySelector('#send-now').disabled")
    assert page.locator("#send-now").get_attribute("aria-busy") == "true"
    assert page.locator("#send-now").inner_text() != label
    page.reload()
    page.click("#send-now")
    page.wait_for_url("**/report")
    # The figures change while the page stays open (static/js/newsletters.js polls progress.json).
    page.locator("#count-sent", has_text=re.compile(r"^3$")).wait_for(timeout=20_000)
    page.locator("#progress-status", has_text=re.compile(f"^{ui['sent']}$")).wait_for()
    screenshot(page, f"newsletter-report-{admin_language}")

    for address, (name, language) in MEMBERS.items():
        received = newsletters_to(mailbox, address)
        assert len(received) == 1, address
        expected = "ゲントからのお知らせ" if language == "ja" else "Nieuws uit Gent"
        assert received[0]["Subject"] == expected
        text = received[0].get_body(("plain",)).get_content()
        assert name in text and tag not in text
        greeting = f"{name} 様" if language == "ja" else f"Beste {name}"
        assert greeting in text and greeting in received[0].get_body(("html",)).get_content()
        html = received[0].get_body(("html",)).get_content()
        if language != "ja":
            assert 'alt="Lampionnen op de Graslei"' in html

    # A mail client's one-click unsubscribe: the https link from List-Unsubscribe, posted without cookies.
    mail = newsletters_to(mailbox, "hanako@example.jp")[0]
    link = str(mail["List-Unsubscribe"]).split("<")[1].split(">")[0]
    response = httpx.post(link, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code < 400
    page.click("#reload")
    assert page.locator("#count-unsubscribes").inner_text() == "1"

    report_url = page.url
    page.goto(url + "/newsletters")
    assert page.locator("link[rel=alternate][type='application/atom+xml']").count() == 1
    page.click("text=" + ("ゲントからのお知らせ" if admin_language == "ja" else "Nieuws uit Gent"))
    assert "Els" not in page.locator("article").inner_text()

    # On a 360 px phone the report and the editor fit the screen (no sideways scrolling).
    small = phone.new_page()
    small.goto(url + "/admin/login")
    small.fill("#email", "els@example.org")
    small.fill("#password", PASSWORD)
    small.click("main button[type=submit]")
    small.wait_for_url("**/admin")
    for path in (url + "/admin/newsletters", url + "/admin/newsletters/new", report_url):
        small.goto(path)
        assert small.evaluate("document.documentElement.scrollWidth") <= 360, path
