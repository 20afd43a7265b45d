import pytest

from club.config import ConfigError, Settings


def test_development_defaults(tmp_path):
    settings = Settings.from_env({"CLUB_VAR_DIR": str(tmp_path)}, dotenv=tmp_path / "none")
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'club.sqlite3'}"
    assert len(settings.secret_key) >= 32
    assert (tmp_path / "secret_key").read_text() == settings.secret_key  # kept under var/
    again = Settings.from_env({"CLUB_VAR_DIR": str(tmp_path)}, dotenv=tmp_path / "none")
    assert again.secret_key == settings.secret_key
    assert settings.uses_dev_mailbox


def test_production_refuses_to_start_without_its_settings(tmp_path):
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"CLUB_ENV": "production", "CLUB_VAR_DIR": str(tmp_path)}, dotenv=tmp_path / "none")
    message = str(error.value)
    assert "CLUB_SECRET_KEY" in message and "CLUB_BASE_URL" in message and "CLUB_SMTP_HOST" in message


def test_production_starts_with_its_settings(tmp_path):
    settings = Settings.from_env(
        {
            "CLUB_ENV": "production",
            "CLUB_SECRET_KEY": "k" * 40,
            "CLUB_BASE_URL": "https://club.example.org/",
            "CLUB_SMTP_HOST": "smtp.example.org",
            "CLUB_SMTP_SECURITY": "starttls",
            "CLUB_MAIL_FROM": "Club <club@example.org>",
            "CLUB_DATABASE_URL": "postgresql://u@db/club",
        },
        dotenv=tmp_path / "none",
    )
    assert settings.is_production and settings.base_url == "https://club.example.org"
    assert settings.smtp_port == 587
    assert settings.database_url == "postgresql+asyncpg://u@db/club"
    assert not settings.uses_dev_mailbox


@pytest.mark.parametrize(
    ("name", "value"),
    [("CLUB_ENV", "staging"), ("CLUB_SMTP_SECURITY", "ssl"), ("CLUB_SMTP_PORT", "twenty"),
     ("CLUB_BASE_URL", "javascript:alert(1)")],
)
def test_wrong_values_are_explained(tmp_path, name, value):
    with pytest.raises(ConfigError) as error:
        Settings.from_env({name: value, "CLUB_VAR_DIR": str(tmp_path)}, dotenv=tmp_path / "none")
    assert name in str(error.value)


def test_dotenv_is_read_and_environment_wins(tmp_path):
    (tmp_path / ".env").write_text('CLUB_SMTP_HOST="mail.example.org"\nCLUB_SMTP_PORT=2525\n# comment\n')
    settings = Settings.from_env({"CLUB_VAR_DIR": str(tmp_path), "CLUB_SMTP_PORT": "26"}, dotenv=tmp_path / ".env")
    assert settings.smtp_host == "mail.example.org" and settings.smtp_port == 26
