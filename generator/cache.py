"""Results of the build's slow, pure steps, kept on disk and keyed by what they were computed from.

Three steps of a build depend only on files that rarely change between two builds, yet cost
most of our own time at the district tier: checking ``datapackage.yaml`` with Frictionless
(about 0.6 s, mostly importing it), checking the case files (1.3 s for 1.3 M rows) and
computing the case statistics (2.5 s). An editor's pull request usually changes a few YAML
files and no case file, so a rebuild can take those results from here.

A result is stored under a key that is the SHA-256 of everything it was computed from: the
bytes of the input files (never their modification times), the other inputs (reference ids,
the schema rule), the source of the modules that compute it and the library versions. A
changed byte anywhere gives a new key, so a stale result is never used; entries not used for a
while are pruned. File digests are remembered by (path, size, mtime, inode) so an unchanged
file is not read again; a checkout that rewrites the files only costs one more hashing pass.

Where: ``.gongzhi/cache/`` beside the data folder (git-ignored), like the chart cache.
``GONGZHI_CACHE=0`` turns the cache off; ``GONGZHI_CACHE=/path`` moves it (CI can keep it
between runs). Entries are pickles, so the folder must be as trusted as the code that reads it
(it lives in the checkout, which a build runs code from anyway). A damaged entry is ignored
and removed; the cache never makes a build fail.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import pickle
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

ENV = "GONGZHI_CACHE"
_MAGIC = b"gongzhi-cache-1\n"
_DIGESTS = "file-digests.json"


def cache_root(data_dir: Path) -> Path | None:
    """The cache folder for a data folder, or None when ``GONGZHI_CACHE=0``."""
    setting = os.environ.get(ENV, "").strip()
    if setting.lower() in ("0", "off", "no", "false"):
        return None
    if setting:
        return Path(setting)
    return Path(data_dir).resolve().parent / ".gongzhi" / "cache"


def source_digest(*modules: ModuleType) -> str:
    """A digest of the modules' source files: a changed computation invalidates its results."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()


def make_key(*parts: Any) -> str:
    """SHA-256 of the parts, written as canonical JSON (sets sorted, paths as text)."""
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, sort_keys=True, default=_plain).encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, Path):
        return str(value)
    return repr(value)


class ResultCache:
    """One kind of result (``contract``, ``cases``, ``stats``…) in ``root/<kind>/<key>.pickle``."""

    def __init__(self, root: Path | None, kind: str, keep: int = 8) -> None:
        self.folder = root / kind if root else None
        self.keep = keep
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.folder is not None

    def has(self, key: str) -> bool:
        """Whether an entry is stored under ``key`` (it may still prove damaged on ``get``)."""
        return self.folder is not None and (self.folder / f"{key}.pickle").is_file()

    def get(self, key: str) -> Any | None:
        if self.folder is None:
            return None
        path = self.folder / f"{key}.pickle"
        try:
            blob = path.read_bytes()
        except OSError:
            self.misses += 1
            return None
        header = _MAGIC + key.encode() + b"\n"
        try:
            if not blob.startswith(header):
                raise ValueError("header")
            value = pickle.loads(blob[len(header):])
        except Exception:  # a damaged or foreign entry: forget it, compute again
            _unlink(path)
            self.misses += 1
            return None
        os.utime(path)  # recently used: pruned last
        self.hits += 1
        return value

    def put(self, key: str, value: Any, *, prune: bool = True) -> None:
        """Store ``value``; ``prune=False`` when more entries follow (then call ``prune``)."""
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / f".{key}.{os.getpid()}.tmp"
            tmp.write_bytes(_MAGIC + key.encode() + b"\n" + pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
            tmp.replace(self.folder / f"{key}.pickle")
            if prune:
                self.prune()
        except OSError:  # a read-only or full disk only costs the next build some time
            pass

    def prune(self) -> None:
        """Remove all but the ``keep`` entries used last."""
        if self.folder is None:
            return
        try:
            entries = sorted(self.folder.glob("*.pickle"), key=_mtime, reverse=True)
        except OSError:
            return
        for stale in entries[self.keep:]:
            _unlink(stale)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _read_memo(memo_path: Path | None) -> dict[str, list]:
    if memo_path is None:
        return {}
    try:
        loaded = json.loads(memo_path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _remembered(memo: dict[str, list], resolved: str, stat: os.stat_result) -> str | None:
    known = memo.get(resolved)
    if isinstance(known, list) and len(known) == 2 and known[0] == [stat.st_size, stat.st_mtime_ns, stat.st_ino]:
        return known[1]
    return None


def _sha256_of(path: str, size: int) -> str:
    """One ``update`` over the mapped file: hashlib releases Python's lock for all of it, where a
    loop over chunks would take the lock back for each one, waiting behind other threads."""
    with open(path, "rb") as handle:
        if size == 0:
            return hashlib.sha256(b"").hexdigest()
        try:
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                return hashlib.sha256(mapped).hexdigest()
        except (OSError, ValueError):  # not mappable (a pipe, a special file system)
            return hashlib.file_digest(handle, "sha256").hexdigest()


def digests_remembered(paths: Sequence[Path], root: Path | None) -> bool:
    """Whether ``file_digests`` would read none of these files (every stamp is remembered)."""
    memo = _read_memo(root / _DIGESTS if root else None)
    try:
        return all(_remembered(memo, str(Path(p).resolve()), os.stat(p)) is not None for p in paths)
    except OSError:
        return False


def file_digests(paths: Sequence[Path], root: Path | None) -> list[str]:
    """SHA-256 of each file's bytes, in order; unchanged files (same stamp) are not read again."""
    memo_path = root / _DIGESTS if root else None
    memo = _read_memo(memo_path)
    digests: list[str] = []
    changed = False
    for path in paths:
        resolved = str(Path(path).resolve())
        stat = os.stat(resolved)
        stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
        known = _remembered(memo, resolved, stat)
        if known is not None:
            digests.append(known)
            continue
        value = _sha256_of(resolved, stat.st_size)
        # a file written in the last two seconds may change again within the same mtime tick
        if time.time() - stat.st_mtime > 2:
            memo[resolved] = [stamp, value]
            changed = True
        digests.append(value)
    if changed and memo_path is not None:
        try:
            memo_path.parent.mkdir(parents=True, exist_ok=True)
            live = {k: v for k, v in memo.items() if os.path.exists(k)}
            tmp = memo_path.with_name(f".{_DIGESTS}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(live), "utf-8")
            tmp.replace(memo_path)
        except OSError:
            pass
    return digests


def describe(paths: Iterable[Path], root: Path | None) -> list[list[str]]:
    """[name, digest] per file: what a key needs to know about input files."""
    paths = list(paths)
    return [[Path(p).name, d] for p, d in zip(paths, file_digests(paths, root), strict=True)]
