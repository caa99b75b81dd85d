"""Search: the last stage of ``gongzhi build`` indexes the built site with Pagefind.

Why Pagefind: Material's built-in search ships one JSON index that every phone downloads whole
(41 MB for 5,000 pages) and segments Chinese with the unmaintained jieba. Pagefind writes a
chunked index next to the site; a query loads only the chunks and fragments it needs, and the
extended build segments Chinese at index time (``<html lang="zh">`` selects it).

The pieces:

- ``pinyin_keys(name)``: full pinyin and initials of a community or street name
  (临平街道 → linpingjiedao, linping, lpjd, lp), rendered into a hidden, ``aria-hidden`` element
  by ``site_templates/_search_meta.md`` so that residents typing pinyin find the page.
- ``index_site(site_dir)``: splits the built pages into shards (``plan_shards``), runs the
  Pagefind binary once per shard, writes the shard manifest and the place-name buckets, and
  swaps the whole ``site_dir/pagefind`` in atomically (built aside, then renamed), returning
  a report.
- ``TEMPLATE_FILTERS``: the Jinja filters the render stage registers for page templates.

Sharded index (issue #4: one Pagefind index of the 332,000-page province site grew past 21 GB
and was killed; at 40,000 pages a query fetched 620–804 KB because Pagefind's metadata file and
its index chunks grow with the page count). So the index is cut by area:

- The common shard holds the site-wide pages (policies, reports, awards, how-to pages, the
  lists of all streets and 村社: every page without a street marker). It is the bundle at
  ``pagefind/`` itself, because Pagefind's browser runtime takes its WebAssembly from the
  bundle it is loaded from (the "primary" index) and merges the others (``mergeIndex``); a
  query always searches it.
- Area shards hold the pages of whole streets (a page's street is its ``街道`` filter, set by
  ``_search_meta.md``), packed in the order of the streets' folders (ids follow the
  administrative codes, so neighbours share a shard) up to ``SHARD_PAGES`` pages; a street
  larger than that is a shard of its own. Each is a bundle at ``pagefind/area-<street id>/``
  without a copy of the runtime. A site whose pages fit the budget stays one index.
- ``gongzhi-shards.json`` lists the shards (id, Chinese name, parent area, page count, and
  their streets as [first, count] in the street list: shards hold runs of consecutive
  streets) and the street names, compactly, since every query loads it (a province has
  hundreds of streets); ``gongzhi-filters.json`` in each bundle lists its filter values. ``assets/search.js`` searches the street of the page being read plus the
  common shard, and a "范围" selector (remembered in localStorage) changes it.
- Pagefind runs one shard after the other: memory is bounded by the largest shard, not by
  the site (measured: 268 MB per run at 2,000 pages).
- The place-name finder is independent of the shards: every community and street, under
  ``gongzhi-places/``, hashed into buckets of a few dozen entries by lookup keys (pairs of
  Han characters of the name, the first letters of its pinyin and initials; see
  ``place_keys``), so a query fetches one or two files of a few KB, and any community of the
  province is one click away from any page. A key keeps its 24 best entries (short keys
  such as two initials stand for hundreds of 村社; longer queries use longer keys). First
  tried: one bucket per Han character and per two pinyin letters; on the province replica
  (25,000 村社 with names drawn from a small pool of characters) the largest bucket was
  436 KB and a query for a 村社 fetched 282 KB of place names; then hashed buckets without
  the cap, whose largest was still 180 KB (the bucket of a common pair of initials).

Choosing the budgets (``bench/bench_search.py``, bytes per query measured in Chromium from a
村社 page, raw / as gzip on the wire; district tier: 3,985 pages, 20 streets of about 197):

==================  ===============  ================  ===============
 district tier       one index        shards of 2,000   shards of 400
==================  ===============  ================  ===============
 per query           190–210 KB       178–258 KB        150–246 KB
 on the wire (gzip)  157–177 KB       144–225 KB        116–212 KB
 searched            all 20 streets   10 streets        2 streets
==================  ===============  ================  ===============

Two bundles in scope (common + area) fetch index chunks twice, so at 4,000 pages sharding does
not pay: ``SINGLE_INDEX_PAGES`` = 5,000 keeps such a site in one index (which also searches
every street). Province replica (328,131 pages, 25,000 村社): shards of 2,000 pages (168
shards) fetch 219–261 KB per query (141–185 KB gzip), shards of 4,000 (85) 237–272 KB
(169–206 KB gzip); ``SHARD_PAGES`` = 2,000 keeps the 300 KB goal with a margin for queries
whose characters are common (index chunks alone reached 131 KB for one query at the district).
Indexing the province replica: 1,011 s, 455 MB for the largest Pagefind run, 628 MB for Python.

Browser runtime: Pagefind's worker script (41 KB, 12 KB gzipped) only moves the search off
the page's thread; the search over one shard takes milliseconds, so ``search.js`` creates its
instances with ``noWorker`` and never downloads it. What remains fixed per first query is
``pagefind.js`` (45.5 KB, 12.8 KB gzipped) and the WebAssembly (68 KB, already gzip).

Measured while choosing (5,000 synthetic Chinese pages, 2 cores): the Pagefind binary over the
folder 5.2 s, the Python API's ``add_directory`` 5.4 s, the Python API fed file by file 518 s.
So each shard's folder is indexed by the binary, and everything a page needs for search
(markers, pinyin) is already in its HTML.

Chinese words, index and query alike. Pagefind's extended build segments Chinese with jieba
when it indexes, but the browser segments the query with ``Intl.Segmenter`` (ICU), and the two
disagree on exactly the words residents type: ICU splits 网格员 into 网|格|员 while jieba keeps
网格员 or 网格, so on the sample site the query 网格员 found none of the 15 community pages
that say 专职网格员 (Pagefind issue #1237 describes the same for Japanese). Browsers and
WeChat's webview also differ in their ICU data, or lack ``Intl.Segmenter`` altogether. So this
stage makes both sides agree by construction: it indexes a copy of the pages in which every
CJK character stands alone (``spaced_cjk``), and ``assets/search.js`` spaces the query the same
way, searching each Chinese term as an exact phrase (every substring is found: 网格员 inside
专职社区网格员) and ranking by Pagefind's weighted score. The served pages are untouched; the
copy lives in a temporary folder beside the site.

The library never prints: failures raise ``SearchIndexError`` with a Chinese message.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import itertools
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from generator import pinyin
from generator.build import BuildError
from generator.cache import source_digest

OUTPUT_SUBDIR = "pagefind"
# Written beside Pagefind's bundle: the filter values with page counts, read by the search box
# instead of Pagefind's filter index (which grows with the page count).
FILTERS_FILE = "gongzhi-filters.json"
# The shard manifest and the place-name finder's buckets, in the common bundle (pagefind/).
SHARDS_FILE = "gongzhi-shards.json"
PLACES_SUBDIR = "gongzhi-places"
# Page budget of one area shard (whole streets are packed up to it), and the size up to which a
# site keeps one index; see the module notes.
SHARD_PAGES = 2000
SINGLE_INDEX_PAGES = 5000
# threads linking the unchanged shards' files from the last site (``index_site``)
LEND_THREADS = 4

# Filter keys shown to residents; the values come from the page templates.
FILTER_TYPE = "类型"
FILTER_STREET = "街道"

# Page types the portal marks (in this order in the filter bar). Other values are allowed and
# sort after these.
PAGE_TYPES: tuple[str, ...] = (
    "街道",
    "社区",
    "议事",
    "项目",
    "政策",
    "报告",
    "组织",
    "评选",
    "参与",
    "数据",
    "说明",
)

# Material's own furniture inside the article that is not content: heading permalinks (¶),
# the edit/view buttons, "last updated" footers, tag chips, the feedback widget. Portal
# boilerplate inside content carries ``data-pagefind-ignore`` in its own template.
EXCLUDE_SELECTORS: tuple[str, ...] = (
    ".headerlink",
    ".md-content__button",
    ".md-source-file",
    ".md-tags",
    ".md-feedback",
    ".md-annotation__index",
    ".gz-provenance",  # 数据来源 … 编辑此数据: the same words on every generated page
)

# Administrative suffixes stripped to get the name people actually say (临平街道 → 临平).
_ADMIN_SUFFIXES: tuple[str, ...] = (
    "村民委员会",
    "居民委员会",
    "股份经济合作社",
    "经济合作社",
    "居委会",
    "村委会",
    "居民区",
    "街道办",
    "街道",
    "社区",
    "小区",
    "新村",
    "村",
    "镇",
    "乡",
)

# Characters whose reading in place names often differs from pypinyin's everyday choice;
# both readings are indexed (朝阳 → chaoyang and zhaoyang).
_PLACE_NAME_READINGS: dict[str, tuple[str, ...]] = {
    "朝": ("chao", "zhao"),
    "长": ("chang", "zhang"),
    "重": ("chong", "zhong"),
    "乐": ("le", "yue"),
    "行": ("xing", "hang"),
    "曾": ("zeng", "ceng"),
    "厦": ("xia", "sha"),
    "堡": ("bao", "pu"),
    "单": ("shan", "dan"),
    "蚌": ("bang", "beng"),
    "莘": ("xin", "shen"),
    "洞": ("dong", "tong"),
    "濮": ("pu",),
}
_MAX_READINGS = 4
_HAN = re.compile(r"[\u3400-\u9fff]")
_KEEP = re.compile(r"[0-9a-z]+")


class SearchIndexError(BuildError):
    """The search index could not be built. ``str(exc)`` is a Chinese message for people.

    A ``BuildError``, so ``gongzhi build`` reports it like any failed stage (and keeps the
    previous site)."""


@dataclass(frozen=True)
class SearchIndexReport:
    """What the indexing stage did, for the build summary and the benchmark."""

    pages: int
    languages: dict[str, int]
    seconds: float
    bundle_dir: Path
    warnings: list[str] = field(default_factory=list)
    shards: list[Shard] = field(default_factory=list)  # the common shard first
    places: int = 0  # communities and streets in the place-name finder
    place_buckets: int = 0
    place_bucket_max_bytes: int = 0
    peak_memory_mb: float = 0.0  # largest Pagefind run so far in this process (ru_maxrss)

    @property
    def bundle_bytes(self) -> int:
        """The bundle's size on disk (measured when asked: 340,000 files at the province tier)."""
        return dir_size(self.bundle_dir)[0]

    @property
    def bundle_files(self) -> int:
        return dir_size(self.bundle_dir)[1]


# --------------------------------------------------------------------------- pinyin


def _readings(name: str) -> list[list[str]]:
    """One syllable list per reading of ``name`` (the everyday one first)."""
    base = [s.lower() for s in pinyin.syllables(name)]
    chars = [c for c in name if not c.isspace()]
    if len(chars) != len(base):  # non-Han runs come back as one item; no alternatives then
        return [base]
    options: list[tuple[str, ...]] = []
    for char, syllable in zip(chars, base, strict=True):
        alternatives = _PLACE_NAME_READINGS.get(char, ())
        options.append((syllable, *(a for a in alternatives if a != syllable)))
    return [list(r) for r in itertools.islice(itertools.product(*options), _MAX_READINGS)]


def _spellings(syllables: Sequence[str]) -> list[tuple[str, str]]:
    """(full pinyin, initials) for one reading; ü is typed as v on phones, and also as u."""
    full = "".join(syllables)
    initials = "".join(s[0] for s in syllables if s)
    out = [(full, initials)]
    if "v" in full:
        out.append((full.replace("v", "u"), initials))
    return out


def _tokens(text: str) -> str:
    """Lower-case ASCII letters and digits only, so a key is one searchable word."""
    return "".join(_KEEP.findall(text.lower()))


def core_name(name: str) -> str:
    """The name without its administrative suffix (临平街道 → 临平), kept if too short."""
    name = name.strip()
    for suffix in _ADMIN_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def pinyin_keys(names: str | Iterable[str]) -> list[str]:
    """Search keys for one or more Chinese place names: full pinyin and initials.

    Both the full name and the name without its administrative suffix are spelled, so
    临平街道 gives ``linpingjiedao linping lpjd lp``. Names without Chinese characters give
    nothing (their own text is already searchable).
    """
    if isinstance(names, str):
        names = [names]
    keys: list[str] = []
    for name in names:
        if not name or not _HAN.search(name):
            continue
        forms = [name.strip()]
        core = core_name(name)
        if core != forms[0]:
            forms.append(core)
        for form in forms:
            for reading in _readings(form):
                for full, initials in _spellings(reading):
                    for key in (_tokens(full), _tokens(initials)):
                        if len(key) >= 2 and key not in keys:
                            keys.append(key)
    return keys


def pinyin_text(names: str | Iterable[str]) -> str:
    """``pinyin_keys`` joined by spaces, ready to drop into a template."""
    return " ".join(pinyin_keys(names))


TEMPLATE_FILTERS = {"pinyin_keys": pinyin_keys, "pinyin_text": pinyin_text}
"""Jinja filters for ``site_templates/`` (``_search_meta.md`` uses ``pinyin_text``)."""


# --------------------------------------------------------------------------- CJK spacing

# CJK characters and punctuation (radicals, CJK symbols, kana, bopomofo, ideographs with
# extension A, compatibility ideographs and forms, full-width forms). assets/search.js uses
# the same ranges for the query; keep them in step.
CJK_RANGES = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3190-\u31ef"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
)
_CJK_RUN = re.compile(f"[{CJK_RANGES}]+")
_TEXT_NODE = re.compile(r">([^<]+)<")
_BODY_MARK = "data-pagefind-body"


def _space_run(match: re.Match[str]) -> str:
    return " " + " ".join(match.group(0)) + " "


def spaced_cjk(text: str) -> str:
    """Every CJK character as a word of its own: 专职网格员 → " 专 职 网 格 员 "."""
    return _CJK_RUN.sub(_space_run, text)


# Undoing the spacing in what the index stores for display (titles, headings, metadata, the
# text excerpts are cut from): whitespace next to a CJK character goes, as assets/search.js's
# ``unspaced`` does. Pagefind separates the words of a segmented language's stored text with
# U+200B and cuts excerpts at those marks, so they stay and the word positions still match.
_SPACE_NEXT_TO_CJK = re.compile(f"(?<=[{CJK_RANGES}])\\s+|\\s+(?=\u200b*[{CJK_RANGES}])")
_FRAGMENT_SIGNATURE = b"pagefind_dcd"


def unspaced_cjk(text: str) -> str:
    """The inverse of ``spaced_cjk`` for display: " 专 职 网 格 员 " → "专职网格员"."""
    return _SPACE_NEXT_TO_CJK.sub("", text)


def _plain_fragment(path: Path) -> None:
    """Rewrite one Pagefind fragment so that its stored text reads as normal Chinese."""
    import gzip

    raw = gzip.decompress(path.read_bytes())
    if not raw.startswith(_FRAGMENT_SIGNATURE):
        raise SearchIndexError(f"Pagefind 的索引片段格式不认识：{path.name}（程序需要更新）")
    fragment = json.loads(raw[len(_FRAGMENT_SIGNATURE):])
    fragment["content"] = unspaced_cjk(fragment.get("content", ""))
    fragment["meta"] = {k: unspaced_cjk(v) if k != "pinyin" else v
                        for k, v in fragment.get("meta", {}).items()}
    for anchor in fragment.get("anchors", []):
        if anchor.get("text"):
            anchor["text"] = unspaced_cjk(anchor["text"])
    payload = _FRAGMENT_SIGNATURE + json.dumps(fragment, ensure_ascii=False,
                                               separators=(",", ":")).encode("utf-8")
    path.write_bytes(gzip.compress(payload, mtime=0))


def _plain_fragments(bundle: Path) -> None:
    for path in sorted((bundle / "fragment").glob("*.pf_fragment")):
        _plain_fragment(path)


def _space_text_node(match: re.Match[str]) -> str:
    text = match.group(1)
    if not _CJK_RUN.search(text):
        return match.group(0)
    return ">" + spaced_cjk(text) + "<"


def spaced_html(html: str) -> str:
    """The page as Pagefind should index it: CJK text spaced, tags and attributes untouched.

    Only text from the first ``data-pagefind-body`` on is rewritten (what precedes it is never
    indexed); attribute values (filters, metadata, links) keep their exact text.
    """
    start = html.find(_BODY_MARK)
    if start < 0:
        start = 0
    return html[:start] + _TEXT_NODE.sub(_space_text_node, html[start:])


_FILTER_ATTR = re.compile(r'data-pagefind-filter="([^":]+):([^"]*)"')
_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.S)
_TAG = re.compile(r"<[^>]+>")
_HEADERLINK = re.compile(r'<a[^>]*class="headerlink"[^>]*>.*?</a>', re.S)


def _unescape(value: str) -> str:
    return html_lib.unescape(value).strip()


@dataclass(frozen=True)
class _Page:
    """What the index stage needs to know about one page (collected while it is copied)."""

    relative: str  # path inside the site, "/"-separated
    marked: bool  # carries data-pagefind-body
    filters: tuple[tuple[str, str], ...]
    title: str  # the first heading of the content (place-name finder)

    def value(self, key: str) -> str | None:
        for k, v in self.filters:
            if k == key and v:
                return v
        return None


def page_info(html: str, relative: str) -> _Page:
    """What the index stage needs of one built page: its marker, filters and title."""
    start = html.find(_BODY_MARK)
    marked = start >= 0
    filters: tuple[tuple[str, str], ...] = ()
    title = ""
    if marked:
        body = html[start:]
        filters = tuple(sorted({(k, _unescape(v)) for k, v in _FILTER_ATTR.findall(body)}))
        heading = _H1.search(body)
        if heading:
            title = _unescape(_TAG.sub("", _HEADERLINK.sub("", heading.group(1)))).strip("¶ \n")
    return _Page(relative, marked, filters, title)


@dataclass(frozen=True)
class _Known:
    """A page of the site as the index stage knows it: what it read, the digest of its bytes,
    and the file's stamp (device, inode, size, modification time), which says without
    reading it that a later build's file is this one (a page MkDocs took from the last site
    is a hard link to it: the same inode)."""

    page: _Page
    digest: str
    stamp: str


def _stamp(st: os.stat_result) -> str:
    """A page file's identity for the page cache: device, inode, size and modification time."""
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def _read_page(job: tuple[str, str, str]) -> _Known:
    source, relative, stamp = job
    data = Path(source).read_bytes()
    return _Known(page_info(data.decode("utf-8", errors="replace"), relative),
                  hashlib.sha256(data).hexdigest()[:32], stamp)


def _write_copy(job: tuple[str, str]) -> None:
    """One page's spaced copy (``spaced_html``), the file Pagefind indexes."""
    source, target = job
    html = Path(source).read_text(encoding="utf-8", errors="replace")
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text(spaced_html(html), encoding="utf-8")


class _Workers:
    """A process pool for the page work of a large site, started on first use."""

    def __init__(self) -> None:
        self._pool = None
        self.count = min(os.cpu_count() or 1, 8)

    def map(self, work, jobs: list, minimum: int = 2000) -> list:
        if len(jobs) < minimum or self.count < 2:
            return [work(job) for job in jobs]
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=self.count)
        return list(self._pool.map(work, jobs, chunksize=max(16, min(256, len(jobs) // (4 * self.count)))))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


def _scan_site(site: Path, output_subdir: str, cache: _PageCache, workers: _Workers) -> list[_Known]:
    """Every HTML page of ``site`` (but the bundle), sorted by path: those whose stamp the
    cache knows without reading them, the others read (in ``workers``)."""
    known: list[_Known] = []
    jobs: list[tuple[str, str, str]] = []
    for path, stamp in _html_files(site, output_subdir):
        earlier = cache.get(path, stamp)
        if earlier is not None:
            known.append(earlier)
        else:
            jobs.append((os.path.join(site, path), path, stamp))
    known += workers.map(_read_page, jobs)
    known.sort(key=lambda k: k.page.relative)
    return known


def _html_files(site: Path, output_subdir: str) -> list[tuple[str, str]]:
    """(path in the site, stamp) of every HTML file of ``site`` outside the bundle.

    (GNU find, one or several at once, was measured slower at the province tier: 6.7-8.1 s
    against this walk's 5.4 s; the kernel's work on 330,000 folders is the cost.)"""
    out: list[tuple[str, str]] = []
    # os.scandir, not Path.rglob: the search bundle is as many files again, which the walk skips
    folders = [("", str(site))]
    while folders:
        prefix, folder = folders.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir():
                    if prefix or entry.name != output_subdir:
                        folders.append((f"{prefix}{entry.name}/", entry.path))
                elif entry.name.endswith(".html"):
                    out.append((prefix + entry.name, _stamp(entry.stat())))
    return out


class _PageCache:
    """What the index stage read of each page, by its stamp, kept between builds (a pickle
    in the build's cache folder): after an edit only the pages MkDocs wrote anew are read.
    (As JSON, reading and writing it took 5 s of a province rebuild's index stage.)"""

    FORMAT = 2

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.pages: dict[str, tuple] = {}
        self.places: dict[str, list[str]] = {}  # the place-name finder's files (``_write_places``)
        if path is None:
            return
        try:
            with open(path, "rb") as handle:
                data = pickle.load(handle)
            if data.get("format") == self.FORMAT and data.get("code") == _code_digest():
                self.pages, self.places = data["pages"], data.get("places") or {}
        except Exception:  # noqa: BLE001 - a missing or damaged cache: the pages are read
            self.pages, self.places = {}, {}

    def get(self, relative: str, stamp: str) -> _Known | None:
        row = self.pages.get(relative)
        if not row or row[1] != stamp:
            return None
        digest, _stamp, marked, filters, title = row
        return _Known(_Page(relative, bool(marked), filters, title), digest, stamp)

    def save(self, known: Sequence[_Known]) -> None:
        if self.path is None:
            return
        pages = {k.page.relative: (k.digest, k.stamp, k.page.marked, k.page.filters, k.page.title)
                 for k in known}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}")
            with open(temporary, "wb") as handle:
                pickle.dump({"format": self.FORMAT, "code": _code_digest(), "pages": pages, "places": self.places},
                            handle,
                            protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, self.path)
        except OSError:
            pass  # a cache: the next build reads the pages instead


_CODE_DIGEST: list[str] = []


def _code_digest() -> str:
    """The code that decides what a page gives the index: how it is read (``page_info``),
    spaced, indexed and its fragments rewritten. Other changes to this module keep the
    last site's bundles and the page cache."""
    if not _CODE_DIGEST:
        import inspect

        parts = [inspect.getsource(part) for part in (
            page_info, _space_run, spaced_cjk, unspaced_cjk, _plain_fragment, _plain_fragments,
            _space_text_node, spaced_html, _run_pagefind, _unescape)]
        parts += [CJK_RANGES, _BODY_MARK, _TEXT_NODE.pattern, _SPACE_NEXT_TO_CJK.pattern, _FILTER_ATTR.pattern,
                  _H1.pattern, _TAG.pattern, _HEADERLINK.pattern]
        _CODE_DIGEST.append(hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32])
    return _CODE_DIGEST[0]


def _filter_counts(pages: Iterable[_Page]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for page in pages:
        for key, value in page.filters:
            if value:
                counts.setdefault(key, {})
                counts[key][value] = counts[key].get(value, 0) + 1
    return counts


# --------------------------------------------------------------------------- shards


@dataclass(frozen=True)
class Shard:
    """One Pagefind bundle: the site-wide pages ("common") or the pages of some streets."""

    id: str  # folder under pagefind/ ("" for the bundle at pagefind/ itself)
    name: str  # Chinese, shown in the scope selector
    streets: tuple[str, ...]  # street names whose pages it holds (none for common)
    pages: int


_NATURAL = re.compile(r"(\d+)")
_SAFE_ID = re.compile(r"[^a-z0-9-]+")


def _natural(text: str) -> list[object]:
    return [int(part) if part.isdigit() else part for part in _NATURAL.split(text)]


def _street_slugs(pages: Sequence[_Page]) -> dict[str, str]:
    """Street name → the folder name of its own page (streets/s001/index.html → s001)."""
    slugs: dict[str, str] = {}
    for page in pages:
        if page.value(FILTER_TYPE) != "街道":
            continue
        street = page.value(FILTER_STREET)
        parts = page.relative.split("/")
        if street and len(parts) >= 2 and street not in slugs:
            slugs[street] = parts[-2]
    return slugs


def plan_shards(
    pages: Sequence[_Page], shard_pages: int, single_index_pages: int | None = None
) -> tuple[Shard, list[Shard]]:
    """Group pages into the common shard and area shards of at most ``shard_pages`` pages.

    Whole streets only (a street is never split, so a street larger than the budget is a
    shard of its own), packed in the order of their page folders (the editors' ids follow
    the administrative codes, so neighbouring streets share a shard). A site of at most
    ``single_index_pages`` indexed pages (default: ``shard_pages``) is one shard: the common one.
    """
    marked = [p for p in pages if p.marked]
    if not marked:  # nothing marks its content: Pagefind indexes whole pages, all in one
        return Shard("", "全站", (), len(pages)), []
    per_street: dict[str, int] = {}
    for page in marked:
        street = page.value(FILTER_STREET) or ""
        per_street[street] = per_street.get(street, 0) + 1
    common = per_street.pop("", 0)
    if len(marked) <= max(shard_pages, single_index_pages or 0) or not per_street:
        return Shard("", "全站", (), len(marked)), []
    slugs = _street_slugs(marked)
    order = sorted(per_street, key=lambda s: (_natural(slugs.get(s, "~")), s))
    groups: list[list[str]] = []
    size = 0
    for street in order:
        if groups and size + per_street[street] <= shard_pages:
            groups[-1].append(street)
            size += per_street[street]
        else:
            groups.append([street])
            size = per_street[street]
    shards: list[Shard] = []
    used: set[str] = set()
    for group in groups:
        base = _SAFE_ID.sub("-", slugs.get(group[0], "").lower()).strip("-")
        base = f"area-{base}" if base else f"area-{len(shards) + 1}"
        shard_id, n = base, 2
        while shard_id in used:
            shard_id, n = f"{base}-{n}", n + 1
        used.add(shard_id)
        name = group[0] if len(group) == 1 else f"{group[0]}等 {len(group)} 个街道"
        shards.append(Shard(shard_id, name, tuple(group), sum(per_street[s] for s in group)))
    return Shard("", "全区", (), common), shards


# --------------------------------------------------------------------------- place names


# Characters of administrative suffixes that never begin a place name: a bigram with one of
# them is no key (so 社区 alone lists nothing). 新 and 小 (新村, 小区) often begin names and
# stay keys. assets/search.js holds the same list.
PLACE_GENERIC = "".join(sorted(set("".join(_ADMIN_SUFFIXES)) - set("新小")))
PLACE_ENTRIES_PER_BUCKET = 24  # the bucket count is chosen for about this many entries each
PLACE_KEY_MAX = 24  # entries kept per lookup key, best first (the search box shows six)


def place_hash(key: str) -> int:
    """FNV-1a (32 bit) over the UTF-16 code units of ``key``; search.js computes the same."""
    value = 0x811C9DC5
    data = key.encode("utf-16-le")
    for i in range(0, len(data), 2):
        value ^= data[i] | (data[i + 1] << 8)
        value = (value * 0x01000193) & 0xFFFFFFFF
    return value


def place_keys(name: str) -> set[str]:
    """Lookup keys of one place name.

    - ``h`` + every two and every three consecutive Han characters of the name that are not
      suffix characters: a Chinese query looks up its first such triple, else its first pair
      (every name containing the query contains it);
    - ``i`` + the first two and the first three letters of each initials key (临平街道 → lpjd,
      lp → ``ilp``, ``ilpj``): a query of two or three letters, and of more (its first three);
    - ``f`` + the first 4, 6 and 8 letters of each full pinyin key (linpingjiedao, linping →
      ``flinp``, ``flinpin``, ``flinpingj``): a query of four letters or more looks up the
      longest of these it covers.
    """
    keys: set[str] = set()
    chars = [c for c in name if _HAN.match(c)]
    for size in (2, 3):
        for start in range(len(chars) - size + 1):
            run = chars[start : start + size]
            if not any(c in PLACE_GENERIC for c in run):
                keys.add("h" + "".join(run))
    for full, initials in _place_spellings(name):
        for size in (2, 3):
            if len(initials) >= size:
                keys.add("i" + initials[:size])
        for size in PLACE_FULL_PREFIXES:
            if len(full) >= size:
                keys.add("f" + full[:size])
    return keys


PLACE_FULL_PREFIXES = (4, 6, 8)


def _place_spellings(name: str) -> set[tuple[str, str]]:
    spellings = set()
    for form in {name.strip(), core_name(name)}:
        for reading in _readings(form):
            for full, initials in _spellings(reading):
                spellings.add((_tokens(full), _tokens(initials)))
    return spellings


def _place_rank(entry: list[object], key: str) -> tuple[int, int, int, str]:
    """Order of the entries under one key, as the browser ranks them: an exact match first
    (the name, or one of its pinyin keys, is the key itself), streets before 村社, short
    names first."""
    name = str(entry[0])
    text = key[1:]
    if key[0] == "h":
        exact = 0 if text in (name, core_name(name)) else 1 if name.startswith(text) else 2
    else:
        exact = 0 if text in str(entry[4]).split() else 1
    return (exact, 0 if entry[2] == "街道" else 1, len(name), name)


def _write_places(
    pages: Sequence[_Page], streets: list[str], bundle: Path, kept: _PageCache | None = None
) -> tuple[int, int, int]:
    """The place-name finder: every community and street by Chinese name, pinyin and
    initials, in small JSON files ``gongzhi-places/<n>.json``.

    Each lookup key (``place_keys``) keeps its best ``PLACE_KEY_MAX`` entries (the search box
    shows six): a short key such as the initials ``xx`` can stand for hundreds of the
    province's 村社, and longer queries look up longer keys, whose lists are short. Keys go
    to bucket ``place_hash(key) % buckets``; the bucket count (a power of two, in the
    manifest) keeps buckets at a few dozen entries, so a query fetches one or two files of a
    few KB whatever the size of the site, and every bucket exists (no listing of keys in the
    manifest, no request that ends in "not found"). The browser checks each entry of a bucket
    against the query itself. Entry: [name, path, type, street index (into the manifest's
    streets), pinyin keys].

    Returns (places, buckets, largest bucket in bytes).
    """
    chosen = _places_of(pages, streets)
    # the bucket files are a function of the chosen pages and of the code that spells and
    # ranks their names: kept with the page cache, they are not made again while both stay
    # (spelling 25,000 names took 2-3 s of a province rebuild)
    digest = hashlib.sha256(pickle.dumps(
        (source_digest(sys.modules[__name__], pinyin), pinyin.pypinyin_version(), PLACE_ENTRIES_PER_BUCKET,
         PLACE_KEY_MAX, chosen),
        protocol=5)).hexdigest()
    texts = kept.places.get(digest) if kept is not None else None
    if not isinstance(texts, list):
        texts = _bucket_texts(_ranked(chosen))
        if kept is not None:
            kept.places = {digest: texts}
    folder = bundle / PLACES_SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    largest = 0
    for number, text in enumerate(texts):
        (folder / f"{number}.json").write_text(text, encoding="utf-8")
        largest = max(largest, len(text.encode("utf-8")))
    return len(chosen), len(texts), largest


def _bucket_texts(kept: dict[str, list[list[object]]]) -> list[str]:
    """The JSON of each bucket of the place-name finder (``_write_places``)."""
    total = sum(len(entries) for entries in kept.values())
    count = 1
    while count * PLACE_ENTRIES_PER_BUCKET < total:
        count *= 2
    buckets: list[dict[str, list[object]]] = [{} for _ in range(count)]
    for key, entries in kept.items():
        bucket = buckets[place_hash(key) % count]
        for entry in entries:
            bucket[str(entry[1])] = entry
    return [json.dumps(list(bucket.values()), ensure_ascii=False, separators=(",", ":")) for bucket in buckets]


def place_lists(
    pages: Sequence[_Page], streets: list[str]
) -> tuple[int, dict[str, list[list[object]]]]:
    """Every lookup key with its best ``PLACE_KEY_MAX`` entries; and the number of places."""
    chosen = _places_of(pages, streets)
    return len(chosen), _ranked(chosen)


def _places_of(pages: Sequence[_Page], streets: list[str]) -> list[tuple[str, str, str, int]]:
    """(name, path, type, street index) of each community's and street's own page."""
    index = {name: i for i, name in enumerate(streets)}
    chosen: list[tuple[str, str, str, int]] = []
    seen: set[str] = set()
    for page in pages:
        kind = page.value(FILTER_TYPE)
        street = page.value(FILTER_STREET)
        # a community's or street's own page carries its street (index pages such as
        # communities/ are typed 社区 too, but belong to no street)
        if not page.marked or kind not in ("社区", "街道") or not page.title or not street:
            continue
        path = page.relative
        if path.endswith("index.html"):
            path = path[: -len("index.html")]
        if path in seen:
            continue
        seen.add(path)
        chosen.append((page.title, path, kind, index.get(street, -1)))
    return chosen


def _ranked(chosen: list[tuple[str, str, str, int]]) -> dict[str, list[list[object]]]:
    by_key: dict[str, list[list[object]]] = {}
    for title, path, kind, street in chosen:
        entry: list[object] = [title, path, kind, street, " ".join(pinyin_keys(title))]
        for key in place_keys(title):
            by_key.setdefault(key, []).append(entry)
    return {
        key: sorted(entries, key=lambda e, k=key: _place_rank(e, k))[:PLACE_KEY_MAX]
        for key, entries in by_key.items()
    }


def _area_name(site: Path) -> str:
    """The district's name from the site's open data (data/districts.json), if there is one."""
    try:
        districts = json.loads((site / "data" / "districts.json").read_text("utf-8"))
        names = [d.get("name") for d in districts if isinstance(d, dict) and d.get("name")]
    except (OSError, ValueError, AttributeError, TypeError):
        return ""
    return str(names[0]) if len(names) == 1 else ""


# --------------------------------------------------------------------------- indexing


def pagefind_executable() -> Path:
    """The Pagefind binary shipped by ``pagefind[extended]`` (the extended build segments Chinese)."""
    try:
        from pagefind_bin_extended import get_executable
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SearchIndexError(
            "未安装 Pagefind 扩展版（提示：运行 pip install \"pagefind[extended]\"，"
            "扩展版才支持中文分词）"
        ) from exc
    try:
        return Path(get_executable())
    except FileNotFoundError as exc:  # pragma: no cover - a broken install
        raise SearchIndexError(f"找不到 Pagefind 程序：{exc}") from exc


def dir_size(path: Path) -> tuple[int, int]:
    """(bytes, files) of every file below ``path`` (a bundle: tens of thousands of files)."""
    total = files = 0
    folders = [str(path)]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                elif entry.is_file():
                    total += entry.stat().st_size
                    files += 1
    return total, files


def _peak_child_rss_mb() -> float:
    """Peak resident memory of the largest child process so far (the Pagefind runs), in MB."""
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    except (ImportError, OSError):  # pragma: no cover - not on Linux
        return 0.0


def _run_pagefind(
    pages_dir: Path,
    output: Path,
    exclude_selectors: Sequence[str],
    force_language: str | None,
    timeout: float | None,
    label: str,
) -> str:
    """One Pagefind run over one shard's pages; returns its log, raises on failure."""
    command = [str(pagefind_executable()), "--site", str(pages_dir), "--output-path", str(output)]
    for selector in exclude_selectors:
        command += ["--exclude-selectors", selector]
    if force_language:
        command += ["--force-language", force_language]
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SearchIndexError(f"建立搜索索引超时（{label}，超过 {timeout:.0f} 秒）") from exc
    except OSError as exc:
        raise SearchIndexError(f"无法运行 Pagefind：{exc}") from exc
    log = f"{proc.stdout}\n{proc.stderr}"
    if proc.returncode != 0 or not (output / "pagefind-entry.json").is_file():
        detail = _last_lines(log)
        if proc.returncode < 0:  # killed by a signal: on Linux, SIGKILL is the OOM killer
            raise SearchIndexError(
                f"Pagefind 被系统终止（{label}，信号 {-proc.returncode}），多半是内存不足"
                "（实测：一个索引约每万页 0.6 GB 内存；提示：用 --shard-pages 调小每个分区的页数，"
                f"或换内存更大的机器）。最后的输出：\n{detail}"
            )
        raise SearchIndexError(
            f"Pagefind 建立搜索索引失败（{label}，退出码 {proc.returncode}）：{detail}"
        )
    _plain_fragments(output)
    return log


# The browser loads Pagefind's runtime (pagefind.js, the WebAssembly) from the common bundle
# only; a merged area bundle needs just its entry file, metadata, index, fragments and filters.
_RUNTIME_FILES = re.compile(r"^(pagefind[-\w]*\.(js|css)|wasm\..*\.pagefind)$")


def _strip_runtime(bundle: Path) -> None:
    for entry in bundle.iterdir():
        if entry.is_file() and _RUNTIME_FILES.match(entry.name):
            entry.unlink()


def index_site(
    site_dir: Path | str,
    *,
    output_subdir: str = OUTPUT_SUBDIR,
    force_language: str | None = None,
    exclude_selectors: Sequence[str] = EXCLUDE_SELECTORS,
    timeout: float | None = 1800,
    shard_pages: int | None = None,
    previous_site: Path | None = None,
    page_cache: Path | None = None,
) -> SearchIndexReport:
    """Index every HTML page of a built site into ``site_dir/<output_subdir>``.

    With ``previous_site`` (the site this one replaces), a shard whose pages are byte for byte
    those it indexed last time is not indexed again: its bundle is linked from there
    (``SOURCES_FILE`` records a digest of each shard's pages), so after an edit only the
    shards holding changed pages run Pagefind, over spaced copies of just their pages. With
    ``page_cache`` (a file the stage keeps between builds, ``_PageCache``) the pages whose
    file is the one it read last time (a page MkDocs took from the last site) are not even
    read: a rebuild's work follows the size of the change, not of the site.

    Only elements inside ``data-pagefind-body`` are indexed (the theme marks the article
    content), minus ``exclude_selectors`` and anything under ``data-pagefind-ignore``. Pages
    are split into shards (``plan_shards``; ``shard_pages`` pages at most, default
    ``SHARD_PAGES`` or the environment's ``GONGZHI_SEARCH_SHARD_PAGES``), each indexed by
    its own Pagefind run, one after another so memory stays bounded by the largest shard. A
    site of at most ``SINGLE_INDEX_PAGES`` pages (or of ``shard_pages`` when given) keeps
    one index.
    The new bundle is written beside the site and swapped in, so a failed run leaves the old one.
    """
    site = Path(site_dir).resolve()
    if not site.is_dir():
        raise SearchIndexError(f"网站目录不存在：{site}（提示：先运行 gongzhi build 生成网站）")
    if not any(site.glob("**/*.html")):
        raise SearchIndexError(f"网站目录中没有 HTML 页面：{site}（提示：先运行 gongzhi build）")
    budget = shard_pages if shard_pages is not None else _default_shard_pages()
    if budget < 1:
        raise SearchIndexError(f"每个分区的页数上限必须是正整数，现在是 {budget}")
    # A budget given by the caller or the environment also sets the size of a one-index site.
    explicit = shard_pages is not None or bool(os.environ.get("GONGZHI_SEARCH_SHARD_PAGES", "").strip())
    single = budget if explicit else SINGLE_INDEX_PAGES

    staging = Path(tempfile.mkdtemp(prefix=".pagefind-", dir=site.parent))
    bundle_new = staging / output_subdir
    started = time.perf_counter()
    workers = _Workers()
    try:
        cache = _PageCache(page_cache)
        try:
            known = _scan_site(site, output_subdir, cache, workers)
        except OSError as exc:
            raise SearchIndexError(f"无法读取网站的页面：{exc}") from exc
        pages = [k.page for k in known]
        common, areas = plan_shards(pages, budget, single)
        marked_any = any(p.marked for p in pages)
        in_areas = {street for shard in areas for street in shard.streets}
        all_streets = sorted({p.value(FILTER_STREET) or "" for p in pages if p.marked} - {""})

        by_street: dict[str, list[_Known]] = {}  # marked pages by street ("": none), in path order
        for k in known:
            if k.page.marked:
                by_street.setdefault(k.page.value(FILTER_STREET) or "", []).append(k)

        def members(streets: Iterable[str] | None) -> list[_Known]:
            """The pages a shard indexes: those of ``streets``; None: the common shard's."""
            if not marked_any:  # nothing marks its content: every page, whole, in one index
                return known
            if streets is None:
                streets = [street for street in by_street if street not in in_areas]
            chosen = [k for street in streets for k in by_street.get(street, ())]
            return sorted(chosen, key=lambda k: k.page.relative) if len(streets) > 1 else chosen

        def indexed(shard_id: str, label: str, chosen: list[_Known], output: Path) -> None:
            """The shard's bundle made by Pagefind, over the spaced copies of just its pages."""
            folder = staging / f"pages-{shard_id or 'common'}"
            try:
                workers.map(_write_copy, [(str(site / k.page.relative), str(folder / k.page.relative))
                                          for k in chosen], minimum=200)
            except OSError as exc:
                raise SearchIndexError(f"无法准备待索引的页面副本：{exc}") from exc
            logs.append(_run_pagefind(folder, output, exclude_selectors, force_language, timeout, label))
            shutil.rmtree(folder, ignore_errors=True)

        # The common bundle (with the runtime) at pagefind/, then one bundle per area shard. A
        # shard whose pages are those the last site indexed is lent by it (``_Earlier``):
        # linking its files is work for the kernel, done on threads while Pagefind indexes
        # the changed shards (at the province tier, 160 shards of 340,000 files).
        logs: list[str] = []
        earlier = _Earlier(previous_site, output_subdir, exclude_selectors, force_language)
        common_pages = members(None)
        chosen = {shard.id: members(shard.streets) for shard in areas}
        sources: dict[str, str] = {"": earlier.digest(common_pages)}
        sources.update((shard.id, earlier.digest(chosen[shard.id])) for shard in areas)
        outputs = {"": bundle_new, **{shard.id: staging / f"bundle-{shard.id}" for shard in areas}}
        labels = {"": "全区公共页面" if areas else "全站", **{shard.id: shard.name for shard in areas}}
        members_of = {"": common_pages, **chosen}
        with ThreadPoolExecutor(max_workers=LEND_THREADS, thread_name_prefix="gongzhi-lend") as pool:
            lent = {shard_id: pool.submit(earlier.lend, shard_id, digest, outputs[shard_id])
                    for shard_id, digest in sources.items() if earlier.can_lend(shard_id, digest)}
            for shard_id in sources:
                if shard_id not in lent:
                    indexed(shard_id, labels[shard_id], members_of[shard_id], outputs[shard_id])
            for shard_id, done in lent.items():
                if not done.result():
                    indexed(shard_id, labels[shard_id], members_of[shard_id], outputs[shard_id])
        languages = _languages(bundle_new / "pagefind-entry.json")
        _write_filters(bundle_new, [k.page for k in common_pages])
        shard_rows: list[dict[str, object]] = []
        for shard in areas:
            output = outputs[shard.id]
            for lang, count in _languages(output / "pagefind-entry.json").items():
                languages[lang] = languages.get(lang, 0) + count
            _write_filters(output, [k.page for k in chosen[shard.id]])
            _strip_runtime(output)
            os.replace(output, bundle_new / shard.id)

        slugs = _street_slugs(pages)
        street_names = sorted(all_streets, key=lambda s: (_natural(slugs.get(s, "~")), s))
        position = {street: i for i, street in enumerate(street_names)}
        area_name = _area_name(site)
        for shard in areas:
            first = position[shard.streets[0]]
            if [position[s] for s in shard.streets] != list(range(first, first + len(shard.streets))):
                raise SearchIndexError(f"分区“{shard.name}”的街道不连续（程序错误）")
            shard_rows.append(
                {"id": shard.id, "path": f"{shard.id}/", "name": shard.name,
                 "parent": area_name, "pages": shard.pages,
                 "streets": [first, len(shard.streets)]}
            )
        manifest = {
            "version": 1,
            "pages": sum(languages.values()),
            "area": area_name,
            "shard_pages": budget,
            "common": {"id": "", "path": "", "name": common.name, "pages": common.pages},
            "shards": shard_rows,
            "streets": street_names,
        }
        places, buckets, largest = _write_places(pages, street_names, bundle_new, cache)
        manifest["places"] = {"count": places, "buckets": buckets}
        (bundle_new / SHARDS_FILE).write_text(
            json.dumps(manifest, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
        )
        (bundle_new / SOURCES_FILE).write_text(json.dumps(sources, sort_keys=True), encoding="utf-8")
        seconds = time.perf_counter() - started
        warnings = _warnings("\n".join(logs), languages)
        _swap_in(bundle_new, site / output_subdir)
        cache.save(known)
    finally:
        workers.close()
        shutil.rmtree(staging, ignore_errors=True)

    return SearchIndexReport(
        pages=sum(languages.values()),
        languages=languages,
        seconds=seconds,
        bundle_dir=site / output_subdir,
        warnings=warnings,
        shards=[common, *areas],
        places=places,
        place_buckets=buckets,
        place_bucket_max_bytes=largest,
        peak_memory_mb=_peak_child_rss_mb(),
    )


SOURCES_FILE = "gongzhi-sources.json"  # shard id ("" for the common bundle) → digest of its input


class _Earlier:
    """The previous site's search bundle, lending the shards whose input has not changed."""

    def __init__(self, previous_site: Path | None, output_subdir: str, exclude_selectors: Sequence[str],
                 force_language: str | None) -> None:
        self.bundle = Path(previous_site) / output_subdir if previous_site else None
        self.sources: dict[str, str] = {}
        self.shard_ids: set[str] = set()
        if self.bundle is not None:
            try:
                self.sources = json.loads((self.bundle / SOURCES_FILE).read_text(encoding="utf-8"))
                shards = json.loads((self.bundle / SHARDS_FILE).read_text(encoding="utf-8"))["shards"]
                self.shard_ids = {str(row["id"]) for row in shards}
            except (OSError, ValueError, KeyError, TypeError):
                self.sources, self.bundle = {}, None
        try:
            from importlib.metadata import version

            engine = version("pagefind_bin_extended")
        except Exception:  # noqa: BLE001 - an unknown version only means: never reuse
            engine = str(time.time())
        self.settings = json.dumps([engine, list(exclude_selectors), force_language, _FRAGMENT_SIGNATURE.decode(),
                                    _code_digest()])

    def digest(self, pages: Sequence[_Known]) -> str:
        """What Pagefind would index for these pages: their paths and bytes (as digests),
        with the settings and this module's code, which make the copies it indexes."""
        hasher = hashlib.sha256(self.settings.encode("utf-8"))
        for known in sorted(pages, key=lambda k: k.page.relative):
            hasher.update(f"{known.page.relative}\0{known.digest}\n".encode())
        return hasher.hexdigest()

    def can_lend(self, shard_id: str, digest: str) -> bool:
        """Whether the previous site indexed the shard from the same input."""
        return self.bundle is not None and self.sources.get(shard_id) == digest

    def lend(self, shard_id: str, digest: str, output: Path) -> bool:
        """Link the previous bundle of the shard into ``output`` when its input was the same.
        The files this stage writes anew (filters, manifests, place names) are left out, so
        no write can reach the previous site through a link."""
        if not self.can_lend(shard_id, digest):
            return False
        assert self.bundle is not None
        source = self.bundle / shard_id if shard_id else self.bundle
        if not source.is_dir():
            return False
        skip = {FILTERS_FILE} | (set() if shard_id else {*self.shard_ids, SOURCES_FILE, SHARDS_FILE, PLACES_SUBDIR})
        shutil.copytree(source, output, dirs_exist_ok=True, copy_function=_link_or_copy,
                        ignore=lambda folder, names: [n for n in names if Path(folder) == source and n in skip])
        return True


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _default_shard_pages() -> int:
    raw = os.environ.get("GONGZHI_SEARCH_SHARD_PAGES", "").strip()
    if not raw:
        return SHARD_PAGES
    try:
        return int(raw)
    except ValueError as exc:
        raise SearchIndexError(
            f"环境变量 GONGZHI_SEARCH_SHARD_PAGES 应为正整数，现在是“{raw}”"
        ) from exc


def _write_filters(bundle: Path, pages: Sequence[_Page]) -> None:
    (bundle / FILTERS_FILE).write_text(
        json.dumps({"pages": len(pages), "filters": _filter_counts(pages)}, ensure_ascii=False),
        encoding="utf-8",
    )


def _last_lines(log: str, count: int = 8) -> str:
    lines = [line for line in log.splitlines() if line.strip()]
    return "\n".join(lines[-count:]) or "（无输出）"


def _languages(entry_file: Path) -> dict[str, int]:
    try:
        entry = json.loads(entry_file.read_text(encoding="utf-8"))
        return {lang: int(info.get("page_count", 0)) for lang, info in entry["languages"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SearchIndexError(f"Pagefind 输出的索引清单无法读取：{entry_file}（{exc}）") from exc


def _warnings(log: str, languages: dict[str, int]) -> list[str]:
    warnings: list[str] = []
    if "Did not find a data-pagefind-body" in log:
        warnings.append(
            "没有页面带 data-pagefind-body 标记，整页（含导航和页脚）都被索引了"
            "（提示：主题的 partials/content.html 应把正文包在 data-pagefind-body 中）"
        )
    if sum(languages.values()) == 0:
        warnings.append("搜索索引中没有任何页面（提示：检查页面是否带 data-pagefind-body 标记）")
    others = {lang: n for lang, n in languages.items() if not lang.startswith("zh")}
    if others:
        listed = "、".join(f"{lang}（{n} 页）" for lang, n in sorted(others.items()))
        warnings.append(
            f"部分页面未按中文分词：{listed}"
            "（提示：检查 mkdocs.yml 的 theme.language 是否为 zh，页面 <html lang> 应为 zh）"
        )
    for line in log.splitlines():
        if "WARN" in line.upper() and line.strip() not in warnings:
            warnings.append(line.strip())
    return warnings


def _swap_in(new: Path, target: Path) -> None:
    """Replace ``target`` by ``new`` with renames, so readers never see half a bundle."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    try:
        shutil.move(str(new), str(target))  # a rename when on the same file system
    except OSError:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
