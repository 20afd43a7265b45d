"""The year in numbers: sums in SQL, server-drawn SVG charts without script, the printable report, CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest

from club.ambassadors import service
from tests.factories import log_in, make_activity, make_admin, make_ambassador, make_person


@pytest.fixture
async def year_of_activities(db):  # type: ignore[no-untyped-def]
    year = service.club_today().year - 1
    sofie, sofie_term = await make_ambassador(db, name="Sofie Claeys")
    kenji, kenji_term = await make_ambassador(db, name="田中 健二")
    kenji_term.home_institution = "Kanazawa Institute of Technology"
    await db.commit()
    await make_activity(
        db,
        sofie,
        sofie_term,
        happened_on=dt.date(year, 3, 5),
        category="crafts",
        city="ghent",
        people_reached=40,
        quarter_hours=8,
    )
    await make_activity(
        db,
        sofie,
        sofie_term,
        happened_on=dt.date(year, 3, 20),
        category="food",
        city="ghent",
        people_reached=10,
        quarter_hours=2,
        public=False,
    )
    await make_activity(
        db,
        kenji,
        kenji_term,
        happened_on=dt.date(year, 11, 2),
        category="crafts",
        city="kanazawa",
        people_reached=100,
        quarter_hours=5,
        title='=HYPERLINK("http://x")',
    )
    await make_activity(db, kenji, kenji_term, happened_on=dt.date(year, 11, 3), status="submitted", people_reached=999)
    await make_activity(db, kenji, kenji_term, happened_on=dt.date(year - 1, 11, 3), people_reached=999)
    return year


async def test_sums_per_dimension(db, year_of_activities):
    filters = service.NumbersFilter(year=year_of_activities)
    months = await service.numbers(db, filters, "month")
    assert len(months) == 12
    assert (months[2].activities, months[2].people_reached, months[2].quarter_hours) == (2, 50, 10)
    assert months[10].activities == 1 and months[0].activities == 0
    categories = {
        row.key: (row.activities, row.people_reached) for row in await service.numbers(db, filters, "category")
    }
    assert categories == {"crafts": (2, 140), "food": (1, 10)}
    institutions = {row.key: row.activities for row in await service.numbers(db, filters, "institution")}
    assert institutions == {"ugent": 2, "Kanazawa Institute of Technology": 1}
    ambassadors = await service.numbers(db, filters, "ambassador")
    assert [(row.label, row.hours) for row in ambassadors] == [("Sofie Claeys", 2.5), ("田中 健二", 1.25)]
    only_ghent = await service.numbers(db, service.NumbersFilter(year=year_of_activities, city="ghent"), "category")
    assert {row.key for row in only_ghent} == {"crafts", "food"}
    total = await service.year_totals(db, filters)
    assert (total.activities, total.people_reached, total.label) == (3, 150, "2")


async def test_numbers_page_charts_and_report(client, db, year_of_activities):
    await log_in(client, db, await make_admin(db))
    page = await client.get(f"/admin/ambassadors/numbers?year={year_of_activities}")
    assert page.status_code == 200
    for dimension in service.DIMENSIONS:
        assert f"/admin/ambassadors/charts/{dimension}.svg?year={year_of_activities}" in page.text
    assert "田中 健二" in page.text  # the tables under the charts
    for dimension in service.DIMENSIONS:
        for metric in ("activities", "hours", "people"):
            chart = await client.get(
                f"/admin/ambassadors/charts/{dimension}.svg", params={"year": year_of_activities, "metric": metric}
            )
            assert chart.status_code == 200
            assert chart.headers["content-type"].startswith("image/svg+xml")
            assert chart.text.startswith("<svg") and "<script" not in chart.text
            assert "default-src 'none'" in chart.headers["content-security-policy"]
    crafts = await client.get("/admin/ambassadors/charts/category.svg", params={"year": year_of_activities})
    assert "Crafts and creative cities" in crafts.text
    assert (await client.get("/admin/ambassadors/charts/nothing.svg")).status_code == 404
    report = await client.get(f"/admin/ambassadors/report?year={year_of_activities}")
    assert (
        report.status_code == 200
        and "Sofie Claeys" in report.text
        and "Kanazawa Institute of Technology" in report.text
    )


async def test_csv_export_with_the_same_filters(client, db, year_of_activities):
    await log_in(client, db, await make_admin(db))
    response = await client.get(f"/admin/ambassadors/activities.csv?year={year_of_activities}&city=kanazawa")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["id", "date", "ambassador"]
    assert len(rows) == 2
    assert rows[1][2] == "田中 健二" and rows[1][6] == "Kanazawa"
    assert rows[1][8].startswith("'=")  # a formula stays text in a spreadsheet
    everything = await client.get(f"/admin/ambassadors/activities.csv?year={year_of_activities}")
    assert len(list(csv.reader(io.StringIO(everything.content.decode("utf-8-sig"))))) == 4


async def test_recruits_are_counted_for_the_ambassador(client, db):
    person, appointment = await make_ambassador(db)
    for _ in range(3):
        await make_person(db)
    joined = [await make_person(db) for _ in range(2)]
    unconfirmed = await make_person(db, confirmed=False)
    code = (await service.ambassador_of(db, person.id)).ref  # type: ignore[union-attr]
    for member in (*joined, unconfirmed):
        member.ref = code
    await db.commit()
    totals = await service.totals_for(db, person.id)
    assert totals.recruits == 2


def ambassador_order(html: str) -> list[str]:
    section = html.split('id="chart-ambassador"', 1)[1].split("</section>", 1)[0]
    narrow = section.split('class="chart-table-narrow"', 1)[1]
    return re.findall(r'<th scope="row">([^<]+)</th>', narrow)


async def test_charts_people_can_read(client, db, year_of_activities):
    year = year_of_activities
    await log_in(client, db, await make_admin(db))
    # Sorted by the metric shown: Sofie logged more activities, Kenji reached more people.
    by_activities = await client.get("/admin/ambassadors/numbers", params={"year": year, "metric": "activities"})
    assert ambassador_order(by_activities.text) == ["Sofie Claeys", "田中 健二"]
    by_people = await client.get("/admin/ambassadors/numbers", params={"year": year, "metric": "people"})
    assert ambassador_order(by_people.text) == ["田中 健二", "Sofie Claeys"]
    assert "chart-table-narrow" in by_people.text  # a phone gets the table instead of the chart
    # Each language its own chart, at its own address.
    assert f"ambassador.svg?year={year}&amp;metric=people&amp;lang=en" in by_people.text
    charts = {}
    for language in ("en", "nl", "ja"):
        chart = await client.get(
            "/admin/ambassadors/charts/institution.svg", params={"year": year, "metric": "people", "lang": language}
        )
        assert chart.status_code == 200
        charts[language] = chart.text
    assert "People reached" in charts["en"] and "Mensen bereikt" in charts["nl"] and "届いた人数" in charts["ja"]
    assert "Universiteit Gent" in charts["nl"] and "ゲント大学" in charts["ja"]
    # Long names in full, and value labels outlined so that they read on a bar and beside it.
    assert "Kanazawa Institute of Technology" in charts["en"]
    assert "paint-order" in charts["en"]


async def test_a_cut_list_says_how_many_it_shows_of_how_many(client, db, year_of_activities):
    for number in range(30):
        person, term = await make_ambassador(db, name=f"Ambassador {number:02d}")
        await make_activity(db, person, term, happened_on=dt.date(year_of_activities, 5, 1), people_reached=number)
    await log_in(client, db, await make_admin(db))
    page = await client.get("/admin/ambassadors/numbers", params={"year": year_of_activities, "metric": "people"})
    assert "Top 30 of 32 ambassadors" in page.text
    assert len(ambassador_order(page.text)) == 30
    assert ambassador_order(page.text)[:2] == ["田中 健二", "Sofie Claeys"]
    chart = await client.get(
        "/admin/ambassadors/charts/ambassador.svg", params={"year": year_of_activities, "metric": "people"}
    )
    assert "Top 30 of 32 ambassadors" in chart.text
