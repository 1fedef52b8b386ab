"""The Bot API methods the fake Telegram answers, with Telegram's checks and error descriptions."""

from __future__ import annotations

import json
import mimetypes
import re
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from .entities import EntityParseError, parse_html, trim, utf16_len
from .state import Chat, ChatMessage, FakeBot, StoredFile, Webhook, bad_request

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64  # bytes
CALLBACK_ANSWER_LIMIT = 200
BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_BUTTON_URL = re.compile(r"(https?|tg)://\S+")
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


@dataclass
class Upload:
    """A file part of a multipart/form-data request."""

    filename: str | None
    content: bytes
    content_type: str | None


class Params:
    """A method's parameters, whether they came as JSON, as a form or as multipart/form-data.

    Form values are strings (objects JSON-encoded, as python-telegram-bot sends them); the getters
    turn them into what the method needs, and treat "" as absent, as Telegram does.
    """

    def __init__(self, values: dict[str, Any], uploads: dict[str, Upload] | None = None) -> None:
        self.values = values
        self.uploads = uploads or {}

    def get(self, name: str) -> Any:
        value = self.values.get(name)
        return None if value == "" else value

    def string(self, name: str) -> str | None:
        value = self.get(name)
        return None if value is None else str(value)

    def integer(self, name: str) -> int | None:
        value = self.get(name)
        try:
            return None if value is None else int(value)
        except (TypeError, ValueError):
            raise bad_request(f'field "{name}" must be of type Integer') from None

    def number(self, name: str) -> float | None:
        value = self.get(name)
        try:
            return None if value is None else float(value)
        except (TypeError, ValueError):
            raise bad_request(f'field "{name}" must be of type Number') from None

    def flag(self, name: str) -> bool:
        value = self.get(name)
        return value is True or str(value).lower() in ("true", "1")

    def json(self, name: str) -> Any:
        value = self.get(name)
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name} JSON object") from None

    def file(self, name: str) -> Upload | str | None:
        """An uploaded file (directly or as attach://<part>), or the string given (a file_id)."""
        value = self.string(name)
        if value is not None and value.startswith("attach://"):
            return self.uploads.get(value.removeprefix("attach://"))
        return self.uploads.get(name) or value

    def summary(self) -> dict[str, Any]:
        """The parameters for the call log: uploads as their name and size."""
        return self.values | {
            name: {"filename": upload.filename, "size": len(upload.content)} for name, upload in self.uploads.items()
        }


Method = Callable[[FakeBot, Params], Any]
METHODS: dict[str, Method] = {}  # by lower-case name: Telegram's method names are case-insensitive


def api_method(name: str) -> Callable[[Method], Method]:
    def register(function: Method) -> Method:
        METHODS[name.lower()] = function
        return function

    return register


# -- the bot and its updates ---------------------------------------------------------------------


@api_method("getMe")
def get_me(bot: FakeBot, p: Params) -> dict[str, Any]:
    return bot.user


@api_method("getUpdates")
async def get_updates(bot: FakeBot, p: Params) -> list[dict[str, Any]]:
    allowed = p.json("allowed_updates")
    if allowed is not None:
        bot.allowed_updates = list(allowed)
    limit = min(max(p.integer("limit") or 100, 1), 100)
    return await bot.poll(p.integer("offset"), limit, max(p.number("timeout") or 0, 0))


@api_method("setWebhook")
def set_webhook(bot: FakeBot, p: Params) -> bool:
    url = p.string("url")
    if url is None:
        return delete_webhook(bot, p)
    if not url.startswith(("https://", "http://")):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = p.string("secret_token")
    if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
        raise bad_request("secret token contains unallowed characters")
    allowed = p.json("allowed_updates")
    if allowed is not None:
        bot.allowed_updates = list(allowed)
    if p.flag("drop_pending_updates"):
        bot.drop_pending_updates()
    bot.set_webhook(Webhook(url, secret, p.integer("max_connections") or 40))
    return True


@api_method("deleteWebhook")
def delete_webhook(bot: FakeBot, p: Params) -> bool:
    if p.flag("drop_pending_updates"):
        bot.drop_pending_updates()
    bot.set_webhook(None)
    return True


@api_method("getWebhookInfo")
def get_webhook_info(bot: FakeBot, p: Params) -> dict[str, Any]:
    info: dict[str, Any] = {
        "url": "",
        "has_custom_certificate": False,
        "pending_update_count": bot.pending_update_count,
    }
    if (webhook := bot.webhook) is not None:
        info |= {"url": webhook.url, "max_connections": webhook.max_connections, "ip_address": "127.0.0.1"}
        if bot.allowed_updates:
            info["allowed_updates"] = bot.allowed_updates
        if webhook.last_error_date is not None:
            info |= {"last_error_date": webhook.last_error_date, "last_error_message": webhook.last_error_message}
    return info


@api_method("close")
@api_method("logOut")
def accept(bot: FakeBot, p: Params) -> bool:
    return True


# -- messages ------------------------------------------------------------------------------------


@api_method("sendMessage")
def send_message(bot: FakeBot, p: Params) -> dict[str, Any]:
    chat = bot.chat(p.get("chat_id"))
    text, entities = _formatted(p, "text", "entities")
    _check_text(text)
    fields: dict[str, Any] = {"text": text}
    if entities:
        fields["entities"] = entities
    return _send(bot, chat, p, fields, source=p.string("text"))


@api_method("sendDocument")
def send_document(bot: FakeBot, p: Params) -> dict[str, Any]:
    return _send_file(bot, p, "document")


@api_method("sendPhoto")
def send_photo(bot: FakeBot, p: Params) -> dict[str, Any]:
    return _send_file(bot, p, "photo")


@api_method("editMessageText")
def edit_message_text(bot: FakeBot, p: Params) -> dict[str, Any]:
    chat, old = _message_to_edit(bot, p)
    if old.text is None:
        raise bad_request("there is no text in the message to edit")
    text, entities = _formatted(p, "text", "entities")
    _check_text(text)
    markup = _reply_markup(p)
    if text == old.text and entities == old.data.get("entities", []) and markup == old.reply_markup:
        raise bad_request(NOT_MODIFIED)
    changes: dict[str, Any] = {
        "text": text,
        "entities": entities,
        "reply_markup": markup,
        "link_preview_options": _link_preview(p),
    }
    return _edit(bot, chat, old, changes, source=p.string("text"), parse_mode=p.string("parse_mode"))


@api_method("editMessageReplyMarkup")
def edit_message_reply_markup(bot: FakeBot, p: Params) -> dict[str, Any]:
    chat, old = _message_to_edit(bot, p)
    markup = _reply_markup(p)
    if markup == old.reply_markup:
        raise bad_request(NOT_MODIFIED)
    return _edit(bot, chat, old, {"reply_markup": markup}, source=old.source, parse_mode=old.parse_mode)


@api_method("deleteMessage")
def delete_message(bot: FakeBot, p: Params) -> bool:
    chat = bot.chat(p.get("chat_id"))
    if chat.messages.pop(p.integer("message_id") or 0, None) is None:
        raise bad_request("message to delete not found")
    return True


@api_method("sendChatAction")
def send_chat_action(bot: FakeBot, p: Params) -> bool:
    bot.chat(p.get("chat_id"))
    if p.string("action") not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    return True


@api_method("answerCallbackQuery")
def answer_callback_query(bot: FakeBot, p: Params) -> bool:
    query = bot.queries.get(p.string("callback_query_id") or "")
    if query is None or query.answered or time.monotonic() - query.created_at > bot.callback_query_timeout:
        raise bad_request(QUERY_INVALID)
    text = p.string("text")
    if text is not None and utf16_len(text) > CALLBACK_ANSWER_LIMIT:
        raise bad_request("MESSAGE_TOO_LONG")
    query.answered, query.text, query.show_alert, query.url = True, text, p.flag("show_alert"), p.string("url")
    return True


# -- files ---------------------------------------------------------------------------------------


@api_method("getFile")
def get_file(bot: FakeBot, p: Params) -> dict[str, Any]:
    stored = bot.files.get(p.string("file_id") or "")
    if stored is None:
        raise bad_request("invalid file_id")
    return stored.to_json()


def image_size(content: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, GIF or JPEG image, None for anything else."""
    if content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) >= 24:
        return struct.unpack(">II", content[16:24])
    if content.startswith((b"GIF87a", b"GIF89a")) and len(content) >= 10:
        return struct.unpack("<HH", content[6:10])
    if not content.startswith(b"\xff\xd8"):
        return None
    i = 2
    while i + 9 <= len(content) and content[i] == 0xFF:
        marker = content[i + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame segment
            height, width = struct.unpack(">HH", content[i + 5 : i + 9])
            return width, height
        i += 2 + int.from_bytes(content[i + 2 : i + 4], "big")
    return None


def _send_file(bot: FakeBot, p: Params, kind: str) -> dict[str, Any]:
    chat = bot.chat(p.get("chat_id"))
    caption, entities = _formatted(p, "caption", "caption_entities")
    if utf16_len(caption) > CAPTION_LIMIT:
        raise bad_request("message caption is too long")
    given = p.file(kind)
    if given is None:
        raise bad_request(f"there is no {kind} in the request")
    if isinstance(given, str):
        stored = bot.files.get(given)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
    else:
        size = image_size(given.content)
        if kind == "photo" and size is None:
            raise bad_request("IMAGE_PROCESS_FAILED")
        stored = _store(bot, given, kind)
    fields: dict[str, Any] = {kind: _file_object(stored, kind)}
    if caption:
        fields["caption"] = caption
    if entities:
        fields["caption_entities"] = entities
    return _send(bot, chat, p, fields, source=p.string("caption"))


def _store(bot: FakeBot, upload: Upload, kind: str) -> StoredFile:
    number = bot.unique_id()
    suffix = PurePosixPath(upload.filename or "").suffix or (".jpg" if kind == "photo" else "")
    mime_type = upload.content_type or mimetypes.guess_type(upload.filename or "")[0]
    stored = StoredFile(
        f"{kind}-{bot.user['id']}-{number}",
        f"u{number}",
        f"{kind}s/file_{number}{suffix}",
        upload.content,
        upload.filename,
        mime_type,
    )
    bot.files[stored.file_id] = bot.files_by_path[stored.file_path] = stored
    return stored


def _file_object(stored: StoredFile, kind: str) -> Any:
    """The Document, or the PhotoSize list, a message shows for a stored file."""
    common = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": len(stored.content)}
    if kind == "photo":
        width, height = image_size(stored.content) or (0, 0)
        return [common | {"width": width, "height": height}]
    document = {"file_name": stored.filename, "mime_type": stored.mime_type}
    return {name: value for name, value in document.items() if value} | common


# -- bot settings --------------------------------------------------------------------------------


@api_method("setMyCommands")
def set_my_commands(bot: FakeBot, p: Params) -> bool:
    commands = p.json("commands")
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    if len(commands) > 100:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    for command in commands:
        if not isinstance(command, dict) or not _COMMAND_NAME.fullmatch(str(command.get("command", ""))):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", ""))) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    bot.commands[_commands_key(p)] = [{"command": c["command"], "description": c["description"]} for c in commands]
    return True


@api_method("getMyCommands")
def get_my_commands(bot: FakeBot, p: Params) -> list[dict[str, str]]:
    return bot.commands.get(_commands_key(p), [])


@api_method("deleteMyCommands")
def delete_my_commands(bot: FakeBot, p: Params) -> bool:
    bot.commands.pop(_commands_key(p), None)
    return True


def commands_key(scope: dict[str, Any] | None, language_code: str | None) -> tuple[str, str]:
    """Where setMyCommands keeps a list: one per scope and language."""
    return json.dumps(scope or {"type": "default"}, sort_keys=True), language_code or ""


def _commands_key(p: Params) -> tuple[str, str]:
    return commands_key(p.json("scope"), p.string("language_code"))


@api_method("setMyDescription")
def set_my_description(bot: FakeBot, p: Params) -> bool:
    bot.descriptions[("description", p.string("language_code") or "")] = p.string("description") or ""
    return True


@api_method("getMyDescription")
def get_my_description(bot: FakeBot, p: Params) -> dict[str, str]:
    return {"description": bot.descriptions.get(("description", p.string("language_code") or ""), "")}


@api_method("setMyShortDescription")
def set_my_short_description(bot: FakeBot, p: Params) -> bool:
    bot.descriptions[("short_description", p.string("language_code") or "")] = p.string("short_description") or ""
    return True


@api_method("getMyShortDescription")
def get_my_short_description(bot: FakeBot, p: Params) -> dict[str, str]:
    return {"short_description": bot.descriptions.get(("short_description", p.string("language_code") or ""), "")}


# -- shared checks -------------------------------------------------------------------------------


def _formatted(p: Params, field: str, entities_field: str) -> tuple[str, list[dict[str, Any]]]:
    """The visible text of a text or caption parameter and its entities, after the parse mode."""
    source = p.string(field) or ""
    parse_mode = (p.string("parse_mode") or "").lower()
    if parse_mode == "html":
        try:
            return trim(*parse_html(source))
        except EntityParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None
    if parse_mode in ("", "markdown", "markdownv2"):  # Markdown is passed through unparsed
        return trim(source, p.json(entities_field) or [])
    raise bad_request("unsupported parse_mode")


def _check_text(text: str) -> None:
    if not text:
        raise bad_request("message text is empty")
    if utf16_len(text) > TEXT_LIMIT:
        raise bad_request("message is too long")


def _reply_markup(p: Params) -> dict[str, Any] | None:
    """The inline keyboard a message will show; reply keyboards are accepted and not shown on it."""
    markup = p.json("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        if markup.keys() & {"keyboard", "remove_keyboard", "force_reply"}:
            return None
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays')
    for button in (button for row in rows for button in row):
        _check_button(button)
    return {"inline_keyboard": rows} if any(rows) else None


def _check_button(button: Any) -> None:
    problem = "can't parse inline keyboard button: "
    if not isinstance(button, dict):
        raise bad_request(problem + "InlineKeyboardButton must be an Object")
    if "text" not in button:
        raise bad_request(problem + 'Can\'t find field "text"')
    if not isinstance(button["text"], str):
        raise bad_request(problem + 'Field "text" must be of type String')
    actions = [name for name in BUTTON_ACTIONS if button.get(name) not in (None, "")]
    if not actions:
        raise bad_request(problem + "Text buttons are unallowed in the inline keyboard")
    if len(actions) > 1:
        raise bad_request(problem + f"only one of the fields {', '.join(actions)} can be used")
    data = button.get("callback_data")
    if data is not None and (not isinstance(data, str) or len(data.encode()) > CALLBACK_DATA_LIMIT):
        raise bad_request("BUTTON_DATA_INVALID")
    url = button.get("url")
    if url is not None and not (isinstance(url, str) and _BUTTON_URL.fullmatch(url)):
        raise bad_request("BUTTON_URL_INVALID")


def _link_preview(p: Params) -> dict[str, Any] | None:
    options = p.json("link_preview_options")
    if options is None and p.flag("disable_web_page_preview"):
        return {"is_disabled": True}
    return options


def _replied_message(chat: Chat, p: Params) -> dict[str, Any] | None:
    """The message a new one replies to (reply_parameters or the older reply_to_message_id)."""
    reply = p.json("reply_parameters")
    if reply is None and p.get("reply_to_message_id") is not None:
        reply = {"message_id": p.integer("reply_to_message_id")}
    if reply is None:
        return None
    if not isinstance(reply, dict):
        raise bad_request("can't parse reply parameters JSON object")
    target = chat.messages.get(int(reply.get("message_id") or 0))
    if target is not None:
        return {name: value for name, value in target.data.items() if name != "reply_to_message"}
    if reply.get("allow_sending_without_reply") or p.flag("allow_sending_without_reply"):
        return None
    raise bad_request("message to be replied not found")


def _send(bot: FakeBot, chat: Chat, p: Params, fields: dict[str, Any], source: str | None) -> dict[str, Any]:
    """Post a new bot message with its keyboard, link preview and reply."""
    markup, preview, replied = _reply_markup(p), _link_preview(p), _replied_message(chat, p)
    data = {"message_id": chat.next_message_id(), "from": bot.user, "chat": chat.data, "date": int(time.time())}
    data |= fields
    for name, value in (("reply_markup", markup), ("link_preview_options", preview), ("reply_to_message", replied)):
        if value:
            data[name] = value
    bot.record(chat, ChatMessage(data, source, p.string("parse_mode")))
    return data


def _message_to_edit(bot: FakeBot, p: Params) -> tuple[Chat, ChatMessage]:
    if p.get("inline_message_id") is not None:
        raise bad_request("MESSAGE_ID_INVALID")  # this fake has no inline messages
    chat = bot.chat(p.get("chat_id"))
    message = chat.messages.get(p.integer("message_id") or 0)
    if message is None:
        raise bad_request("message to edit not found")
    if not message.from_bot:
        raise bad_request("message can't be edited")
    return chat, message


def _edit(
    bot: FakeBot, chat: Chat, old: ChatMessage, changes: dict[str, Any], *, source: str | None, parse_mode: str | None
) -> dict[str, Any]:
    """Record the new version of a message; empty changes remove the field, as Telegram does."""
    data = {name: value for name, value in old.data.items() if name not in changes}
    data |= {name: value for name, value in changes.items() if value}
    data["edit_date"] = int(time.time())
    bot.record(chat, ChatMessage(data, source, parse_mode, previous=old))
    return data
