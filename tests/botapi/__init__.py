"""A local Telegram Bot API server for end-to-end tests and benchmarks (see README.md)."""

from .entities import parse_html, utf16_len
from .server import DEFAULT_TOKEN, ApiCall, BotApiServer, ServerThread
from .state import CallbackQuery, ChatMessage, StoredFile, keyboard_buttons

__all__ = [
    "DEFAULT_TOKEN",
    "ApiCall",
    "BotApiServer",
    "CallbackQuery",
    "ChatMessage",
    "ServerThread",
    "StoredFile",
    "keyboard_buttons",
    "parse_html",
    "utf16_len",
]
