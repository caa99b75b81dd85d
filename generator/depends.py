"""What each generated page was made from, so a rebuild renders only the pages whose data changed.

A page's Markdown is a function of its template (and the code and templates around it), its
context (what its provider put in it), and the records the template reads while it renders,
in itself or through the helpers it calls. The render stage renders a page with *tracking*
on: every model record whose attribute is read, and every attribute of the dataset and the
render context that is read, is noted (``Tracking``). The page's *key* is a digest of

- the code: every module of ``generator/``, every file of ``site_templates/`` and the versions
  of the packages that shape the text (``code_digest``);
- its path, its template, and its context (records in it stand as their keys, ``plain``);
- the shared values its template reads by name (``today``, ``edit_base``, ``forms``);
- for every record it read, a digest of that record's values (records it points to stand as
  their keys, so a change to one record changes only the pages that read that record), and
  for every dataset or context attribute it read, a digest of that attribute.

The next build computes the key again from the recorded list of what the page read and the
data of *this* build, before rendering anything. An equal key means the page's Markdown is
the one already in the docs folder (checked by its size and modification time), so the page
is not rendered. Anything that cannot be recorded faithfully — a value whose text names a
memory address, a page that reads ``ctx.derived`` at run time, a record two records share a
key with — makes the page's key new each build, so such a page is always rendered: the
tracking can make a rebuild slower, never wrong. Pages that show the case statistics read
them as the shared name ``stats``, whose digest is what the figures were computed from (the
cache's keys: the case files' bytes, the code, the community map, the cut-off) with the
records their views read (``Keys.stats_token``); a street's or community's view is made
the first time a page shows it, and what making it read is noted for every page that
shows it (``remembered``). Pages whose context is made late (``Deferred``) are always
rendered.

The record of the last render sits in the docs folder as ``MANIFEST`` (MkDocs skips dot
files), beside the list of generated files.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import os
import pickle
import stat
import types
from collections.abc import Iterable
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from generator import model
from generator.pages import RenderContext

MANIFEST = ".gongzhi-rendered"
FORMAT = 2  # 2: each page's record holds its Markdown's digest
PACKAGES = ("jinja2", "markupsafe", "pypinyin", "pyyaml")
ROOT = Path(__file__).resolve().parent.parent

# The shared names of the render's base context whose value is part of a page's key when its
# template reads them ("stats" is known once the case statistics are: ``Keys.share``). What a
# page reads of ``derived`` is noted name by name (``note``).
SHARED_NAMES: tuple[str, ...] = ("today", "edit_base", "forms", "stats")
_UNKEYABLE = "\0unkeyable"


def _hash(*parts: str) -> str:
    hasher = hashlib.blake2b(digest_size=20)
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        hasher.update(len(data).to_bytes(8, "little"))
        hasher.update(data)
    return hasher.hexdigest()


def md_digest(markdown: bytes) -> str:
    """The digest of a page's Markdown, as the render stage tells MkDocs's companion
    (``reuse.Reuse.source_key`` computes the same when it reads a page itself)."""
    return hashlib.sha256(markdown).hexdigest()


def code_digest(template_dirs: Iterable[Path] = ()) -> str:
    """The code and templates every page's Markdown comes from, and the packages' versions."""
    parts: list[str] = []
    folders = [(ROOT / "generator", "*.py"), *((Path(d), "*") for d in (template_dirs or [ROOT / "site_templates"]))]
    for folder, pattern in folders:
        for path in sorted(p for p in folder.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts):
            parts += [path.relative_to(folder).as_posix(), path.read_bytes().hex()]
    for package in PACKAGES:
        try:
            parts.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            parts.append(f"{package}==?")
    return _hash(str(FORMAT), *parts)


# --- the records ------------------------------------------------------------------------------


def _is_record_class(cls: type) -> bool:
    return dataclasses.is_dataclass(cls) and any(f.name == "origin" for f in dataclasses.fields(cls))


RECORD_CLASSES: tuple[type, ...] = tuple(
    cls for cls in vars(model).values()
    if isinstance(cls, type) and cls.__module__ == model.__name__ and _is_record_class(cls)
)
_RECORD_SET = frozenset(RECORD_CLASSES)


def file_date(file: str, root: Path | str) -> dt.date | None:
    """The modification date of a data file named as in ``Source.file`` (relative to the
    repository or the data folder, or absolute): what a page shows as its last change when
    the file is not in git."""
    # plain strings, not Path: once per data file, 150,000 of them at the province tier
    root = os.fspath(root)
    candidates = [file] if os.path.isabs(file) else [os.path.join(os.path.dirname(root), file),
                                                       os.path.join(root, file)]
    for candidate in candidates:
        try:
            found = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(found.st_mode):
            return dt.date.fromtimestamp(found.st_mtime)
    return None


class Records:
    """Every record of a dataset, by a key that is stable across builds (its class and the
    file and line it came from), and the digest of each record's values."""

    def __init__(self, dataset: model.Dataset) -> None:
        self.root = dataset.root
        self.dataset = dataset
        self._keys: dict[int, str] = {}
        self.by_key: dict[str, Any] = {}
        self.ambiguous: set[str] = set()
        self._tokens: dict[str, str] = {}
        self._dates: dict[str, dt.date | None] = {}
        if dataset.records:  # every record the link stage made: no walk of the relations
            by_key, ambiguous = self.by_key, self.ambiguous
            for rows in dataset.records.values():
                for record in rows:
                    key = self.key(record)
                    if by_key.setdefault(key, record) is not record:
                        ambiguous.add(key)
            return
        stack: list[Any] = [dataset.district]
        for name in _TABLES:
            stack.extend(getattr(dataset, name).values())
        keys = self._keys
        while stack:
            record = stack.pop()
            if id(record) in keys:
                continue
            key = self.key(record)
            if self.by_key.setdefault(key, record) is not record:
                self.ambiguous.add(key)
            for value in record.__dict__.values():
                kind = type(value)
                if kind is list:
                    if value and type(value[0]) in _RECORD_SET:
                        stack.extend(value)
                elif kind in _RECORD_SET:
                    stack.append(value)

    def key(self, record: Any) -> str:
        found = self._keys.get(id(record))
        if found is None:
            origin = record.__dict__.get("origin")
            if origin is not None:
                found = f"{type(record).__name__}:{origin.file}:{origin.line}"
            else:
                ident = record.__dict__.get("id")
                found = f"{type(record).__name__}#{ident}" if ident is not None else f"{type(record).__name__}@{id(record)}"
            self._keys[id(record)] = found
        return found

    def token(self, key: str) -> str | None:
        """The digest of the record's values this build (None: no such record)."""
        found = self._tokens.get(key)
        if found is None:
            record = self.by_key.get(key)
            if record is None:
                return None
            found = _UNKEYABLE if key in self.ambiguous or "@" in key else self._fields(record)
            self._tokens[key] = found
        return found

    def _fields(self, record: Any) -> str:
        """The digest of a record's values: the common kinds of value written down here
        (records as their keys, a label as its text and a date as its day number, each in a
        1-tuple so that neither reads as a plain text or number), anything else by
        ``digest``. (Pickling a label or a date takes its class's reduction; written down
        here the 1.3 million records of the province tier digest in half the time.)"""
        keys = self._keys
        out: list[Any] = []
        add = out.append
        for value in record.__dict__.values():
            kind = type(value)
            if kind in _PLAIN_VALUES:
                add(value)
            elif kind in _LABELS:
                add((value._value_,))
            elif kind is dt.date:
                add((value.toordinal(),))
            elif kind is list:
                if not value:
                    add(value)
                elif all(type(v) in _RECORD_SET for v in value):
                    add(tuple([keys.get(id(v)) or self.key(v) for v in value]))
                elif all(type(v) in _SIMPLE for v in value):
                    add(value)
                else:
                    add(self.digest(value))
            elif kind in _RECORD_SET:
                add(keys.get(id(value)) or self.key(value))
            elif kind is model.Source:
                add(self.origin(value))
            else:
                add(self.digest(value))
        return hashlib.blake2b(pickle.dumps(out, protocol=5), digest_size=20).hexdigest()

    def digest(self, value: Any) -> str:
        """A digest of ``value``'s content, in which records stand as their keys and a
        record's ``origin`` as its file, line and the date a page shows for it."""
        buffer = io.BytesIO()
        try:
            _Pickler(buffer, self).dump(value)
        except Exception:  # noqa: BLE001 - something that cannot be written down: never equal
            return _UNKEYABLE
        return hashlib.blake2b(buffer.getbuffer(), digest_size=20).hexdigest()

    def origin(self, origin: Any) -> tuple[str, int, str | None]:
        updated = origin.updated
        if updated is None:  # the page shows the file's modification date (``portal.provenance``)
            if origin.file not in self._dates:
                self._dates[origin.file] = file_date(origin.file, self.root)
            updated = self._dates[origin.file]
        return (origin.file, origin.line, updated.isoformat() if updated is not None else None)


class _Pickler(pickle.Pickler):
    """Writes values down for ``Records.digest``: records as their keys, functions as their
    names. An object without a way to be written down makes the digest unkeyable."""

    def __init__(self, file: Any, records: Records) -> None:
        super().__init__(file, protocol=5)
        # no memo: whether two equal values are one object or two must not change the digest
        # (a cyclic value then fails, and is unkeyable)
        self.fast = True
        self.records = records

    def persistent_id(self, obj: Any) -> Any:
        kind = type(obj)
        if kind in _PLAIN:
            return None
        if kind in _RECORD_SET:
            return self.records.key(obj)
        if kind is model.Source:
            return self.records.origin(obj)
        if kind in _FUNCTIONS:
            return ("F", getattr(obj, "__module__", ""), getattr(obj, "__qualname__", repr(obj)))
        if kind in (set, frozenset):  # their order follows the process's string hashing
            return ("S", sorted(self.records.digest(v) for v in obj))
        return None


_PLAIN = frozenset({str, int, float, bool, type(None), tuple, list, dict, dt.date, dt.datetime, Decimal})
# values written down as they are (an enum by its class and name)
_SIMPLE = frozenset({str, int, float, bool, type(None), dt.date, dt.datetime, Decimal,
                     *(cls for cls in vars(model).values() if isinstance(cls, type) and issubclass(cls, model.Label))})
_PLAIN_VALUES = frozenset({str, int, float, bool, type(None)})
_LABELS = frozenset(cls for cls in _SIMPLE if isinstance(cls, type) and issubclass(cls, model.Label))
_FUNCTIONS = frozenset({types.FunctionType, types.BuiltinFunctionType, types.MethodType})


_TABLES: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(model.Dataset) if f.name not in ("root", "district", "case_files", "records")
)


# --- tracking ----------------------------------------------------------------------------------

_seen: dict[int, Any] | None = None
_names: set[str] | None = None


def _record_getattribute(self: Any, name: str) -> Any:
    seen = _seen
    if seen is not None:
        seen[id(self)] = self
    return object.__getattribute__(self, name)


def _holder_getattribute(self: Any, name: str) -> Any:
    names = _names
    if names is not None and not name.startswith("__"):
        names.add(f"{type(self).__name__}.{name}")
    return object.__getattribute__(self, name)


def note(name: str) -> None:
    """Note that the page being rendered read ``name`` ("derived.<key>": a figure the build
    derived; "derived": all of them)."""
    names = _names
    if names is not None:
        names.add(name)


def remembered(make: Any) -> tuple[Any, Any]:
    """``make()`` and what it read, for a value made once and used by several pages (a
    street's statistics): what it read is noted for the page being rendered now, and
    ``replay`` notes it again for each page that uses the value later. Outside tracking
    what it read is None."""
    global _seen, _names
    outer_seen, outer_names = _seen, _names
    if outer_seen is None or outer_names is None:
        return make(), None
    _seen, _names = {}, set()
    try:
        value = make()
    finally:
        reads = (_seen, _names)
        _seen, _names = outer_seen, outer_names
    replay(reads)
    return value, reads


def replay(reads: Any) -> None:
    """Note again for the page being rendered what a remembered value read (``remembered``);
    a value made outside tracking makes the page unkeyable."""
    seen, names = _seen, _names
    if seen is None or names is None:
        return
    if reads is None:
        names.add("derived")
        return
    seen.update(reads[0])
    names.update(reads[1])


class Tracking:
    """While entered, reads of records, of the dataset and of the render context are noted
    (``begin`` and ``end`` frame one page). Outside it the classes are as they were."""

    HOLDERS: tuple[type, ...] = (model.Dataset, RenderContext)

    def __enter__(self) -> Tracking:
        for cls in RECORD_CLASSES:
            cls.__getattribute__ = _record_getattribute  # type: ignore[method-assign]
        for cls in self.HOLDERS:
            cls.__getattribute__ = _holder_getattribute  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: Any) -> None:
        global _seen, _names
        _seen = _names = None
        for cls in (*RECORD_CLASSES, *self.HOLDERS):
            if "__getattribute__" in cls.__dict__:
                del cls.__getattribute__

    @staticmethod
    def begin() -> None:
        global _seen, _names
        _seen, _names = {}, set()

    @staticmethod
    def end() -> tuple[list[Any], set[str]]:
        global _seen, _names
        seen, names = _seen, _names
        _seen = _names = None
        return list((seen or {}).values()), names or set()


# --- keys --------------------------------------------------------------------------------------


class Keys:
    """The keys of this build's pages, and the record of the last render (``MANIFEST``)."""

    def __init__(self, ctx: RenderContext, docs_dir: Path, shared: dict[str, Any],
                 template_dirs: Iterable[Path] = ()) -> None:
        self.ctx = ctx
        self.docs_dir = docs_dir
        self.records = Records(ctx.dataset)
        self.code = code_digest(template_dirs)
        self.shared = {name: self._shared(name, value) for name, value in shared.items()}
        self._dep_tokens: dict[str, str] = {}  # what a page read → its token this build
        self._before: dict[str, tuple[str, tuple[str, ...], str]] = {}  # path → template, names, context
        self.prefix: dict[str, str | None] = {}  # path → what the page is before it renders (None: unkeyable)
        # The last render's list of what pages read (``MANIFEST``'s "deps"): its pages name
        # what they read by their place in it. ``_pairs`` holds, by that place, "what\0token"
        # this build (None: not worked out yet; "": the page cannot be keyed).
        self._table: list[str] = []
        self._pairs: list[str | None] = []
        # the new manifest: path → key, size, mtime, what it read, its Markdown's digest. What
        # it read is a list of places in ``_table`` for a page kept from the last render, a
        # tuple of names for a page rendered now.
        self.entries: dict[str, tuple[str, int, int, list[int] | tuple[str, ...], str]] = {}
        self.previous = self._load()
        self._docs = os.fspath(docs_dir)

    def _shared(self, name: str, value: Any) -> str:
        return self.records.digest(value)

    def _load(self) -> dict[str, tuple[str, int, int, list[int], str]]:
        try:
            with open(self.docs_dir / MANIFEST, "rb") as handle:
                data = pickle.load(handle)
            if data.get("format") != FORMAT or data.get("code") != self.code:
                return {}
            table, pages = data["deps"], data["pages"]
            if not isinstance(table, list) or not isinstance(pages, dict):
                return {}
        except Exception:  # noqa: BLE001 - a missing, old or damaged record: render every page
            return {}
        self._table = table
        self._pairs = [None] * len(table)
        return pages

    def begin(self, path: str, template: str, context: dict[str, Any], reads: Iterable[str]) -> None:
        """Note what the page is before it renders (call for every page, before any renders:
        a context may hold caches the render fills)."""
        names = tuple(sorted(name for name in reads if name in SHARED_NAMES))
        self._before[path] = (template, names, self.records.digest(context))

    def share(self, name: str, token: str) -> None:
        """The digest of a shared value known only later in the build (``stats``)."""
        self.shared[name] = token

    def stats_token(self, view: Any, read: list[Any], names: set[str]) -> str:
        """The digest of the case statistics the pages show: what the figures were computed
        from, and the records (names, grids) the build of their views read."""
        if view is None:
            return _hash("no statistics")
        identity = getattr(getattr(view, "stats", view), "identity", None)
        # the build's step reads ``ctx.derived`` for its tools (the chart renderer) and to
        # store the view: what the view shows is in ``identity`` and the records
        deps = sorted({self.records.key(r) for r in read} | (names - {"RenderContext.derived"}))
        tokens = [self._dep_token(dep) for dep in deps]
        if not isinstance(identity, str) or None in tokens or _UNKEYABLE in tokens:
            return _UNKEYABLE
        return _hash(identity, *deps, *tokens)  # type: ignore[arg-type]

    def _prefix(self, path: str) -> str | None:
        found = self.prefix.get(path, "")
        if found == "":
            before = self._before.get(path)
            found = None
            if before is not None:
                template, names, context = before
                parts = [context, *(self.shared.get(name, _UNKEYABLE) for name in names)]
                if _UNKEYABLE not in parts:
                    found = _hash(self.code, path, template, *names, *parts)
            self.prefix[path] = found
        return found

    def _dep_token(self, dep: str) -> str | None:
        """The digest of what the page read, this build: a record (by its key), or an
        attribute of the dataset (a table stands as its ids, in order) or of the context.
        Worked out once per build (pages read the same records: half a million lookups at
        the city tier)."""
        found = self._dep_tokens.get(dep)
        if found is None:
            if ":" in dep or "#" in dep or "@" in dep:
                found = self.records.token(dep)
                if found is None:
                    return None
            else:
                found = self._holder_token(dep)
            self._dep_tokens[dep] = found
        return found

    def _holder_token(self, dep: str) -> str:
        holder, _, name = dep.partition(".")
        if holder == "derived":
            if name == "stats":
                return self.shared.get("stats", _UNKEYABLE)
            return self.records.digest(self.ctx.derived.get(name)) if name else _UNKEYABLE
        owner = {"Dataset": self.ctx.dataset, "RenderContext": self.ctx}.get(holder)
        if owner is None or name == "derived" or not hasattr(owner, name):
            return _UNKEYABLE
        if owner is self.ctx and name == "dataset":
            return "dataset"  # what is read of it is noted on its own
        value = getattr(owner, name)
        return self.records.digest(tuple(value) if isinstance(value, dict) else value)

    def key(self, path: str, deps: Iterable[str]) -> str | None:
        prefix = self._prefix(path)
        if prefix is None:
            return None
        parts = [prefix]
        for dep in sorted(deps):
            token = self._dep_token(dep)
            if token is None or token == _UNKEYABLE:
                return None
            parts += [dep, token]
        # keys and digests hold no NUL: joined, they read back one way only
        return hashlib.blake2b("\0".join(parts).encode("utf-8"), digest_size=20).hexdigest()

    def _pair(self, place: int) -> str:
        """"what\0token" for the last render's ``place``-th entry of what pages read, this
        build ("": it cannot be keyed now)."""
        found = self._pairs[place]
        if found is None:
            dep = self._table[place]
            token = self._dep_token(dep)
            found = "" if token is None or token == _UNKEYABLE else f"{dep}\0{token}"
            self._pairs[place] = found
        return found

    def _kept_key(self, path: str, places: list[int]) -> str | None:
        """``key`` of a page the last render recorded, from the places of what it read (kept
        in the order of their names: the parts ``key`` joins, without sorting or looking
        each name up again: 4.6 million of them at the province tier)."""
        prefix = self._prefix(path)
        if prefix is None:
            return None
        pairs = self._pairs
        parts = [prefix]
        for place in places:
            pair = pairs[place]
            if pair is None:
                pair = self._pair(place)
            if not pair:
                return None
            parts.append(pair)
        return hashlib.blake2b("\0".join(parts).encode("utf-8"), digest_size=20).hexdigest()

    def unchanged(self, path: str) -> bool:
        """True when the docs folder already holds this page's Markdown (keep its record)."""
        before = self.previous.get(path)
        if before is None or path not in self._before:
            return False
        key, size, mtime, places, _ = before
        try:
            if self._kept_key(path, places) != key:
                return False
        except (IndexError, TypeError):  # a damaged record: the page is rendered
            return False
        try:
            found = os.stat(os.path.join(self._docs, path))
        except OSError:
            return False
        if found.st_size != size or found.st_mtime_ns != mtime:
            return False
        self.entries[path] = before
        return True

    def rendered(self, path: str, read: list[Any], names: set[str]) -> tuple[str, tuple[str, ...]] | None:
        """The key and the list of what it read, for a page just rendered (None: unkeyable)."""
        deps = tuple(sorted({self.records.key(r) for r in read} | names))
        key = self.key(path, deps)
        return (key, deps) if key is not None else None

    def written(self, path: str, keyed: tuple[str, tuple[str, ...]] | None, md: str) -> None:
        """The page's file is in the docs folder: record it with the file's size and time."""
        if keyed is None:
            self.entries.pop(path, None)
            return
        try:
            found = os.stat(self.docs_dir / path)
        except OSError:
            return
        self.entries[path] = (keyed[0], found.st_size, found.st_mtime_ns, keyed[1], md)

    def md(self, path: str) -> str:
        """The Markdown digest of a page found unchanged."""
        return self.entries[path][4]

    def save(self) -> None:
        table = self._table  # the last render's places stay: kept pages' records are reused as they are
        places: dict[str, int] | None = None
        pages = {}
        for path, entry in self.entries.items():
            deps = entry[3]
            if type(deps) is tuple:  # rendered now: its names, placed in the table
                if places is None:
                    places = {dep: n for n, dep in enumerate(table)}
                numbers = []
                for dep in deps:
                    number = places.get(dep)
                    if number is None:
                        number = places[dep] = len(table)
                        table.append(dep)
                    numbers.append(number)
                entry = (entry[0], entry[1], entry[2], numbers, entry[4])
            pages[path] = entry
        if len(table) > 2 * len(self._dep_tokens) + 1024:  # many names no page reads now: start afresh
            table, pages = _compact(table, pages)
        data = {"format": FORMAT, "code": self.code, "deps": table, "pages": pages}
        target = self.docs_dir / MANIFEST
        tmp = target.with_name(target.name + ".tmp")
        with open(tmp, "wb") as handle:
            pickle.dump(data, handle, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(target)


def _compact(table: list[str], pages: dict[str, tuple]) -> tuple[list[str], dict[str, tuple]]:
    """The manifest's table of what pages read with only the entries some page names."""
    renumber: dict[int, int] = {}
    kept: list[str] = []
    out = {}
    for path, (key, size, mtime, numbers, md) in pages.items():
        new = []
        for number in numbers:
            found = renumber.get(number)
            if found is None:
                found = renumber[number] = len(kept)
                kept.append(table[number])
            new.append(found)
        out[path] = (key, size, mtime, new, md)
    return kept, out
