"""The command line, run as a newcomer would: real processes, a real database file."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(args, tmp_path, stdin="", **env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CLUB_")}
    environment.update({"CLUB_VAR_DIR": str(tmp_path), "CLUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/c.db"})
    environment.update(env)
    return subprocess.run(
        [sys.executable, "server.py", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def test_every_command_has_help(tmp_path):
    result = run(["--help"], tmp_path)
    assert result.returncode == 0
    for command in ("serve", "migrate", "create-admin", "worker"):
        assert command in result.stdout
        assert run([command, "--help"], tmp_path).returncode == 0


def test_create_admin_from_stdin_then_refuses_weak_passwords(tmp_path):
    result = run(
        ["create-admin", "Admin@Example.org", "--name", "Els Gent", "--password-stdin"],
        tmp_path,
        stdin="kotoji-lantern-1971-ghent\n",
    )
    assert result.returncode == 0, result.stderr
    assert "admin@example.org" in result.stdout
    weak = run(["create-admin", "b@example.org", "--name", "B", "--password-stdin"], tmp_path, stdin="password\n")
    assert weak.returncode == 2
    assert "12 characters" in weak.stderr
    bad = run(["create-admin", "not an address", "--name", "B", "--password-stdin"], tmp_path, stdin="x" * 20 + "\n")
    assert bad.returncode == 2


def test_create_admin_saves_the_console_language_it_is_given(tmp_path):
    import sqlite3

    def console_language(email):
        with sqlite3.connect(tmp_path / "c.db") as connection:
            language, console = connection.execute(
                "SELECT language, console_language FROM people WHERE email = ?", (email,)
            ).fetchone()
        return console or language

    password = "kotoji-lantern-1971-ghent\n"
    made = run(
        ["create-admin", "yuki@example.jp", "--name", "山田 由紀", "--password-stdin", "--language", "ja"],
        tmp_path,
        stdin=password,
    )
    assert made.returncode == 0, made.stderr
    assert console_language("yuki@example.jp") == "ja"
    again = run(
        ["create-admin", "yuki@example.jp", "--name", "山田 由紀", "--password-stdin", "--language", "nl"],
        tmp_path,
        stdin=password,
    )
    assert again.returncode == 0, again.stderr
    assert console_language("yuki@example.jp") == "nl"
    english = run(["create-admin", "els@example.be", "--name", "Els", "--password-stdin"], tmp_path, stdin=password)
    assert english.returncode == 0 and console_language("els@example.be") == "en"
    wrong = run(
        ["create-admin", "b@example.org", "--name", "B", "--password-stdin", "--language", "fr"],
        tmp_path,
        stdin=password,
    )
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr


def test_production_without_settings_explains_and_exits(tmp_path):
    result = run(["migrate"], tmp_path, CLUB_ENV="production")
    assert result.returncode == 2
    assert "CLUB_SECRET_KEY" in result.stderr


def test_import_then_export_members(tmp_path):
    source = tmp_path / "members.csv"
    source.write_text(
        "email,name,city,language\n"
        "hanako@example.jp,山田 花子,kanazawa,ja\n"
        'jan@example.be,=HYPERLINK("http://evil.example"),ghent,nl\n',
        encoding="utf-8-sig",
    )
    assert run(["import-members", str(source)], tmp_path).returncode == 0
    target = tmp_path / "out.csv"
    result = run(["export-members", str(target), "--city", "kanazawa"], tmp_path)
    assert result.returncode == 0, result.stderr
    exported = target.read_text(encoding="utf-8-sig")
    assert "hanako@example.jp" in exported and "山田 花子" in exported and "jan@example.be" not in exported
    everyone = run(["export-members", "-"], tmp_path).stdout
    assert "'=HYPERLINK" in everyone  # a formula is neutralised in exports
    missing = run(["import-members", str(tmp_path / "nope.csv")], tmp_path)
    assert missing.returncode == 2
