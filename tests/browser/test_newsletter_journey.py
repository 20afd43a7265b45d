"""The newsletter journey in a real browser: an admin writes in Dutch and Japanese, previews both, sends a test,
sends to a small audience; every member receives exactly one mail in their language; one of them unsubscribes with
one click and the report counts it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import ROOT, screenshot
from tests.conftest import SECRET, free_port

pytestmark = pytest.mark.browser
PASSWORD = "kotoji-lantern-1971-ghent"
MEMBERS = {"jan@example.be": ("Jan Peeters", "nl"), "hanako@example.jp": ("山田 花子", "ja"),
           "sam@example.org": ("Sam Smith", "en")}


def app_with_newsletters():  # type: ignore[no-untyped-def]
    """The app as server.py builds it, plus the newsletter routes until club/app.py includes them."""
    from club.app import app_from_env
    from club.newsletters.routes import routes

    app = app_from_env()
    if "/admin/newsletters" not in {getattr(r, "path", None) for r in app.router.routes}:
        app.router.routes[:0] = routes
    return app


async def _seed(database_url: str) -> None:
    from club.accounts.models import Person
    from club.accounts.passwords import hash_password
    from club.db import create_engine, create_sessionmaker, utcnow

    engine = create_engine(database_url)
    async with create_sessionmaker(engine)() as db:
        db.add(Person(email="els@example.org", name="Els Van Gent", role="admin", language="nl",
                      password_hash=await hash_password(PASSWORD), confirmed_at=utcnow()))
        for email, (name, language) in MEMBERS.items():
            db.add(Person(email=email, name=name, language=language, confirmed_at=utcnow(), newsletter=True))
        await db.commit()
    await engine.dispose()


def in_thread(function, *args):  # type: ignore[no-untyped-def]
    """Run blocking or asyncio work beside Playwright's own event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


@pytest.fixture
def newsletter_server(tmp_path: Path, live_database_url: str, smtp_server) -> Iterator[tuple[str, object]]:
    from club.migrate import upgrade

    mailbox, smtp_port = smtp_server
    in_thread(upgrade, live_database_url)
    in_thread(asyncio.run, _seed(live_database_url))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUB_")}
    env.update({"CLUB_VAR_DIR": str(tmp_path / "var"), "CLUB_DATABASE_URL": live_database_url,
                "CLUB_SECRET_KEY": SECRET, "CLUB_BASE_URL": url, "CLUB_SMTP_HOST": "127.0.0.1",
                "CLUB_SMTP_PORT": str(smtp_port), "PYTHONUNBUFFERED": "1"})
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "tests.browser.test_newsletter_journey:app_with_newsletters",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/newsletters", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        process.kill()
        raise AssertionError("the server did not start:\n" + (process.stdout.read() if process.stdout else ""))
    yield url, mailbox
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_for(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def newsletters_to(mailbox, address: str) -> list[EmailMessage]:  # type: ignore[no-untyped-def]
    return [m for m in mailbox.to(address) if not str(m["Subject"]).startswith("[TEST]")]


def test_write_preview_test_send_follow_and_unsubscribe(newsletter_server, desktop):
    url, mailbox = newsletter_server
    page = desktop.new_page()
    page.goto(url + "/admin/login")
    page.fill("#email", "els@example.org")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/admin")

    page.goto(url + "/admin/newsletters/new")
    assert page.locator("h1").inner_text() == "Nieuwe nieuwsbrief"  # the admin reads Dutch
    page.fill("#subject_nl", "Nieuws uit Gent")
    page.fill("#body_nl", "# Beste %%name%%\n\nDe **Gentse Feesten** komen eraan.")
    # The live preview follows the typing, before anything is saved.
    nl_frame = page.frame_locator("iframe[name=preview-frame-nl]")
    nl_frame.locator("text=Gentse Feesten").wait_for()
    assert "Beste Els Van Gent" in page.locator("#preview-nl .preview-text").inner_text()
    page.fill("#subject_ja", "ヘントからのお知らせ")
    page.fill("#body_ja", "# %%name%% 様\n\n**ヘント祭り**がまもなく始まります。")
    page.frame_locator("iframe[name=preview-frame-ja]").locator("text=ヘント祭り").wait_for()
    page.select_option("#fallback_language", "nl")
    page.click("#save-button")
    page.wait_for_url("**/admin/newsletters/*")
    assert "ヘント祭り" in page.locator("#preview-ja .preview-text").inner_text()
    page.frame_locator("iframe[name=preview-frame-nl]").locator("text=Gentse Feesten").wait_for()
    screenshot(page, "newsletter-compose")

    page.fill("#addresses", "redactie@example.be")
    page.click("#test button[type=submit]")
    wait_for(lambda: len(mailbox.to("els@example.org")) == 2 and len(mailbox.to("redactie@example.be")) == 2)
    assert sorted(m["Subject"] for m in mailbox.to("els@example.org")) == [
        "[TEST] Nieuws uit Gent", "[TEST] ヘントからのお知らせ"]

    page.click("text=Nakijken en nu versturen")
    assert page.locator("#plan-total").inner_text() == "3"
    page.click("#send-now")
    page.wait_for_url("**/report?done=started")
    # The figures change while the page stays open (static/js/newsletters.js polls progress.json).
    page.locator("#count-sent", has_text=re.compile(r"^3$")).wait_for(timeout=20_000)
    page.locator("#progress-status", has_text=re.compile(r"^Verstuurd$")).wait_for()
    screenshot(page, "newsletter-report")

    for address, (name, language) in MEMBERS.items():
        received = newsletters_to(mailbox, address)
        assert len(received) == 1, address
        expected = "ヘントからのお知らせ" if language == "ja" else "Nieuws uit Gent"
        assert received[0]["Subject"] == expected
        assert name in received[0].get_body(("plain",)).get_content()

    # A mail client's one-click unsubscribe: the https link from List-Unsubscribe, posted without cookies.
    mail = newsletters_to(mailbox, "hanako@example.jp")[0]
    link = str(mail["List-Unsubscribe"]).split("<")[1].split(">")[0]
    response = httpx.post(link, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code < 400
    page.click("#reload")
    assert page.locator("#count-unsubscribes").inner_text() == "1"

    page.goto(url + "/newsletters")
    assert page.locator("link[rel=alternate][type='application/atom+xml']").count() == 1
    page.click("text=Nieuws uit Gent")
    assert "Els" not in page.locator("article").inner_text()
