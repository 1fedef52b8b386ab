"""Settings from the environment or a `.env` file, read once per command, and log hygiene.

Every `CLIENTCOACH_*` and `TELEGRAM_*` variable the program reads is listed in ENVIRONMENT (shown
by `clientcoach run --help` and the README) and read by `read_environment()`, once per command
(`cli.run_command`); the values are passed down from there (the database path, the time zone, the
settings of `run`), and no other module reads `os.environ` for them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .languages import load_languages

TOKEN_PATTERN = re.compile(r"^\d{3,15}:[A-Za-z0-9_-]{30,64}$")
_URL_TOKEN = re.compile(r"bot\d{3,15}:[A-Za-z0-9_-]{30,64}")
ENV_FILE = ".env"

# Every variable the program reads, with what it is for (in `run --help` and the README).
ENVIRONMENT: tuple[tuple[str, str], ...] = (
    ("TELEGRAM_BOT_TOKEN", "the bot's token from @BotFather (needed by `run`)"),
    ("TELEGRAM_API_URL", "root of a local Bot API server, e.g. http://127.0.0.1:8081 (same as --api-url)"),
    ("CLIENTCOACH_DB", "the database file (same as --db)"),
    ("CLIENTCOACH_LANG", "language of `chat` and `cases`: it, en or another language of templates/ (same as --lang)"),
    ("CLIENTCOACH_TZ", "time zone for reminders, e.g. Europe/Rome (the default)"),
    ("CLIENTCOACH_ALLOWED_USERS", "Telegram user ids allowed to use the bot, comma-separated (default: everybody)"),
    ("CLIENTCOACH_WEBHOOK_SECRET", "the webhook's secret token (default: a new random one at each start)"),
    (
        "CLIENTCOACH_WEBHOOK_URL",
        "`run` in webhook mode at this public https URL (same as --webhook-url; default: polling)",
    ),
    ("CLIENTCOACH_LISTEN", "the webhook's listen address (same as --listen; default 127.0.0.1)"),
    ("CLIENTCOACH_PORT", "the webhook's port (same as --port; default 8443)"),
)


class ConfigError(ValueError):
    """A setting that is missing or malformed; the message is one line for the user. With a `key`,
    the line is the interface text of that name (`ui/console`), in the user's language."""

    def __init__(self, message: str, key: str | None = None, **params: str):
        super().__init__(message.format(**params) if params and key is None else message)
        # `template` with `params`: the line as written, for the command line to word in its language.
        self.key, self.params, self.template = key, params, message


def check_timezone(name: str | None) -> str | None:
    """CLIENTCOACH_TZ as given, or ConfigError when no time zone has that name (it would silently be
    UTC: reminders an hour or more off)."""
    if name is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"CLIENTCOACH_TZ={name[:60]} is not a time zone: use a name like Europe/Rome or UTC.",
            "config_bad_tz",
            value=name[:60],
        ) from None
    return name


@dataclass(frozen=True)
class Environment:
    """The raw values of ENVIRONMENT, after `.env` (empty values count as unset)."""

    token: str = ""
    api_url: str | None = None
    db: str | None = None
    lang: str | None = None
    tz: str | None = None
    allowed_users: str = ""
    webhook_secret: str | None = None
    webhook_url: str | None = None
    listen: str | None = None
    port: str | None = None


def read_environment(env_file: str | Path | None = ENV_FILE, environ: Mapping[str, str] | None = None) -> Environment:
    """Read the settings once: `.env` (if there is one) first fills what the environment lacks."""
    values = dict(os.environ if environ is None else environ)
    if env_file and Path(env_file).is_file():
        from dotenv import dotenv_values  # only paid for when there is a .env

        try:
            for key, value in dotenv_values(env_file).items():
                if value is not None and not values.get(key):  # empty counts as unset
                    values[key] = value
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {env_file}: {exc}") from None

    def get(name: str) -> str | None:
        return (values.get(name) or "").strip() or None

    lang = get("CLIENTCOACH_LANG")
    return Environment(
        token=get("TELEGRAM_BOT_TOKEN") or "",
        api_url=get("TELEGRAM_API_URL"),
        db=values.get("CLIENTCOACH_DB") or None,  # a path may have meaningful spaces
        lang=lang.casefold() if lang and lang.casefold() in load_languages() else None,
        tz=check_timezone(get("CLIENTCOACH_TZ")),
        allowed_users=get("CLIENTCOACH_ALLOWED_USERS") or "",
        webhook_secret=get("CLIENTCOACH_WEBHOOK_SECRET"),
        webhook_url=get("CLIENTCOACH_WEBHOOK_URL"),
        listen=get("CLIENTCOACH_LISTEN"),
        port=get("CLIENTCOACH_PORT"),
    )


@dataclass(frozen=True)
class Settings:
    """What `clientcoach run` needs."""

    token: str
    db: str | None = None
    allowed_users: frozenset[int] = field(default_factory=frozenset)
    api_url: str | None = None
    webhook_secret: str | None = None
    tz: str | None = None  # CLIENTCOACH_TZ, for the case book's dates and reminders

    @property
    def base_url(self) -> str | None:
        """python-telegram-bot's base_url for a local Bot API server root: `{root}/bot`."""
        return f"{self.api_url.rstrip('/')}/bot" if self.api_url else None

    @property
    def base_file_url(self) -> str | None:
        return f"{self.api_url.rstrip('/')}/file/bot" if self.api_url else None

    def allows(self, user_id: int) -> bool:
        return not self.allowed_users or user_id in self.allowed_users


def load_settings(
    env_file: str | Path | None = ENV_FILE, api_url: str | None = None, environment: Environment | None = None
) -> Settings:
    """Check the settings `run` needs; raise ConfigError with one clear line when something is wrong."""
    env = environment or read_environment(env_file)
    token = env.token
    if not token:
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN is not set: put the token BotFather gave you in the environment or in .env "
            "(to try the bot without Telegram, run `clientcoach chat`)."
        )
    if not TOKEN_PATTERN.match(token):
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN does not look like a bot token (expected digits:letters, as BotFather gives it)."
        )
    allowed: set[int] = set()
    for part in re.split(r"[,\s]+", env.allowed_users):
        if not part:
            continue
        if not re.fullmatch(r"-?[0-9]{1,19}", part):  # ASCII only: int() would also take "²"
            raise ConfigError(
                "CLIENTCOACH_ALLOWED_USERS must list numeric Telegram user ids; '{part}' is not one.", part=part[:20]
            )
        allowed.add(int(part))
    url = (api_url or env.api_url or "").strip() or None
    if url and not re.match(r"^https?://[^/\s]+(/[^\s]*)?$", url):
        raise ConfigError("TELEGRAM_API_URL must be the Bot API server root, like http://127.0.0.1:8081.")
    return Settings(token, env.db, frozenset(allowed), url, env.webhook_secret, env.tz)


class RedactTokens(logging.Filter):
    """Replace any bot token in a log record (httpx logs request URLs, which contain it)."""

    def __init__(self, token: str | None = None):
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _URL_TOKEN.sub("bot<redacted>", message)
        if self.token:
            cleaned = cleaned.replace(self.token, "<redacted>")
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(token: str | None, level: int = logging.INFO) -> None:
    """Log to stderr with every token redacted; per-request and per-step lines of libraries are silenced."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactTokens(token))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "transitions", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
