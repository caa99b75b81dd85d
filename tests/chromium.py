"""Debian's Chromium for the browser tests, launched as RECIPES.md says.

A missing browser is an error, not a skip: `scripts/test` installs it, and a browser test that
silently does not run would hide exactly what it is there to check.
"""

from __future__ import annotations

from pathlib import Path

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
