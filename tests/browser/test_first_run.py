"""A newcomer's first run: the server prints a setup link, the first visitor creates the admin, logs in."""

import pytest

from tests.browser.helpers import screenshot

pytestmark = pytest.mark.browser
PASSWORD = "kotoji-lantern-1971-ghent"


def test_first_run_setup_then_admin_login(live_server, desktop):
    page = desktop.new_page()
    page.goto(live_server.url + "/")
    assert page.locator("h1").first.inner_text() == "Ghent and Kanazawa: twin cities since 1971"
    screenshot(page, "home-en")

    page.goto(live_server.setup_link())
    page.fill("#name", "Els Van Gent")
    page.fill("#email", "els@example.org")
    page.fill("#password", "password1234")
    page.fill("#password_again", "password1234")
    page.click("main button[type=submit]")
    assert "too common" in page.locator(".field-error").first.inner_text()
    assert page.input_value("#email") == "els@example.org"  # what was typed is kept

    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/admin")
    assert page.locator("h1").inner_text() == "Admin console"
    screenshot(page, "admin-console")

    # the link worked once
    response = page.goto(live_server.setup_link())
    assert response.status == 404

    page.click("text=Log out")
    page.goto(live_server.url + "/admin/login")
    page.fill("#email", "els@example.org")
    page.fill("#password", "not the password!")
    page.click("main button[type=submit]")
    assert "not right" in page.locator(".alert-error").inner_text()
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/admin")
    assert page.locator("h1").inner_text() == "Admin console"


def test_home_page_in_three_languages_on_a_phone(live_server, phone):
    page = phone.new_page()
    page.goto(live_server.url + "/")
    for code, heading in (("nl", "Gent en Kanazawa"), ("ja", "ゲントと金沢"), ("en", "Ghent and Kanazawa")):
        page.click(f".language-switcher button[value={code}]")
        page.wait_for_load_state()
        assert page.locator("html").get_attribute("lang") == code
        assert heading in page.locator("h1").first.inner_text()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the {code} page is wider than the phone ({width}px)"
        screenshot(page, f"home-phone-{code}")


def test_keyboard_reaches_the_main_content_first(live_server, desktop):
    page = desktop.new_page()
    page.goto(live_server.url + "/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.getAttribute('href')")
    assert focused == "#main"
