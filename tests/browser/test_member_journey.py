"""A new member's whole journey on a phone, in each language: join, the mail, confirm, welcome, log in by link,
change language, export, unsubscribe from a newsletter mail, erase."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.browser.helpers import screenshot

pytestmark = pytest.mark.browser

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/[^\s<>\"]+)")
TEXTS = {
    "nl": {"sent": "Kijk in je mailbox", "saved": "opgeslagen"},
    "en": {"sent": "Check your mailbox", "saved": "saved"},
    "ja": {"sent": "メール", "saved": "保存"},
}


def mails_to(var_dir: Path, address: str) -> list[EmailMessage]:
    found = []
    for path in sorted((var_dir / "mailbox").glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if address in str(message["To"]):
            found.append(message)
    return found


def wait_for_mail(var_dir: Path, address: str, count: int, timeout: float = 15) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mails = mails_to(var_dir, address)
        if len(mails) >= count:
            return mails[count - 1]
        time.sleep(0.1)
    raise AssertionError(f"mail {count} to {address} did not arrive; got {len(mails_to(var_dir, address))}")


def text_of(message: EmailMessage) -> str:
    return str(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]


def first_link(message: EmailMessage, fragment: str) -> str:
    for link in LINK.findall(text_of(message)):
        if fragment in link:
            return link
    raise AssertionError(f"no {fragment} link in:\n{text_of(message)}")


def queue_newsletter(server, address: str, language: str) -> None:
    """What the newsletter feature does when an admin presses send, straight into the live server's outbox."""
    from sqlalchemy import select

    from club.accounts.models import Person
    from club.config import Settings
    from club.db import create_engine, create_sessionmaker, transaction
    from club.mail.outbox import Recipient
    from club.mail.outbox import queue_newsletter as queue
    from club.members.service import unsubscribe_url

    settings = Settings.from_env(
        {"CLUB_VAR_DIR": str(server.var_dir), "CLUB_DATABASE_URL": server.database_url, "CLUB_BASE_URL": server.url}
    )

    async def run() -> None:
        engine = create_engine(settings.database_url)
        async with transaction(create_sessionmaker(engine)) as db:
            person = (await db.execute(select(Person).where(Person.email == address))).scalar_one()
            recipient = Recipient(person.email, person.name, person.id, unsubscribe_url(settings, person.id))
            await queue(
                db,
                subject="Nieuws / News / ニュース",
                language=language,
                recipients=[recipient],
                text="Hello %%name%%\n\nUnsubscribe: %%unsubscribe_url%%\n",
                html="<p>Hello %%name%%</p><p><a href='%%unsubscribe_url%%'>Unsubscribe</a></p>",
            )
        await engine.dispose()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright holds this thread's event loop
        pool.submit(asyncio.run, run()).result()


@pytest.mark.parametrize("language", ["nl", "en", "ja"])
def test_member_journey_on_a_phone(live_server, phone, language):
    var_dir = live_server.var_dir
    address = f"member-{language}@example.org"
    name = {"nl": "Jan Van den Bossche", "en": "Sam Taylor", "ja": "山田 花子"}[language]
    page = phone.new_page()
    downloads: list[Path] = []

    # join, in the member's language
    page.goto(live_server.url + "/")
    page.click(f".language-switcher button[value={language}]")
    page.goto(live_server.url + "/join")
    assert page.locator("html").get_attribute("lang") == language
    assert page.locator("#city").input_value() == ""  # nothing preselected: the person chooses
    page.fill("#name", name)
    page.fill("#email", address)
    page.select_option("#city", "kanazawa" if language == "ja" else "ghent")
    page.select_option("#language", language)
    page.locator("input[name=interests]").first.check()
    page.check("#newsletter")
    screenshot(page, f"join-phone-{language}")
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url("**/join/sent")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    # the confirmation mail, in their language; the page confirms on the person's click, never by script
    confirmation = wait_for_mail(var_dir, address, 1)
    assert text_of(confirmation).strip()
    confirm_link = first_link(confirmation, "/join/confirm/")
    page.goto(confirm_link)
    page.wait_for_timeout(300)
    assert page.url == confirm_link  # a scanner that runs scripts stays here, and confirms nothing
    assert page.locator("main form button[type=submit]").count() == 1
    screenshot(page, f"confirm-phone-{language}")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/me")
    assert page.locator("html").get_attribute("lang") == language
    welcome = wait_for_mail(var_dir, address, 2)
    assert name in text_of(welcome)

    # log out, then in again with a link by mail
    page.locator("form[action='/logout'] button").click()
    page.goto(live_server.url + "/login")
    page.fill("#email", address)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url("**/login/sent")
    login_mail = wait_for_mail(var_dir, address, 3)
    login_link = first_link(login_mail, "/login/")
    page.goto(login_link)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/me")
    # the confirmation link clicked again while logged in leads to the account, not to an error page
    page.goto(confirm_link)
    page.wait_for_url("**/me")

    # change language on the profile: the pages follow
    other = {"nl": "ja", "en": "nl", "ja": "en"}[language]
    page.select_option("#language", other)
    page.locator("form[action='/me'] button[type=submit]").click()
    page.wait_for_url("**/me")
    assert page.locator("html").get_attribute("lang") == other
    screenshot(page, f"profile-phone-{language}-then-{other}")

    # take the data along
    with page.expect_download() as download_info:
        page.click("a[href='/me/export']")
    exported = json.loads(Path(download_info.value.path()).read_text(encoding="utf-8"))
    downloads.append(Path(download_info.value.path()))
    assert address in json.dumps(exported)
    assert name in json.dumps(exported, ensure_ascii=False)

    # a newsletter arrives with a personal unsubscribe link; the page and its button unsubscribe
    queue_newsletter(live_server, address, other)
    newsletter = wait_for_mail(var_dir, address, 4)
    assert newsletter["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    page.goto(first_link(newsletter, "/unsubscribe/"))
    masked = address[0] + "•••" + address.split("@")[0][-1] + "@example.org"
    assert page.locator("main strong.address").inner_text() == masked
    page.locator("form[action^='/unsubscribe/'] button").first.click()
    page.wait_for_load_state()
    page.goto(live_server.url + "/me")
    assert not page.is_checked("#newsletter")

    # erase
    page.goto(live_server.url + "/me/erase")
    page.check("input[name=confirm]")
    page.locator("form[action='/me/erase'] button[type=submit]").click()
    page.wait_for_url("**/goodbye")
    screenshot(page, f"goodbye-phone-{language}")
    response = page.goto(live_server.url + "/me")
    assert "/login" in page.url and response.ok
