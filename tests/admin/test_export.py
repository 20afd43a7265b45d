"""Export: the list's filters, streamed CSV, formulas neutralised, and the server.py commands."""

import csv
import io

from club.admin.commands import export_members_cli, import_members_cli
from club.admin.exporter import neutralise
from tests.admin.helpers import actions, add_members, admin_client


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


async def test_export_uses_the_filters_and_neutralises_formulas(client, db):
    await admin_client(client, db)
    await add_members(db, [
        {"name": '=HYPERLINK("http://evil.example","click me")', "email": "formula@example.org", "city": "ghent"},
        {"name": "+SUM(A1:A9)", "email": "plus@example.org", "city": "ghent"},
        {"name": "山田 花子", "email": "hanako@example.jp", "city": "kanazawa"},
    ])
    response = await client.get("/admin/members/export", params={"city": "ghent", "role": "member"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 with a BOM
    rows = read_csv(response.text)
    assert {row["email"] for row in rows} == {"formula@example.org", "plus@example.org"}
    names = {row["name"] for row in rows}
    assert names == {"'=HYPERLINK(\"http://evil.example\",\"click me\")", "'+SUM(A1:A9)"}
    assert "member.export" in await actions(db)


async def test_export_of_everyone_spans_several_pages(client, db, monkeypatch):
    from club.admin import exporter

    monkeypatch.setattr(exporter, "CHUNK", 7)
    await admin_client(client, db)
    await add_members(db, [{"email": f"m{index}@example.org"} for index in range(30)])
    rows = read_csv((await client.get("/admin/members/export", params={"sort": "email"})).text)
    assert len(rows) == 31 and len({row["email"] for row in rows}) == 31


def test_neutralise_only_touches_formula_starts():
    assert neutralise("=1+1") == "'=1+1"
    assert neutralise("@cmd") == "'@cmd"
    assert neutralise("-2") == "'-2"
    assert neutralise("\t=x") == "'\t=x"
    assert neutralise("Jan = Piet") == "Jan = Piet"


async def test_command_line_import_then_export(settings, db, tmp_path, capsys):
    source = tmp_path / "in.csv"
    source.write_bytes("email,name,city\nhanako@example.jp,山田 花子,金沢\nbad,Bad,ghent\n".encode("cp932"))
    assert await import_members_cli(settings, str(source)) == 0
    output = capsys.readouterr()
    assert "1 good" in output.out and "line 3: bad: bad email address" in output.out
    assert "100%" in output.err  # the progress bar
    target = tmp_path / "out.csv"
    assert await export_members_cli(settings, str(target), {"city": "kanazawa"}) == 0
    rows = read_csv(target.read_text(encoding="utf-8"))
    assert [(row["email"], row["name"]) for row in rows] == [("hanako@example.jp", "山田 花子")]
    assert await import_members_cli(settings, str(tmp_path / "missing.csv")) == 2
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert await import_members_cli(settings, str(empty)) == 1
    assert "The file is empty." in capsys.readouterr().err
