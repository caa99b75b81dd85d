"""Each entity file's rows, read and cast, kept between two checks by the file's bytes.

Reading the YAML files is most of ``gongzhi validate``: at the city tier (18,500 files) parsing,
flattening and casting take about 6 of its 9 s, at the province tier most of 100 s. An editor's
pull request changes a few files, so the next check takes every other file's result from here:
its typed rows, where each row starts, and the issues reading and casting it found. Only the
checks across files (ids, uniqueness, references, the domain rules) and the linking run again
over all rows, so every issue is still reported as a full check would.

A file's result is used only when its bytes are unchanged: its SHA-256 is compared, and the
digest is computed again unless the file's size, modification time and inode are the ones seen
when the result was stored (and that was more than two seconds after the file was written). The
whole store is keyed by the source of the modules that read and cast, the Data Package's
descriptor and where the data folder sits, so a change to any of them starts afresh.

A kept row does not carry every cell's position. When a check across files needs one for an
issue (rare: only on an error), the file is read again: its bytes are known to be the same.

The results are spread over ``BUCKETS`` entries of ``generator.cache.ResultCache`` by the file's
path, so an edit rewrites a small share of the store, not all of it.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.cache import ResultCache, _sha256_of, make_key, source_digest
from generator.issues import Issue
from generator.load import Flattener, FoundFile, RawRow, read_entity_file

FORMAT = 1
BUCKETS = 64
_SETTLED_S = 2.0  # a file written more recently may change again within its mtime tick

# (resource, line, prefix, filled, typed) per kept row, in the file's order
KeptSpec = tuple[str, int, str, frozenset[str], dict[str, Any]]


class KeptRow:
    """A row of an unchanged file: the parts of ``RawRow`` the checks across files use."""

    __slots__ = ("resource", "file", "line", "prefix", "filled", "_index", "_source")

    def __init__(self, spec: KeptSpec, file: str, index: int, source: _Reread) -> None:
        self.resource, self.line, self.prefix, self.filled = spec[0], spec[1], spec[2], spec[3]
        self.file = file
        self._index = index
        self._source = source

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def where(self, name: str) -> tuple[int, int | None]:
        rows = self._source.rows()
        if self._index < len(rows) and rows[self._index].line == self.line:
            return rows[self._index].where(name)
        return self.line, None  # the file changed while the check ran: its start is still right


class _Reread:
    """One kept file, read again only when an issue needs a cell's position."""

    __slots__ = ("_found", "_file", "_flattener", "_rows")

    def __init__(self, found: FoundFile, file: str, flattener: Flattener) -> None:
        self._found, self._file, self._flattener = found, file, flattener
        self._rows: list[RawRow] | None = None

    def rows(self) -> list[RawRow]:
        if self._rows is None:
            self._rows = read_entity_file(self._found, self._file, self._flattener)[0]
        return self._rows


@dataclass
class _Entry:
    stamp: tuple[int, int, int] | None  # size, mtime_ns, inode; None: hash the file again
    digest: str
    empty: bool  # no rows at all: its tables' references are not checked
    rows: list[KeptSpec]
    issues: list[Issue]


@dataclass
class FileResult:
    """What one file contributed, fresh or kept."""

    rows: list[RawRow | KeptRow]
    typed: list[dict[str, Any]]
    issues: list[Issue]
    empty: bool
    digest: str | None = None  # the file's SHA-256 (None: it could not be read whole)


# reads one file and casts its rows: (rows, typed rows, issues, whether the file gave no rows)
Reader = Callable[[FoundFile, str], tuple[list[RawRow], list[dict[str, Any]], list[Issue], bool]]


class FileStore:
    """The kept results of one data folder under one contract and one version of the code."""

    def __init__(self, root: Path | None, *, contract_descriptor: Any, shown_prefix: str) -> None:
        from generator import contract, issues, layout, load, validate

        self.cache = ResultCache(root, "files", keep=2 * BUCKETS)
        self.base = make_key(
            "entity-files",
            FORMAT,
            source_digest(load, validate, contract, issues, layout),
            contract_descriptor,
            shown_prefix,
        )
        self._buckets: dict[int, dict[str, _Entry]] = {}
        self._changed: set[int] = set()
        self._seen: set[str] = set()

    def _number(self, file: str) -> int:
        return zlib.crc32(file.encode()) % BUCKETS

    def _load(self, number: int) -> dict[str, _Entry]:
        bucket = self._buckets.get(number)
        if bucket is None:
            stored = self.cache.get(make_key(self.base, number)) if self.cache.enabled else None
            bucket = stored if isinstance(stored, dict) else {}
            self._buckets[number] = bucket
        return bucket

    def result(
        self, found: FoundFile, file: str, flattener: Flattener, reader: Reader
    ) -> FileResult:
        """The file's rows and issues: kept when its bytes are unchanged, else read by ``reader``."""
        self._seen.add(file)
        number = self._number(file)
        bucket = self._load(number)
        entry = bucket.get(file)
        try:
            stat = os.stat(found.path)
        except OSError:
            stat = None
        stamp = (stat.st_size, stat.st_mtime_ns, stat.st_ino) if stat is not None else None
        if entry is not None and stamp is not None:
            if entry.stamp != stamp:
                digest = _digest_of(found.path)
                if digest == entry.digest:
                    entry.stamp = _settled(stamp, stat)
                    self._changed.add(number)
                else:
                    entry = None
            if entry is not None:
                source = _Reread(found, file, flattener)
                rows = [KeptRow(spec, file, i, source) for i, spec in enumerate(entry.rows)]
                return FileResult(
                    rows, [spec[4] for spec in entry.rows], list(entry.issues), entry.empty, entry.digest
                )
        # hashed before reading: a file changed in between is read again next time
        digest = _digest_of(found.path) if stamp is not None else None
        raw, typed, issues, empty = reader(found, file)
        if digest is not None and self.cache.enabled:
            specs = [
                (r.resource, r.line, r.prefix, frozenset(r.filled), t)
                for r, t in zip(raw, typed, strict=True)
            ]
            bucket[file] = _Entry(_settled(stamp, stat), digest, empty, specs, list(issues))
            self._changed.add(number)
        return FileResult(list(raw), typed, issues, empty, digest)

    def save(self) -> None:
        """Store the buckets that changed; forget files no longer in the folder."""
        if not self.cache.enabled:
            return
        for number, bucket in self._buckets.items():
            gone = [file for file in bucket if file not in self._seen]
            for file in gone:
                del bucket[file]
            if gone:
                self._changed.add(number)
        # a bucket no file of this check falls into holds only files that are gone
        for number in range(BUCKETS):
            if number not in self._buckets and self.cache.has(make_key(self.base, number)):
                self._buckets[number] = {}
                self._changed.add(number)
        for number in sorted(self._changed):
            self.cache.put(make_key(self.base, number), self._buckets[number], prune=False)
        if self._changed:
            self.cache.prune()
        self._changed.clear()


def _settled(stamp: tuple[int, int, int], stat: os.stat_result) -> tuple[int, int, int] | None:
    return stamp if time.time() - stat.st_mtime > _SETTLED_S else None


def _digest_of(path: Path) -> str | None:
    try:
        return _sha256_of(str(path), path.stat().st_size)
    except OSError:
        return None
