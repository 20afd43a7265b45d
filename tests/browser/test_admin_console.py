"""An admin's day: import a member list (preview, then import), find a member, open their page, read the audit log."""

import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser
PASSWORD = "kotoji-lantern-1971-ghent"
CSV = (
    "email,name,city,language,interests,newsletter,consent_date\n"
    "hanako@example.jp,山田 花子,金沢,日本語,culture-crafts,yes,2025-04-01\n"
    "jan@example.be,Jan Van den Bossche,gent,nl,jazz-music;food,yes,\n"
    "not-an-address,Broken Row,gent,nl,,,\n"
    'sneaky@example.org,"=HYPERLINK(""http://evil.example"",""x"")",elsewhere,en,,,\n'
).encode("cp932", errors="strict")


def test_admin_imports_searches_opens_a_member_and_reads_the_audit_log(live_server, desktop, tmp_path):
    page = desktop.new_page()
    page.goto(live_server.setup_link())
    page.fill("#name", "Els Van Gent")
    page.fill("#email", "els@example.org")
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/admin")

    page.click("main >> text=Import")
    source = tmp_path / "leden.csv"
    source.write_bytes(CSV)
    page.set_input_files("#file", str(source))
    page.click("text=Check the file")
    page.wait_for_url("**/admin/members/import/*")
    assert page.locator("#problem-rows").inner_text() == "1"
    assert "bad email address" in page.locator(".problems").inner_text()
    screenshot(page, "admin-import-preview")

    page.click("text=Import 3 members")
    page.wait_for_selector("#import-done", timeout=90_000)  # generous: CI machines are shared
    assert page.locator("#import-progress").get_attribute("value") == "3"
    screenshot(page, "admin-import-done")

    page.goto(live_server.url + "/admin/members")
    page.fill("#q", "山田")
    page.click("main button[type=submit]:has-text('Search')")
    assert "1 member found" in page.locator("#result-count").inner_text()
    page.fill("#q", "BOSSCH")
    page.click("main button[type=submit]:has-text('Search')")
    assert "1 member found" in page.locator("#result-count").inner_text()
    screenshot(page, "admin-member-search")

    page.click("text=Jan Van den Bossche")
    assert page.locator("h1").inner_text() == "Jan Van den Bossche"
    assert "jan@example.be" in page.locator("main").inner_text()
    screenshot(page, "admin-member-page")

    page.click("text=Audit log")
    log = page.locator("table").inner_text()
    assert "Checked an import file" in log and "Started an import" in log and "els@example.org" in log
    screenshot(page, "admin-audit-log")
