"""Incremental builds: MkDocs renders only the pages whose output can differ from the last build.

A page's HTML is a function of its Markdown, its place in the site, the configuration, the
theme, the navigation and, for link checking, the pages it links to. The MkDocs companion
(``mkdocs_feed``) asks this module twice per page:

1. **before reading it** (``skip_reading``): the page's *source key* is a digest of what
   decides the Markdown's HTML: the page's bytes and path, the configuration file, the
   ``extra`` values of the build, the versions of MkDocs, the theme and the Markdown
   extensions, the code that shapes pages (``_code``), and, for every relative link in the
   page, whether its target is in the site, plus the bytes of the target page when the link
   has an anchor (MkDocs checks anchors). When it equals the previous build's, MkDocs need not
   read or convert the page; the anchors other pages may link to come from the manifest.
2. **before writing it** (``reuse``): the *page key* adds what the template puts around the
   content: every file of the theme folder and the navigation (titles and addresses, known
   once every page is read). When it equals the previous build's and the previous site still
   holds that page at its recorded size, the file is linked (or copied) from there; otherwise
   the page is read now if it was skipped, and rendered.

The keys are digests of the inputs, never modification times. A page in the navigation whose
source key is unchanged is read but not converted: its title, which the navigation shows, is
the one its last rendering found (kept in the manifest). Every build writes the manifest
(``MANIFEST``: each page's keys, anchors and size) into the new site, the same bytes whether
pages were reused or not, so the result of an incremental build is byte-identical to a full
build of the same inputs (``tests/test_incremental.py`` checks it over a set of typical edits).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import posixpath
import re
import shutil
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import unquote

MANIFEST = ".gongzhi-build.json"
# 2: pages record their rendered title (pages in the navigation need not be converted);
# 3: pages record the digest of their inputs but links ("md") and of their links' anchored targets;
# 4: the manifest records the digest of the theme and the navigation ("dynamic")
FORMAT = 4
# What converts Markdown to the page's HTML, besides the configuration
PACKAGES = ("mkdocs", "mkdocs-material", "markdown", "pymdown-extensions", "pygments", "jinja2")

# link targets in Markdown and in HTML written inside it
_LINKS = (
    re.compile(r"\]\(\s*<?([^)\s>]+)"),  # [text](target "title")
    re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M),  # [ref]: target
    re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']"""),  # raw HTML
)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _digest(*parts: bytes | str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        hasher.update(len(data).to_bytes(8, "little"))
        hasher.update(data)
    return hasher.hexdigest()


def _versions() -> str:
    found = []
    for package in PACKAGES:
        try:
            found.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            found.append(f"{package}==?")
    return ";".join(found)


def links(markdown: str) -> list[str]:
    """The link targets a page's Markdown holds (relative ones resolved by the caller)."""
    return sorted({m.group(1) for pattern in _LINKS for m in pattern.finditer(markdown)})


def _code() -> list[str]:
    """The code that can change a page's HTML or its keys: how the companion sets MkDocs up
    and finishes pages, and how this module keys, lends and records them. Changing anything
    else in these modules (the build's side of the companion, its messages) keeps the last
    site's pages; a change to the manifest's meaning bumps ``FORMAT``."""
    from generator import mkdocs_feed

    parts = [inspect.getsource(part) for part in (
        mkdocs_feed.compact_whitespace, mkdocs_feed._feed_plugin, mkdocs_feed._reusing,
        mkdocs_feed._linking_static_files, mkdocs_feed._joining_page_urls, mkdocs_feed._following_the_plan,
        mkdocs_feed.main, links, Reuse,
        write_manifest, _nav_signature)]
    return parts + [mkdocs_feed._INDENT.pattern, mkdocs_feed._VERBATIM.pattern, mkdocs_feed._PLAIN_URL.pattern,
                    *(p.pattern for p in _LINKS)]


def read_manifest(site: Path | None, name: str = MANIFEST) -> tuple[dict[str, dict[str, Any]], str | None]:
    """The previous build's pages (empty when there is none, or it cannot be read) and the
    digest of its theme and navigation (``Reuse.dynamic_digest``; None: not known)."""
    if site is None:
        return {}, None
    try:
        data = json.loads((site / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("pages"), dict):
        return {}, None
    dynamic = data.get("dynamic")
    return data["pages"], dynamic if isinstance(dynamic, str) else None


def load_manifest(site: Path | None, name: str = MANIFEST) -> dict[str, dict[str, Any]]:
    """The previous build's pages (empty when there is none, or it cannot be read)."""
    return read_manifest(site, name)[0]


class Reuse:
    """The companion's side: which pages to read and render, which to take from the last site."""

    def __init__(self, previous_site: Path | None, config_file: Path, docs_dir: Path, site_dir: Path,
                 wait_ready: Callable[[str], None]) -> None:
        self.previous_site = previous_site
        self.previous, self.previous_dynamic = read_manifest(previous_site)
        self.lent: set[str] = set()  # pages linked from the last site before the navigation was known
        self.config_file = Path(config_file)
        self.docs_dir = Path(docs_dir)
        self.site_dir = Path(site_dir)
        self.wait_ready = wait_ready  # blocks until the render stage has written a docs path
        self.plan: set[str] = set()
        self.extra: dict[str, Any] = {}
        self.nav_pages: set[str] = set()
        self._static: str | None = None
        self._dynamic: str | None = None
        self.records: dict[str, dict[str, Any]] = {}
        self.skipped: set[str] = set()
        self.stats = {"read": 0, "skipped_reading": 0, "rendered": 0, "reused": 0, "keys_kept": 0}
        self.known: dict[str, str] = {}  # Markdown digests the render stage gave (``source_key``)
        self._plan_digest: str | None = None
        self.only: set[str] | None = None  # a shard's pages (None: every page)
        self.common = True  # whether this run writes the files every page shares
        self.manifest = MANIFEST  # a shard writing into a folder it shares: its own part

    def mine(self, src_uri: str) -> bool:
        return self.only is None or src_uri in self.only

    # the keys

    def static_digest(self) -> str:
        if self._static is None:
            self._static = _digest(
                str(FORMAT), self.config_file.read_bytes(), json.dumps(self.extra, sort_keys=True, ensure_ascii=False),
                _versions(), *_code(),
            )
        return self._static

    def _inputs(self, md: str) -> str:
        """What a page's source key holds but its links' signature: the static digest, the
        set of pages (whether a link's target is in the site) and the page's Markdown."""
        if self._plan_digest is None:
            self._plan_digest = _digest(*sorted(self.plan))
        return _digest(self.static_digest(), self._plan_digest, md)[:32]

    def source_key(self, src_uri: str) -> str:
        """The page's source key (its record gets ``md`` and ``anchored`` for the next build).

        When the render stage gave the page's Markdown digest (``known``) and it, the set of
        pages, the configuration and the targets of its links with anchors are those of the
        last build, the key is the last build's: the page is not read."""
        self.wait_ready(src_uri)
        record = self.records.setdefault(src_uri, {})
        known = self.known.get(src_uri)
        before = self.previous.get(src_uri) or {}
        if known is not None and "source" in before and before.get("md") == self._inputs(known):
            anchored = before.get("anchored") or {}
            if all(self.known.get(target) == md for target, md in anchored.items()):
                record["md"] = before["md"]
                if anchored:
                    record["anchored"] = anchored
                self.stats["keys_kept"] += 1
                return before["source"]
        markdown = (self.docs_dir / src_uri).read_bytes()
        md = known if known is not None else hashlib.sha256(markdown).hexdigest()
        signature = []
        anchored = {}
        here = posixpath.dirname(src_uri)
        for target in links(markdown.decode("utf-8", errors="replace")):
            if _SCHEME.match(target) or target.startswith(("/", "#")):
                signature.append(target)  # checked (or not) the same way whatever else changed
                continue
            path, _, anchor = target.partition("#")
            path = unquote(path.partition("?")[0])  # as MkDocs reads it: new%20page.md is "new page.md"
            resolved = posixpath.normpath(posixpath.join(here, path)) if path else src_uri
            present = resolved in self.plan
            entry = f"{target}\0{resolved}\0{int(present)}"
            if anchor and present and resolved != src_uri and resolved.endswith(".md"):
                self.wait_ready(resolved)
                found = self.known.get(resolved)
                if found is None:
                    found = hashlib.sha256((self.docs_dir / resolved).read_bytes()).hexdigest()
                anchored[resolved] = found
                entry += "\0" + found
            signature.append(entry)
        record["md"] = self._inputs(md)
        if anchored:
            record["anchored"] = anchored
        return _digest(self.static_digest(), src_uri, md, *signature)

    def dynamic_digest(self, nav: Any, theme_dir: Path | None) -> str:
        if self._dynamic is None:
            parts: list[str | bytes] = []
            if theme_dir is not None and theme_dir.is_dir():
                for path in sorted(p for p in theme_dir.rglob("*") if p.is_file()):
                    parts += [path.relative_to(theme_dir).as_posix(), path.read_bytes()]
            parts.append(json.dumps(_nav_signature(nav.items), ensure_ascii=False))
            self._dynamic = _digest(*parts)
        return self._dynamic

    # the two questions

    def skip_reading(self, page: Any) -> bool:
        """True when the page need not be read now (its anchors are restored)."""
        src_uri = page.file.src_uri
        key = self.source_key(src_uri)
        self.records[src_uri]["source"] = key
        before = self.previous.get(src_uri)
        if not before or before.get("source") != key or "title" not in before:
            self.stats["read"] += 1
            return False
        page.present_anchor_ids = set(before.get("anchors") or ())
        self.skipped.add(src_uri)
        self.stats["skipped_reading"] += 1
        return True

    def lend_early(self, page: Any) -> None:
        """Link a page from the last site as soon as its source key is known unchanged
        (``skip_reading``), while the render stage still writes other pages, when its page
        key would be the last one if the theme and the navigation are unchanged. ``reuse``
        keeps the file when they prove unchanged, and removes it before the page is rendered
        when not. (Linking 20,000 pages after the last one was written was seconds at the
        end of a city tier's rebuild.)"""
        src_uri = page.file.src_uri
        before = self.previous.get(src_uri)
        if not before or self.previous_dynamic is None or self.previous_site is None:
            return
        if before.get("page") == _digest(self.records[src_uri]["source"], self.previous_dynamic):
            if self._link(page, before):
                self.lent.add(src_uri)

    def _link(self, page: Any, before: dict[str, Any]) -> bool:
        """The last site's file of the page, linked (or copied) into the new site."""
        assert self.previous_site is not None
        destination = Path(page.file.abs_dest_path)
        source = self.previous_site / destination.relative_to(self.site_dir)
        try:
            if source.stat().st_size != before.get("size"):
                return False
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, destination)
            except OSError:
                shutil.copyfile(source, destination)
        except OSError:
            return False
        return True

    def reuse(self, page: Any, nav: Any, theme_dir: Path | None) -> bool:
        """True when the previous site's file was put in place of rendering the page."""
        src_uri = page.file.src_uri
        record = self.records.get(src_uri)
        if record is None or "source" not in record:  # not asked before reading (computed once)
            key = self.source_key(src_uri)
            record = self.records[src_uri]
            record["source"] = key
        record["page"] = _digest(record["source"], self.dynamic_digest(nav, theme_dir))
        before = self.previous.get(src_uri)
        lent = src_uri in self.lent
        if not before or before.get("page") != record["page"] or self.previous_site is None:
            if lent:  # rendered after all: MkDocs must not write into the last site's file
                self.lent.discard(src_uri)
                Path(page.file.abs_dest_path).unlink(missing_ok=True)
            return False
        if not lent and not self._link(page, before):
            return False
        record.update(anchors=before.get("anchors") or [], size=before["size"], title=before.get("title"))
        self.stats["reused"] += 1
        return True

    def title(self, src_uri: str) -> str | None:
        """The title the page's last rendering found (for a page whose source key is unchanged)."""
        return (self.previous.get(src_uri) or {}).get("title")

    def rendered(self, page: Any) -> None:
        """After MkDocs wrote the page: its anchors, title and size, for the next build."""
        record = self.records.setdefault(page.file.src_uri, {})
        record["anchors"] = sorted(page.present_anchor_ids or ())
        record["title"] = page._title_from_render  # its first heading, as MkDocs read it (None: none)
        try:
            record["size"] = Path(page.file.abs_dest_path).stat().st_size
        except OSError:
            record["size"] = -1  # MkDocs wrote nothing (an empty page): never reused
        self.stats["rendered"] += 1

    def write_manifest(self) -> None:
        write_manifest(self.site_dir, {uri: r for uri, r in self.records.items() if "page" in r}, self.manifest,
                       dynamic=self._dynamic)


def write_manifest(site: Path, pages: dict[str, dict[str, Any]], name: str = MANIFEST,
                   dynamic: str | None = None) -> None:
    """The manifest of ``pages``: the same bytes for the same pages, whoever wrote them."""
    data: dict[str, Any] = {"format": FORMAT, "pages": dict(sorted(pages.items()))}
    if dynamic is not None:
        data["dynamic"] = dynamic
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    (site / name).write_text(text, encoding="utf-8")


def _nav_signature(items: list[Any]) -> list[Any]:
    signature = []
    for item in items:
        entry: list[Any] = [type(item).__name__, item.title or "", getattr(item, "url", "") or ""]
        children = getattr(item, "children", None)
        if children:
            entry.append(_nav_signature(children))
        signature.append(entry)
    return signature
