"""The admin console on a 360 px phone, in Japanese: the member list and a member page with a 100-character name
fit the screen; "Make member" asks first, without JavaScript."""

import pytest

from tests.browser.helpers import screenshot, set_up_first_admin

pytestmark = pytest.mark.browser
LONG_NAME = "Maximiliaan Alexander Theodoor Van den Bossche-Vanderhaeghen de Kerchove d'Exaerde Ghijsels Goossens"


def no_sideways_scroll(page) -> bool:  # type: ignore[no-untyped-def]
    """Neither the page nor any table in it scrolls sideways (a table in a scroll box would hide columns)."""
    return page.evaluate("""document.documentElement.scrollWidth <= window.innerWidth
        && [...document.querySelectorAll('.table-scroll')].every(box => box.scrollWidth <= box.clientWidth + 1)""")


def test_member_list_and_page_fit_a_phone_and_make_member_asks_first(live_server, phone):
    assert len(LONG_NAME) == 100
    page = phone.new_page()
    page.goto(live_server.url + "/")
    page.click("button[lang=ja]")
    set_up_first_admin(page, live_server)
    assert page.locator("html").get_attribute("lang") == "ja"  # the admin kept the language of the setup
    assert page.locator("#admin-subnav").count() == 1

    page.goto(live_server.url + "/admin/members")
    page.click("text=Els Van Gent")
    page.click("main a[href$='/edit']")
    page.fill("#name", LONG_NAME)
    page.click("main button[type=submit]")
    page.wait_for_url("**/admin/members/*")
    assert page.locator("#flash").count() == 1
    assert no_sideways_scroll(page)
    screenshot(page, "admin-member-page-phone-ja")
    page.reload()
    assert page.locator("#flash").count() == 0  # the notice came once

    page.goto(live_server.url + "/admin/members")
    assert LONG_NAME in page.locator("main").inner_text()
    assert "1人の会員が見つかりました" in page.locator("#result-count").inner_text()
    assert no_sideways_scroll(page)
    screenshot(page, "admin-member-list-phone-ja")

    page.goto(live_server.url + "/admin/admins")
    confirm = page.locator("#main button[data-confirm]").first
    assert not confirm.is_visible()
    page.locator("#main details.confirm-step summary").first.click()
    assert confirm.is_visible()
    assert no_sideways_scroll(page)
    screenshot(page, "admin-make-member-asks-first")
