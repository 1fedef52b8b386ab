"""Settings for running the Telegram bot, from the environment or a `.env` file, and log hygiene."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

TOKEN_PATTERN = re.compile(r"^\d{3,15}:[A-Za-z0-9_-]{30,64}$")
_URL_TOKEN = re.compile(r"bot\d{3,15}:[A-Za-z0-9_-]{30,64}")


class ConfigError(ValueError):
    """A setting that is missing or malformed; the message is one line for the user."""


@dataclass(frozen=True)
class Settings:
    """What `clientcoach run` needs."""

    token: str
    db: str | None = None
    allowed_users: frozenset[int] = field(default_factory=frozenset)
    api_url: str | None = None

    @property
    def base_url(self) -> str | None:
        """python-telegram-bot's base_url for a local Bot API server root: `{root}/bot`."""
        return f"{self.api_url.rstrip('/')}/bot" if self.api_url else None

    @property
    def base_file_url(self) -> str | None:
        return f"{self.api_url.rstrip('/')}/file/bot" if self.api_url else None

    def allows(self, user_id: int) -> bool:
        return not self.allowed_users or user_id in self.allowed_users


def load_settings(env_file: str | Path | None = ".env", api_url: str | None = None) -> Settings:
    """Read the settings; raise ConfigError with one clear line when something is wrong."""
    if env_file and Path(env_file).is_file():
        from dotenv import load_dotenv

        load_dotenv(env_file, override=False)
    token = os.environ.get("TELEGRAM_BOT_TOKEN", "").strip()
    if not token:
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN is not set: put the token BotFather gave you in the environment or in .env "
            "(to try the bot without Telegram, run `clientcoach chat`)."
        )
    if not TOKEN_PATTERN.match(token):
        raise ConfigError("TELEGRAM_BOT_TOKEN does not look like a bot token (expected digits:letters, as BotFather gives it).")
    allowed: set[int] = set()
    for part in re.split(r"[,\s]+", os.environ.get("CLIENTCOACH_ALLOWED_USERS", "").strip()):
        if not part:
            continue
        if not part.lstrip("-").isdigit():
            raise ConfigError(f"CLIENTCOACH_ALLOWED_USERS must list numeric Telegram user ids; '{part[:20]}' is not one.")
        allowed.add(int(part))
    url = (api_url or os.environ.get("TELEGRAM_API_URL", "")).strip() or None
    if url and not re.match(r"^https?://[^/\s]+(/[^\s]*)?$", url):
        raise ConfigError("TELEGRAM_API_URL must be the Bot API server root, like http://127.0.0.1:8081.")
    return Settings(token, os.environ.get("CLIENTCOACH_DB") or None, frozenset(allowed), url)


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
