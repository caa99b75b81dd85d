"""Debian's Chromium for the browser tests, launched as RECIPES.md says.

A missing browser is an error, not a skip: `scripts/test` installs it, and a browser test that
silently does not run would hide exactly what it is there to check.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium tries to reach outside hosts.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> str:
    """The browser's path; raises with the install command when it is not there."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError("浏览器测试需要 Debian 的 chromium：apt-get install -y chromium fonts-noto-cjk")
    return CHROMIUM


@contextmanager
def launched() -> Iterator[Any]:
    """Headless Chromium for a module's tests (their ``browser`` fixture), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=require_chromium(), args=ARGS)
        try:
            yield instance
        finally:
            instance.close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve_folder(root: Path, port: int = 0) -> Iterator[str]:
    """Serve a built site on 127.0.0.1 (a free port unless one is given) from a thread;
    yields its origin, ``http://127.0.0.1:PORT`` (no trailing slash)."""
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
