"""A small HTTP/1.1 server on asyncio, enough for a Bot API client: keep-alive, bodies sent with
Content-Length or chunked, one request at a time per connection, and a handler that may wait
(a long poll) and is cancelled when its client goes away.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus

log = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    keep_alive: bool


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"


Handler = Callable[[Request], Awaitable[Response]]


class MalformedRequest(ValueError):
    pass


class HttpServer:
    """Serves `handler` on host:port (0 = a free port) until stop()."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port)
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening, drop every connection, and wait for the handlers to end."""
        if self._server is not None:
            self._server.close()
        tasks = [connection.close() for connection in list(self.connections)]
        await asyncio.gather(*(task for task in tasks if task is not None), return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


class _Connection(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.task is None:
            self._serve_next()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if self.task is not None:
            self.task.cancel()

    def close(self) -> asyncio.Task[None] | None:
        """Close the connection; returns the handler still running, cancelled, to wait for."""
        assert self.transport is not None
        self.transport.close()
        if self.task is not None:
            self.task.cancel()
        return self.task

    def _serve_next(self) -> None:
        try:
            request = self._parse()
        except MalformedRequest as exc:
            self._write(Response(400, str(exc).encode(), "text/plain"), keep_alive=False)
            return
        if request is not None:
            self.task = asyncio.get_running_loop().create_task(self._serve(request))

    async def _serve(self, request: Request) -> None:
        try:
            response = await self.server.handler(request)
        except Exception:
            log.exception("the handler failed on %s %s", request.method, request.path)
            response = Response(500, b'{"ok":false,"error_code":500,"description":"Internal Server Error"}')
        self.task = None
        assert self.transport is not None
        if self.transport.is_closing():
            return
        self._write(response, request.keep_alive)
        if request.keep_alive and self.buffer:
            self._serve_next()

    def _write(self, response: Response, keep_alive: bool) -> None:
        assert self.transport is not None
        closing = "" if keep_alive else "Connection: close\r\n"
        head = (
            f"HTTP/1.1 {response.status} {HTTPStatus(response.status).phrase}\r\n"
            f"Content-Type: {response.content_type}\r\nContent-Length: {len(response.body)}\r\n{closing}\r\n"
        )
        self.transport.write(head.encode("latin-1") + response.body)
        if not keep_alive:
            self.transport.close()

    def _parse(self) -> Request | None:
        """The next complete request in the buffer (taken out of it), or None until one is."""
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            if len(self.buffer) > MAX_HEAD:
                raise MalformedRequest("request head too large")
            return None
        try:
            request_line, *header_lines = self.buffer[:head_end].decode("latin-1").split("\r\n")
            method, target, version = request_line.split(" ")
            headers = {}
            for line in header_lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if headers.get("transfer-encoding", "").lower() == "chunked":
                chunked = _dechunk(self.buffer, head_end + 4)
                if chunked is None:
                    return None
                body, end = chunked
            else:
                end = head_end + 4 + int(headers.get("content-length", "0"))
                if len(self.buffer) < end:
                    return None
                body = bytes(self.buffer[head_end + 4 : end])
        except ValueError as exc:
            raise MalformedRequest(f"malformed request: {exc}") from exc
        del self.buffer[:end]
        path, _, query = target.partition("?")
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        return Request(method, path, query, headers, body, keep_alive)


def _dechunk(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    """A chunked body starting at `start`: (body, where the request ends), or None if incomplete."""
    body, pos = bytearray(), start
    while True:
        line_end = buffer.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(buffer[pos:line_end].split(b";")[0], 16)
        pos = line_end + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n\r\n", pos - 2)  # no trailers: the CRLF right after "0\r\n"
            return None if trailer_end < 0 else (bytes(body), trailer_end + 4)
        if len(buffer) < pos + size + 2:
            return None
        body += buffer[pos : pos + size]
        pos += size + 2
