"""Run the intake application under uvicorn with production settings.

One process: SQLite has one writer, and the group-committing writer thread already keeps the disk
busy; a second process would only contend for the same lock. uvicorn's own server (not a
development server) handles keep-alive, timeouts, graceful shutdown on SIGTERM (requests in
flight finish, queued writes are committed) and a bounded number of concurrent connections.

Logs go to stderr (journald under systemd). The access log never holds a query string or a body:
``StripQuery`` cuts everything after ``?`` from the logged path, and the application logs no
submitted value anywhere.
"""

from __future__ import annotations

import logging
from typing import Any

import uvicorn

from generator.intake.app import IntakeSettings, create_app


class StripQuery(logging.Filter):
    """Remove query strings from uvicorn's access log lines (they may carry personal data)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path = args[2].split("?", 1)[0]
            record.args = (args[0], args[1], path, args[3], args[4])
        return True


def log_config(access_log: bool) -> dict[str, Any]:
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"strip_query": {"()": StripQuery}},
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
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "filters": ["strip_query"],
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
        },
    }


def build_server(
    settings: IntakeSettings,
    host: str = "127.0.0.1",
    port: int = 8780,
    *,
    access_log: bool = True,
    limit_concurrency: int = 1000,
) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        lifespan="on",
        log_config=log_config(access_log),
        access_log=access_log,
        proxy_headers=False,  # the app honours X-Forwarded-For itself, from trusted proxies only
        server_header=False,
        date_header=True,
        limit_concurrency=limit_concurrency,  # beyond this: 503 at once rather than a pile-up
        backlog=2048,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=20,
        h11_max_incomplete_event_size=16 * 1024,  # request line and headers
    )
    return uvicorn.Server(config)
