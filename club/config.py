"""Settings, read once from CLUB_* environment variables (and an optional .env file).

Nothing else in the code base reads os.environ.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
SMTP_SECURITY = ("none", "starttls", "tls")


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which and how to fix it."""


def read_dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    var_dir: Path = ROOT / "var"
    database_url: str = ""
    secret_key: str = ""
    base_url: str = "http://127.0.0.1:8000"
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_security: str = "none"
    smtp_connections: int = 8
    smtp_rate: float = 0.0
    smtp_timeout: float = 30.0
    mail_from: str = "Ghent-Kanazawa Supporters Club <club@localhost>"
    dkim_domain: str = ""
    dkim_selector: str = ""
    dkim_key_file: str = ""
    max_body_bytes: int = 1024 * 1024
    max_upload_bytes: int = 60 * 1024 * 1024
    run_sender: bool = True
    log_level: str = "info"
    base_url_explicit: bool = False
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or networks); none by default.
    trusted_proxies: tuple[str, ...] = ()
    header_timeout: float = 10.0  # seconds a client has to send a request's head
    keepalive_timeout: int = 5  # seconds an idle connection stays open between requests
    max_connections: int = 1000  # open connections and requests per web process before answering 503

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def uses_dev_mailbox(self) -> bool:
        return not self.smtp_host and not self.is_production

    def absolute_url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, dotenv: Path | None = None) -> Settings:
        env_vars = dict(read_dotenv(dotenv if dotenv is not None else ROOT / ".env"))
        env_vars.update(os.environ if environ is None else environ)

        def get(name: str, default: str = "") -> str:
            return env_vars.get("CLUB_" + name, default).strip()

        env = get("ENV", "development")
        if env not in ("development", "production"):
            raise ConfigError(f"CLUB_ENV must be 'development' or 'production', not {env!r}.")
        var_dir = Path(get("VAR_DIR") or ROOT / "var")
        database_url = get("DATABASE_URL") or f"sqlite+aiosqlite:///{var_dir / 'club.sqlite3'}"
        if database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
            database_url = "postgresql+asyncpg://" + database_url.split("://", 1)[1]
        security = get("SMTP_SECURITY", "none").lower()
        if security not in SMTP_SECURITY:
            raise ConfigError(f"CLUB_SMTP_SECURITY must be one of none, starttls, tls, not {security!r}.")
        settings = cls(
            env=env,
            var_dir=var_dir,
            database_url=database_url,
            secret_key=get("SECRET_KEY"),
            base_url=get("BASE_URL", "").rstrip("/"),
            smtp_host=get("SMTP_HOST"),
            smtp_port=_int(get, "SMTP_PORT", 465 if security == "tls" else 587 if security == "starttls" else 25),
            smtp_username=get("SMTP_USERNAME"),
            smtp_password=get("SMTP_PASSWORD"),
            smtp_security=security,
            smtp_connections=_int(get, "SMTP_CONNECTIONS", 8),
            smtp_rate=_float(get, "SMTP_RATE", 0.0),
            smtp_timeout=_float(get, "SMTP_TIMEOUT", 30.0),
            mail_from=get("MAIL_FROM", cls.mail_from),
            dkim_domain=get("DKIM_DOMAIN"),
            dkim_selector=get("DKIM_SELECTOR"),
            dkim_key_file=get("DKIM_KEY_FILE"),
            max_body_bytes=_int(get, "MAX_BODY_BYTES", cls.max_body_bytes),
            run_sender=get("RUN_SENDER", "1") not in ("0", "false", "no"),
            log_level=get("LOG_LEVEL", "info").lower(),
            base_url_explicit=bool(get("BASE_URL")),
            trusted_proxies=_networks(get("TRUSTED_PROXIES")),
            header_timeout=_float(get, "HEADER_TIMEOUT", cls.header_timeout),
            keepalive_timeout=_int(get, "KEEPALIVE_TIMEOUT", cls.keepalive_timeout),
            max_connections=_int(get, "MAX_CONNECTIONS", cls.max_connections),
        )
        return settings.checked()

    def checked(self) -> Settings:
        """Fill development defaults, and refuse a production start that lacks what it needs."""
        if self.is_production:
            missing = [
                name
                for name, value in (
                    ("CLUB_SECRET_KEY", self.secret_key),
                    ("CLUB_BASE_URL", self.base_url),
                    ("CLUB_SMTP_HOST", self.smtp_host),
                    ("CLUB_MAIL_FROM", self.mail_from if self.mail_from != Settings.mail_from else ""),
                )
                if not value
            ]
            if missing:
                raise ConfigError(
                    "Production needs these settings: " + ", ".join(missing) + ". See 'Configuration' in README.md."
                )
            if len(self.secret_key) < 32:
                raise ConfigError("CLUB_SECRET_KEY must be at least 32 characters (try: openssl rand -hex 32).")
        changes: dict[str, object] = {}
        if not self.base_url:
            changes["base_url"] = "http://127.0.0.1:8000"
        parts = urlsplit(self.base_url or "http://127.0.0.1:8000")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"CLUB_BASE_URL must be an http(s) URL such as https://club.example.org, not {self.base_url!r}."
            )
        if self.is_production and parts.scheme != "https":
            raise ConfigError("CLUB_BASE_URL must use https in production.")
        if not self.secret_key:
            changes["secret_key"] = development_secret(self.var_dir)
        if self.header_timeout <= 0 or self.keepalive_timeout < 1 or self.max_connections < 1:
            raise ConfigError("CLUB_HEADER_TIMEOUT, CLUB_KEEPALIVE_TIMEOUT and CLUB_MAX_CONNECTIONS must be positive.")
        if self.smtp_connections < 1 or self.smtp_connections > 256:
            raise ConfigError("CLUB_SMTP_CONNECTIONS must be between 1 and 256.")
        return replace(self, **changes) if changes else self  # type: ignore[arg-type]


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


def _networks(raw: str) -> tuple[str, ...]:
    """CLUB_TRUSTED_PROXIES: addresses or networks, separated by commas or spaces."""
    networks = []
    for item in raw.replace(",", " ").split():
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ConfigError(
                f"CLUB_TRUSTED_PROXIES: {item!r} is not an address or network (such as 10.0.0.5 or 10.0.0.0/24)."
            ) from None
    return tuple(networks)


def _int(get, name: str, default: int) -> int:  # type: ignore[no-untyped-def]
    raw = get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"CLUB_{name} must be a whole number, not {raw!r}.") from None


def _float(get, name: str, default: float) -> float:  # type: ignore[no-untyped-def]
    raw = get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"CLUB_{name} must be a number, not {raw!r}.") from None
