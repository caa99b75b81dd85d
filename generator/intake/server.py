"""Run the intake application under uvicorn with production settings.

One process: SQLite has one writer, and the group-committing writer thread already keeps the disk
busy; a second process would only contend for the same lock. uvicorn's own server (not a
development server) handles keep-alive, timeouts, graceful shutdown on SIGTERM (requests in
flight finish, queued writes are committed) and a bounded number of concurrent connections.

Logs go to stderr (journald under systemd). The access log never holds a query string, a body or
a path the service did not define: ``AccessPath`` writes the service's own routes with known form
ids and a placeholder for anything else, and the application logs no submitted value anywhere
(exceptions are logged by type and line, not by message).

Facing the internet (behind nginx or not), each connection is held to account by
``GuardedProtocol``: the request line and headers must arrive within ``header_timeout`` seconds
and ``max_header_bytes`` bytes (slow-loris, endless header lines), and at most
``max_connections`` connections are open at once; one more is closed as soon as it is accepted.
With the body deadline in the application, the memory a client can hold is bounded by the
connection cap times (header limit + body limit).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from generator.intake.app import IntakeSettings, create_app
from generator.intake.security import loggable_path

HEADER_TIMEOUT = 10.0  # seconds for the request line and headers
MAX_HEADER_BYTES = 16 * 1024
_REFUSED = {
    408: b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    431: b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
}


class AccessPath(logging.Filter):
    """Access log lines name only the service's own paths (``security.loggable_path``)."""

    def __init__(self, form_ids: Collection[str] = ()):
        super().__init__()
        self.form_ids = frozenset(form_ids)

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], loggable_path(args[2], self.form_ids), args[3], args[4])
        return True


class SafeExceptions(logging.Filter):
    """A logged exception keeps its type and line, never its message or traceback text.

    Starlette re-raises every exception after the 500 answer so that the server can log it,
    and uvicorn then logs the traceback, whose last line is the exception's message: for a
    parse or encoding error that quotes the input, which may be a resident's.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            from generator.intake.app import failure

            record.msg = f"{record.getMessage()}：{failure(record.exc_info[1])}"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline, a header size cap and a connection cap.

    Subclasses made by ``guarded_protocol`` carry the limits as class attributes (uvicorn makes
    one protocol object per connection from the class it is given).
    """

    header_timeout = HEADER_TIMEOUT
    max_header_bytes = MAX_HEADER_BYTES
    max_connections = 1000

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        if len(self.connections) > self.max_connections:
            transport.abort()  # over the cap: no byte of it is read
            return
        self._await_headers()

    def _await_headers(self) -> None:
        self._header_bytes = 0
        self._awaiting_headers = True
        self._cancel_deadline()
        self._deadline = self.loop.call_later(self.header_timeout, self._refuse, 408)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _refuse(self, status: int) -> None:
        self._cancel_deadline()
        if not self.transport.is_closing():
            self.transport.write(_REFUSED[status])
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        super().data_received(data)
        if self._awaiting_headers:
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes:
                self._refuse(431)

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._cancel_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_headers()  # the next request on a kept-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)


def guarded_protocol(header_timeout: float, max_header_bytes: int, max_connections: int) -> type:
    return type("GuardedProtocol", (GuardedProtocol,), {
        "header_timeout": header_timeout, "max_header_bytes": max_header_bytes,
        "max_connections": max_connections})


def log_config(access_log: bool, form_ids: Collection[str] = ()) -> dict[str, Any]:
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"access_path": {"()": AccessPath, "form_ids": sorted(form_ids)},
                    "safe_exceptions": {"()": SafeExceptions}},
        "formatters": {
            "plain": {"format": fmt},
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(asctime)s access %(client_addr)s "%(request_line)s" %(status_code)s',
                "use_colors": False,
            },
        },
        "handlers": {
            "plain": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "filters": ["safe_exceptions"],
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "filters": ["access_path"],
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["plain"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {
                "handlers": ["access"],
                "level": "INFO" if access_log else "WARNING",
                "propagate": False,
            },
            "gongzhi": {"handlers": ["plain"], "level": "INFO", "propagate": False},
            # a WARNING per malformed multipart body, which the service answers with 400 anyway
            "python_multipart": {"handlers": ["plain"], "level": "ERROR", "propagate": False},
        },
    }


def build_server(
    settings: IntakeSettings,
    host: str = "127.0.0.1",
    port: int = 8780,
    *,
    access_log: bool = True,
    limit_concurrency: int = 1000,
    header_timeout: float = HEADER_TIMEOUT,
) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        http=guarded_protocol(header_timeout, MAX_HEADER_BYTES, limit_concurrency),
        lifespan="on",
        log_config=log_config(access_log, settings.forms),
        access_log=access_log,
        proxy_headers=False,  # the app honours X-Forwarded-For itself, from trusted proxies only
        server_header=False,
        date_header=True,
        limit_concurrency=limit_concurrency,  # requests in flight beyond this: 503 at once
        backlog=2048,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=20,
    )
    return uvicorn.Server(config)
