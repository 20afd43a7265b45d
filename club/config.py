"""Settings, read once from CLUB_* environment variables (and an optional .env file) by pydantic-settings.

Nothing else in the code base reads os.environ. `Settings(...)` built in code reads nothing from outside;
`Settings.from_env()` is what the processes call.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import SecretStr, TypeAdapter, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_MAIL_FROM = "Ghent-Kanazawa Supporters Club <club@localhost>"


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which and how to fix it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CLUB_",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
        validate_default=True,
        str_strip_whitespace=True,
    )

    # Order matters: a field's validator sees the fields above it (env and var_dir first).
    env: Literal["development", "production"] = "development"
    var_dir: Path = ROOT / "var"
    database_url: str = ""
    secret_key: SecretStr = SecretStr("")
    base_url: str = ""
    base_url_explicit: bool = False
    smtp_host: str = ""
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_port: int = 0  # 0: 25, 587 with starttls, 465 with tls
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_connections: int = 8
    smtp_rate: float = 0.0
    smtp_timeout: float = 30.0
    mail_from: str = DEFAULT_MAIL_FROM
    dkim_domain: str = ""
    dkim_selector: str = ""
    dkim_key_file: str = ""
    max_body_bytes: int = 1024 * 1024
    max_upload_bytes: int = 60 * 1024 * 1024
    run_sender: bool = True
    log_level: str = "info"
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or networks); none by default.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    header_timeout: float = 10.0  # seconds a client has to send a request's head
    keepalive_timeout: int = 5  # seconds an idle connection stays open between requests
    max_connections: int = 1000  # open connections and requests per web process before answering 503

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)  # the environment is read by from_env() only

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, dotenv: Path | None = None) -> Settings:
        """The environment (or `environ`) wins over the .env file; a wrong value raises ConfigError."""
        values: dict[str, Any] = DotEnvSettingsSource(cls, env_file=dotenv if dotenv is not None else ROOT / ".env")()
        values.update(_Environment(cls, os.environ if environ is None else environ)())
        values["base_url_explicit"] = bool(values.get("base_url"))
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigError(_explain(exc)) from None

    @field_validator("smtp_security", "log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("run_sender", mode="before")
    @classmethod
    def _switch(cls, value: object) -> object:
        return value.strip().lower() not in ("0", "false", "no") if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            return f"sqlite+aiosqlite:///{info.data.get('var_dir', ROOT / 'var') / 'club.sqlite3'}"
        if value.startswith(("postgresql://", "postgres://")):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        return value

    @field_validator("secret_key")
    @classmethod
    def _development_secret(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        if value.get_secret_value() or info.data.get("env") != "development" or "var_dir" not in info.data:
            return value
        return SecretStr(development_secret(info.data["var_dir"]))

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str, info: ValidationInfo) -> str:
        value = value.rstrip("/")
        if not value and info.data.get("env") == "development":
            return DEFAULT_BASE_URL
        return value

    @field_validator("smtp_port")
    @classmethod
    def _smtp_port(cls, value: int, info: ValidationInfo) -> int:
        return value or {"tls": 465, "starttls": 587}.get(info.data.get("smtp_security", "none"), 25)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        """CLUB_TRUSTED_PROXIES: addresses or networks, separated by commas or spaces."""
        items = value.replace(",", " ").split() if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            return value
        networks = []
        for item in items:
            try:
                networks.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ConfigError(
                    f"CLUB_TRUSTED_PROXIES: {item!r} is not an address or network (such as 10.0.0.5 or 10.0.0.0/24)."
                ) from None
        return tuple(networks)

    @model_validator(mode="after")
    def _checked(self) -> Settings:
        """Refuse a start that lacks what it needs (production) or has values that cannot work."""
        if self.is_production:
            missing = [
                name
                for name, value in (
                    ("CLUB_SECRET_KEY", self.secret_key.get_secret_value()),
                    ("CLUB_BASE_URL", self.base_url),
                    ("CLUB_SMTP_HOST", self.smtp_host),
                    ("CLUB_MAIL_FROM", "" if self.mail_from == DEFAULT_MAIL_FROM else self.mail_from),
                )
                if not value
            ]
            if missing:
                raise ConfigError(
                    "Production needs these settings: " + ", ".join(missing) + ". See 'Configuration' in README.md."
                )
            if len(self.secret_key) < 32:
                raise ConfigError("CLUB_SECRET_KEY must be at least 32 characters (try: openssl rand -hex 32).")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"CLUB_BASE_URL must be an http(s) URL such as https://club.example.org, not {self.base_url!r}."
            )
        if self.is_production and parts.scheme != "https":
            raise ConfigError("CLUB_BASE_URL must use https in production.")
        if self.header_timeout <= 0 or self.keepalive_timeout < 1 or self.max_connections < 1:
            raise ConfigError("CLUB_HEADER_TIMEOUT, CLUB_KEEPALIVE_TIMEOUT and CLUB_MAX_CONNECTIONS must be positive.")
        if self.smtp_connections < 1 or self.smtp_connections > 256:
            raise ConfigError("CLUB_SMTP_CONNECTIONS must be between 1 and 256.")
        return self

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def uses_dev_mailbox(self) -> bool:
        return not self.smtp_host and not self.is_production

    def absolute_url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def with_(self, **changes: object) -> Settings:
        """A copy with some values changed (typed, as in the constructor), without the start-up checks."""
        fields = type(self).model_fields
        return self.model_copy(
            update={
                name: TypeAdapter(fields[name].annotation or Any).validate_python(value)
                for name, value in changes.items()
            }
        )


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping (os.environ, or a test's dict)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {key.lower(): value for key, value in self._environ.items() if value.strip()}


def _explain(error: ValidationError) -> str:
    """The first problem as one sentence that names the variable, as an operator reads it at start-up."""
    problem = error.errors()[0]
    name = "CLUB_" + str(problem["loc"][0]).upper()
    value = problem["input"]
    if problem["type"] == "literal_error":
        choices = [c.strip("'") for c in problem["ctx"]["expected"].replace(" or ", ", ").split(", ")]
        expected = " or ".join(map(repr, choices)) if len(choices) == 2 else "one of " + ", ".join(choices)
        return f"{name} must be {expected}, not {value!r}."
    if problem["type"].startswith("int_"):
        return f"{name} must be a whole number, not {value!r}."
    if problem["type"].startswith("float_"):
        return f"{name} must be a number, not {value!r}."
    return f"{name}: {problem['msg']} (not {value!r})."


def development_secret(var_dir: Path) -> str:
    """A secret generated once per checkout and kept under var/, so sessions survive restarts."""
    path = var_dir / "secret_key"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key
