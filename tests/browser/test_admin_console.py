"""An admin's day: import a member list (preview, then import), find a member, open their page, read the audit log."""

import re

import pytest

from tests.browser.helpers import screenshot, set_up_first_admin

pytestmark = pytest.mark.browser
CSV = (
    "email,name,city,language,interests,newsletter,consent_date\n"
    "hanako@example.jp,山田 花子,金沢,日本語,culture-crafts,yes,2025-04-01\n"
    "jan@example.be,Jan Van den Bossche,gent,nl,jazz-music;food,yes,\n"
    "not-an-address,Broken Row,gent,nl,,,\n"
    'sneaky@example.org,"=HYPERLINK(""http://evil.example"",""x"")",elsewhere,en,,,\n'
).encode("cp932", errors="strict")


def test_admin_imports_searches_opens_a_member_and_reads_the_audit_log(live_server, desktop, tmp_path):
    page = desktop.new_page()
    set_up_first_admin(page, live_server)

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


EXCEL_JA = (
    "メールアドレス,名前,都市,言語,関心,ニュースレター,同意日\n"
    "yuki@example.jp,佐藤 由紀,金沢,日本語,文化・工芸、ジャズ・音楽,はい,2024/04/01\n"
    "kenji@example.jp,渡辺 健二,ゲント,オランダ語,食,はい,45383\n"
    "sanne@example.be,Sanne Maes,Gent,Nederlands,Jazz en muziek,ja,15/03/2024\n"
    "aiko@example.jp,中村 愛子,石川県金沢市,日本語,スポーツ,はい,2024/04/01\n"
    "kazuko.nakamura.kanazawa-international-association.example.jp,中村 和子,金沢,日本語,,,\n"
).encode("cp932", errors="strict")


EXPORTED_INTERESTS = {
    "nl": "Cultuur en ambachten;Jazz en muziek",
    "en": "Culture and crafts;Jazz and music",
    "ja": "文化・工芸;ジャズ・音楽",
}


@pytest.mark.parametrize("language", ["nl", "en", "ja"])
def test_admin_imports_a_japanese_excel_file_and_an_export_comes_back_unchanged(
    live_server, desktop, browser, tmp_path, language
):
    page = desktop.new_page()
    set_up_first_admin(page, live_server)
    page.click(f".language-switcher button[value={language}]")
    page.wait_for_url("**/admin")
    assert page.locator("html").get_attribute("lang") == language

    # A member list saved by Excel on Japanese Windows: cp932, Japanese column and interest names, Excel dates.
    page.goto(live_server.url + "/admin/members/import")
    source = tmp_path / "会員.csv"
    source.write_bytes(EXCEL_JA)
    page.set_input_files("#file", str(source))
    page.click("main form[action='/admin/members/import'] button[type=submit]")
    page.wait_for_selector("#valid-rows", timeout=30_000)
    job_url = page.url
    assert page.locator("#problem-rows").inner_text() == "2"
    assert "石川県金沢市" in page.locator("#problems").inner_text()
    with page.expect_download() as download:
        page.click("#rejected-download")
    rejected = download.value.path().read_bytes().decode("utf-8-sig")
    assert "aiko@example.jp" in rejected and "yuki@example.jp" not in rejected

    # The problems table on a 360 px phone: the Problem column on screen, nothing to scroll sideways.
    phone = browser.new_context(
        storage_state=desktop.storage_state(),
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    try:
        small = phone.new_page()
        small.goto(job_url)
        table = small.locator("#problems")
        assert small.evaluate("document.querySelector('#problems').parentElement.scrollWidth") <= small.evaluate(
            "document.querySelector('#problems').parentElement.clientWidth"
        )
        problem_header = table.locator("th").nth(2).bounding_box()
        assert problem_header is not None and problem_header["x"] + problem_header["width"] <= 360
        assert table.locator("td").nth(2).is_visible()
        screenshot(small, f"admin-import-problems-phone-{language}")
        small.goto(live_server.url + "/admin/members/import")  # the columns and values, in the same width
        assert small.evaluate("document.querySelector('#import-columns').parentElement.scrollWidth") <= small.evaluate(
            "document.querySelector('#import-columns').parentElement.clientWidth"
        )
        assert small.evaluate("document.documentElement.scrollWidth") <= 360
        screenshot(small, f"admin-import-columns-phone-{language}")
    finally:
        phone.close()

    page.click("main form[action$='/run'] button[type=submit]")
    page.wait_for_selector("#import-done", timeout=90_000)

    def export() -> bytes:
        page.goto(live_server.url + "/admin/members?sort=email")
        with page.expect_download() as download:
            page.click("#export-semicolon")
        return download.value.path().read_bytes()

    first = export()
    assert EXPORTED_INTERESTS[language] in first.decode("utf-8-sig")  # in the admin's language
    exported = tmp_path / "export.csv"
    exported.write_bytes(first)
    page.goto(live_server.url + "/admin/members/import")
    page.set_input_files("#file", str(exported))
    page.click("main form[action='/admin/members/import'] button[type=submit]")
    page.wait_for_selector("#valid-rows", timeout=30_000)
    assert page.locator("#problem-rows").inner_text() == "0"
    # three members and the admin: 4 good rows, 0 new, 4 updates (which change nothing)
    assert re.findall(r"\d+", page.locator("#valid-rows").inner_text()) == ["4", "0", "4"]
    page.click("main form[action$='/run'] button[type=submit]")
    page.wait_for_selector("#import-done", timeout=90_000)
    assert export() == first  # the export, imported again, changed nothing
