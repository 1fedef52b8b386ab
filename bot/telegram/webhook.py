"""The webhook server (tornado, on the bot's own event loop): POST /<path> and GET /healthz.

The secret token is checked and the size capped before a body is read; an update the library
cannot parse is answered 200 all the same (else Telegram would send it forever) and skipped.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from types import TracebackType
from typing import Any

import tornado.httpserver
import tornado.web
from telegram import Update
from telegram.ext import Application
from tornado.http1connection import HTTP1Connection

log = logging.getLogger("clientcoach.telegram")

# A Telegram update is a few KB; anything far bigger on the webhook is refused before it is read.
WEBHOOK_BODY_LIMIT = 1 << 20


@tornado.web.stream_request_body
class _WebhookHandler(tornado.web.RequestHandler):
    """POST /<path>: the secret is checked and the size capped before the body is read."""

    SUPPORTED_METHODS = ("POST",)

    def initialize(self, bot_app: Application, secret: str) -> None:
        self.application_ = bot_app
        self.secret = secret.encode()
        self.body = bytearray()

    def prepare(self) -> None:
        given = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not hmac.compare_digest(given, self.secret):
            raise tornado.web.HTTPError(403)
        length = self.request.headers.get("Content-Length")
        if length is not None and (not length.isdigit() or int(length) > WEBHOOK_BODY_LIMIT):
            raise tornado.web.HTTPError(413)
        connection = self.request.connection  # typed as the interface; HTTPServer's is an HTTP1Connection
        if isinstance(connection, HTTP1Connection):
            connection.set_max_body_size(WEBHOOK_BODY_LIMIT)  # chunked bodies too

    def data_received(self, chunk: bytes) -> None:
        self.body += chunk

    async def post(self) -> None:
        try:
            data = json.loads(self.body)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update")
        except ValueError:
            raise tornado.web.HTTPError(400) from None
        try:
            update = Update.de_json(data, self.application_.bot)
        except Exception as exc:  # answered 200 all the same, or Telegram would send it forever
            log.warning("update %s skipped: it could not be read (%s)", data["update_id"], type(exc).__name__)
        else:
            ledger = getattr(self.application_, "ledger", None)
            # The 200 confirms it to Telegram: recorded in the inbox first; the same update posted
            # again while in hand (or just handled) is not handled twice.
            if ledger is None or ledger.take(update, data):
                await self.application_.update_queue.put(update)
        self.finish("ok")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish(str(status_code))  # never a traceback page

    def log_exception(
        self, typ: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not isinstance(value, tornado.web.HTTPError):
            log.warning("webhook request failed: %s", type(value).__name__)


class _HealthHandler(tornado.web.RequestHandler):
    """GET /healthz: 200 "ok" while the bot runs (for a load balancer or a supervisor)."""

    def get(self) -> None:
        self.finish("ok")


class _WebhookApp(tornado.web.Application):
    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        """No access log: one line per update would drown the useful ones."""


def start_webhook_server(
    application: Application, *, listen: str, port: int, url_path: str, secret: str
) -> tornado.httpserver.HTTPServer:
    """Serve the webhook (POST /<url_path>) and GET /healthz on the running event loop."""
    app = _WebhookApp(
        [
            (rf"/{re.escape(url_path.strip('/'))}/?", _WebhookHandler, {"bot_app": application, "secret": secret}),
            (r"/healthz", _HealthHandler),
        ]
    )
    server = tornado.httpserver.HTTPServer(app, max_body_size=WEBHOOK_BODY_LIMIT, max_buffer_size=WEBHOOK_BODY_LIMIT)
    server.listen(port, address=listen)
    return server
