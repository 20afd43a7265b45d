from club import i18n


def test_every_string_is_translated_into_dutch_and_japanese():
    problems = i18n.missing_translations()
    assert problems == [], "\n".join(problems[:50])


def test_one_text_has_one_translation_across_features():
    problems = i18n.conflicting_translations()
    assert problems == [], "\n".join(problems[:50])


def test_extraction_finds_strings_in_code_and_templates():
    found = i18n.extract()
    assert "Page not found" in found["core"]  # from club/errors.py
    assert "Admin login" in found["core"]  # from a template


def test_negotiation_order():
    assert i18n.negotiate("ja", "nl") == "ja"
    assert i18n.negotiate(None, "fr-BE, nl;q=0.8, en;q=0.5") == "nl"
    assert i18n.negotiate(None, "de, fr") == "en"
    assert i18n.negotiate("xx", "en-GB;q=0.1, ja;q=0.9") == "ja"
    assert i18n.negotiate(None, "ja;q=0, nl;q=0.1") == "nl"


def test_dates_and_numbers_follow_the_locale():
    import datetime as dt

    moment = dt.datetime(2026, 4, 1, 10, 0, tzinfo=dt.UTC)
    with i18n.use_language("ja"):
        assert "2026年4月1日" in i18n.format_date(moment, "long")
        assert "19:00" in i18n.format_datetime(moment, "short")  # Asia/Tokyo
        assert i18n.format_number(12345) == "12,345"
    with i18n.use_language("nl"):
        assert i18n.format_date(moment, "long") == "1 april 2026"
        assert i18n.format_number(12345) == "12.345"
