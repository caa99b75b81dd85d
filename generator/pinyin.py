"""Pinyin of Chinese names, remembered between builds.

Two stages spell names in pinyin: the portal (tag page addresses) and search (pinyin keys of
community and street names). pypinyin loads its phrase dictionary on import, about half a
second of every build; the names themselves change rarely. So the syllables of each text are
kept in ``.gongzhi/cache/pinyin.json`` (git-ignored) with the pypinyin version that produced
them, and pypinyin is imported only for a text not seen before. Forked render workers add
what they spelled under a file lock, so nothing they learn is lost.
"""

from __future__ import annotations

import fcntl
import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

MEMO_FILE = Path(__file__).resolve().parent.parent / ".gongzhi" / "cache" / "pinyin.json"

_memo: dict[str, list[str]] | None = None
_new: dict[str, list[str]] = {}


def pypinyin_version() -> str:
    """The installed pypinyin's version (what the kept syllables were spelled by)."""
    try:
        return version("pypinyin")
    except PackageNotFoundError:  # pragma: no cover - a dependency
        return ""


def _read(path: Path) -> dict[str, list[str]]:
    try:
        stored = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(stored, dict) or stored.get("pypinyin") != pypinyin_version():
        return {}
    memo = stored.get("syllables")
    return memo if isinstance(memo, dict) else {}


def syllables(text: str) -> list[str]:
    """pypinyin's ``lazy_pinyin`` (plain style, other characters kept) of ``text``, memoised."""
    global _memo
    if _memo is None:
        _memo = _read(MEMO_FILE)
    found = _memo.get(text)
    if found is None:
        from pypinyin import Style, lazy_pinyin

        found = _memo[text] = _new[text] = list(lazy_pinyin(text, style=Style.NORMAL, errors="default"))
    return list(found)


def save() -> None:
    """Add the texts spelled since the last save to the memo file (merged under a lock)."""
    if not _new:
        return
    try:
        MEMO_FILE.parent.mkdir(parents=True, exist_ok=True)
        with open(MEMO_FILE.with_name(MEMO_FILE.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            merged = {**_read(MEMO_FILE), **_new}
            tmp = MEMO_FILE.with_name(f".{MEMO_FILE.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"pypinyin": pypinyin_version(), "syllables": merged}, ensure_ascii=False), "utf-8")
            tmp.replace(MEMO_FILE)
        _new.clear()
    except OSError:  # a read-only checkout: spell again next time
        pass
