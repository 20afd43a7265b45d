import pytest

from club.config import ConfigError, Settings


def test_development_defaults(tmp_path):
    settings = Settings.from_env({"CLUB_VAR_DIR": str(tmp_path)}, dotenv=tmp_path / "none")
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'club.sqlite3'}"
    assert len(settings.secret_key) >= 32
    assert (tmp_path / "secret_key").read_text() == settings.secret_key.get_secret_value()  # kept under var/
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
    [
        ("CLUB_ENV", "staging"),
        ("CLUB_SMTP_SECURITY", "ssl"),
        ("CLUB_SMTP_PORT", "twenty"),
        ("CLUB_BASE_URL", "javascript:alert(1)"),
    ],
)
def test_wrong_values_are_explained(tmp_path, name, value):
    with pytest.raises(ConfigError) as error:
        Settings.from_env({name: value, "CLUB_VAR_DIR": str(tmp_path)}, dotenv=tmp_path / "none")
    assert name in str(error.value)


def test_dotenv_is_read_and_environment_wins(tmp_path):
    (tmp_path / ".env").write_text('CLUB_SMTP_HOST="mail.example.org"\nCLUB_SMTP_PORT=2525\n# comment\n')
    settings = Settings.from_env({"CLUB_VAR_DIR": str(tmp_path), "CLUB_SMTP_PORT": "26"}, dotenv=tmp_path / ".env")
    assert settings.smtp_host == "mail.example.org" and settings.smtp_port == 26


def test_secrets_never_show_in_logs_or_reprs(tmp_path):
    settings = Settings.from_env(
        {"CLUB_VAR_DIR": str(tmp_path), "CLUB_SECRET_KEY": "s3cret-" * 6, "CLUB_SMTP_PASSWORD": "hunter2-pw"},
        dotenv=tmp_path / "none",
    )
    assert settings.smtp_password.get_secret_value() == "hunter2-pw"
    assert settings.secret_key.get_secret_value() == "s3cret-" * 6
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "hunter2" not in text and "s3cret" not in text


def test_values_are_typed_and_defaults_follow_the_readme(tmp_path):
    def settings(**values):
        return Settings.from_env({"CLUB_VAR_DIR": str(tmp_path), **values}, dotenv=tmp_path / "none")

    default = settings()
    assert (default.env, default.base_url, default.smtp_port, default.smtp_security) == (
        "development",
        "http://127.0.0.1:8000",
        25,
        "none",
    )
    assert (default.smtp_connections, default.smtp_rate, default.smtp_timeout, default.max_body_bytes) == (
        8,
        0.0,
        30.0,
        1048576,
    )
    assert default.mail_from == "Ghent-Kanazawa Supporters Club <club@localhost>"
    assert default.run_sender and default.log_level == "info" and not default.base_url_explicit
    assert (default.header_timeout, default.keepalive_timeout, default.max_connections) == (10.0, 5, 1000)
    assert settings(CLUB_SMTP_SECURITY="TLS").smtp_port == 465
    assert settings(CLUB_SMTP_SECURITY="starttls", CLUB_SMTP_PORT=" 2525 ").smtp_port == 2525
    assert settings(CLUB_RUN_SENDER="0").run_sender is False
    assert settings(CLUB_SMTP_RATE="2.5").smtp_rate == 2.5
    assert settings(CLUB_BASE_URL="http://club.test:8000/").base_url_explicit
    assert settings(CLUB_SMTP_HOST="").smtp_host == ""  # an empty variable is the default


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"CLUB_ENV": "staging"}, "CLUB_ENV must be 'development' or 'production', not 'staging'."),
        ({"CLUB_SMTP_SECURITY": "ssl"}, "CLUB_SMTP_SECURITY must be one of none, starttls, tls, not 'ssl'."),
        ({"CLUB_SMTP_PORT": "twenty"}, "CLUB_SMTP_PORT must be a whole number, not 'twenty'."),
        ({"CLUB_SMTP_TIMEOUT": "soon"}, "CLUB_SMTP_TIMEOUT must be a number, not 'soon'."),
        ({"CLUB_SMTP_CONNECTIONS": "0"}, "CLUB_SMTP_CONNECTIONS must be between 1 and 256."),
        ({"CLUB_KEEPALIVE_TIMEOUT": "0"}, "must be positive"),
        (
            {
                "CLUB_ENV": "production",
                "CLUB_SECRET_KEY": "short",
                "CLUB_BASE_URL": "https://c.example.org",
                "CLUB_SMTP_HOST": "smtp",
                "CLUB_MAIL_FROM": "c@example.org",
            },
            "CLUB_SECRET_KEY must be at least 32",
        ),
        (
            {
                "CLUB_ENV": "production",
                "CLUB_SECRET_KEY": "k" * 40,
                "CLUB_BASE_URL": "http://c.example.org",
                "CLUB_SMTP_HOST": "smtp",
                "CLUB_MAIL_FROM": "c@example.org",
            },
            "CLUB_BASE_URL must use https in production.",
        ),
        (
            {
                "CLUB_ENV": "production",
                "CLUB_SECRET_KEY": "k" * 40,
                "CLUB_BASE_URL": "https://c.example.org",
                "CLUB_SMTP_HOST": "smtp",
            },
            "Production needs these settings: CLUB_MAIL_FROM.",
        ),
    ],
)
def test_messages_name_the_variable_and_the_fix(tmp_path, values, message):
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"CLUB_VAR_DIR": str(tmp_path), **values}, dotenv=tmp_path / "none")
    assert message in str(error.value)


def test_settings_built_in_code_read_nothing_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CLUB_SMTP_HOST", "from-the-environment.example.org")
    monkeypatch.setenv("CLUB_VAR_DIR", str(tmp_path))
    built = Settings(var_dir=tmp_path, secret_key="x" * 40)
    assert built.smtp_host == "" and built.secret_key.get_secret_value() == "x" * 40
    assert Settings.from_env(dotenv=tmp_path / "none").smtp_host == "from-the-environment.example.org"
    changed = built.with_(secret_key="y" * 40, env="production", smtp_port="26")
    assert changed.secret_key.get_secret_value() == "y" * 40 and changed.smtp_port == 26 and changed.is_production
