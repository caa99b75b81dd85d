"""The render stage: Jinja2 templates from ``site_templates/`` into a generated docs folder.

Templates write Markdown (with a little HTML) for MkDocs. Every value printed with ``{{ }}``
passes through :func:`md_escape`, which turns HTML *and* Markdown syntax into character
references, so a data value is always literal text — in a paragraph, a table cell or an HTML
block alike. Helpers that build markup on purpose (links, tables) return ``Markup``.

The stage collects pages from every provider, then writes them one by one in an order MkDocs
can follow while they are written (``render``): a file is rewritten only when its bytes
changed, stale generated files are removed, and ``content/`` is copied beside the generated
pages.
"""

from __future__ import annotations

import datetime as dt
import filecmp
import importlib
import json
import os
import posixpath
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
from markupsafe import Markup

from generator import depends, memory, pinyin
from generator.pages import Asset, Deferred, Page, RenderContext, resolved

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "site_templates"
# Compiled templates are cached here between builds (git ignores .gongzhi/).
BYTECODE_CACHE_DIR = Path(__file__).resolve().parent.parent / ".gongzhi" / "cache" / "jinja"
MANIFEST = ".gongzhi-generated"  # lists the files the render stage wrote, to delete stale ones

# Feature modules whose ``pages(ctx)`` providers are collected, in this order.
PROVIDER_MODULES: tuple[str, ...] = (
    "generator.portal",
    "generator.opendata",
    "generator.stats",
    "generator.reports",
    "generator.forms.site",
)


# Feature modules may contribute Jinja filters for their partials as ``TEMPLATE_FILTERS``
# (a dict name → function); a module not in this checkout is skipped.
FILTER_MODULES: tuple[str, ...] = ("generator.search", "generator.stats", "generator.forms.site", "generator.reports")


class RenderError(Exception):
    """A template could not be rendered; the message says which page and template."""


# --- escaping --------------------------------------------------------------------------------

# Characters that mean something to HTML or to Python-Markdown and its extensions
# (emphasis, links, tables, headings, lists, attr_list, footnotes, abbreviations, admonitions,
# emoji shortcodes, setext underlines). Replaced by numeric character references, which
# Markdown passes through untouched and browsers show as the character itself.
_SPECIAL = "&<>\"'\\`*_{}[]()#+-.!|~=:^$%@"
_TABLE = {ord(ch): f"&#{ord(ch)};" for ch in _SPECIAL}
_WHITESPACE = re.compile(r"\s+")


def md_escape(value: Any) -> str:
    """Literal text for Markdown and HTML: markup in the value is shown, never interpreted.

    Line breaks and runs of spaces collapse to one space, so a value cannot start a new
    Markdown block (a heading, a list, a table row, an indented code block).
    """
    if value is None:
        return ""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    text = _WHITESPACE.sub(" ", str(value)).strip()
    return text.translate(_TABLE)


def _finalize(value: Any) -> Any:
    # Jinja2 calls this on every {{ expression }}; Markup (from our helpers) passes through.
    if hasattr(value, "__html__"):
        return Markup(value.__html__())
    return Markup(md_escape(value))


def or_dash(value: Any) -> Any:
    """An em dash for a missing value (0 stays 0)."""
    return "—" if value is None or value == "" else value


def yaml_title(value: Any) -> Markup:
    """A page title for the front matter: a quoted YAML string that is also safe in HTML.

    MkDocs themes print titles without escaping (and ``striptags`` unescapes), so angle
    brackets and ampersands become their full-width forms in titles; the page body keeps
    the exact text.
    """
    text = _WHITESPACE.sub(" ", str(value or "")).strip()
    text = text.replace("&", "＆").replace("<", "＜").replace(">", "＞")
    return Markup(json.dumps(text, ensure_ascii=False))


def anchor(value: Any) -> Markup:
    """An HTML id from a record id (ids are lowercase letters, digits and hyphens)."""
    return Markup(re.sub(r"[^a-z0-9-]", "-", str(value).lower()))


def paragraphs(value: Any) -> Markup:
    """Multi-line text as Markdown paragraphs, each escaped (blank lines separate them)."""
    if value is None:
        return Markup("")
    parts = [p for p in re.split(r"\n\s*\n", str(value)) if p.strip()]
    return Markup("\n\n".join(md_escape(p) for p in parts))


# --- Chinese formatting ------------------------------------------------------------------------


def zh_date(value: dt.date | dt.datetime | None) -> str:
    """2026年11月28日."""
    if value is None:
        return "—"
    return f"{value.year}年{value.month}月{value.day}日"


def zh_month(value: dt.date | None) -> str:
    if value is None:
        return "—"
    return f"{value.year}年{value.month}月"


def _round(value: float, digits: int) -> Decimal:
    quant = Decimal(1).scaleb(-digits) if digits else Decimal(1)
    return Decimal(str(value)).quantize(quant, rounding=ROUND_HALF_UP)


def number(value: float | int | None, digits: int = 0) -> str:
    """12,345 — thousands separated, rounded half up."""
    if value is None:
        return "—"
    return f"{_round(value, digits):,.{digits}f}"


def money(value: float | int | None) -> str:
    """Amounts in yuan: below 10,000 as 元, from 10,000 as 万元 with up to two decimals."""
    if value is None:
        return "—"
    if abs(value) >= 10000:
        wan = _round(value / 10000, 2)
        text = f"{wan:,.2f}".rstrip("0").rstrip(".")
        return f"{text} 万元"
    text = f"{_round(value, 2):,.2f}"
    if text.endswith(".00"):
        text = text[:-3]
    return f"{text} 元"


def percent(value: float | None, digits: int = 1, ratio: bool = True) -> str:
    """A ratio (0.915) or, with ratio=False, a percentage (91.5) as 91.5%."""
    if value is None:
        return "—"
    pct = value * 100 if ratio else value
    return f"{_round(pct, digits):.{digits}f}%"


# --- links -------------------------------------------------------------------------------------


def relative_link(from_page: str, target: str) -> str:
    """The relative path from one docs-folder page to another, as MkDocs expects in Markdown."""
    target, _, fragment = target.partition("#")
    rel = _relpath(target, posixpath.dirname(from_page)) if target else ""
    return rel + (f"#{fragment}" if fragment else "")


def _relpath(target: str, base: str) -> str:
    # posixpath.relpath for two docs-relative paths, without its abspath/getcwd calls
    # (tens of thousands of links per build).
    t = target.split("/")
    b = base.split("/") if base else []
    common = 0
    for x, y in zip(t, b, strict=False):
        if x != y:
            break
        common += 1
    return "/".join([".."] * (len(b) - common) + t[common:]) or "."


@jinja2.pass_context
def _link(context: jinja2.runtime.Context, text: Any, target: str | None) -> Markup:
    """A Markdown link to another page of the site (checked by MkDocs' strict build)."""
    label = md_escape(text) or "（未命名）"
    if not target:
        return Markup(label)
    href = relative_link(context["page_path"], target)
    return Markup(f"[{label}]({href})")


def _external_link(text: Any, url: str | None) -> Markup:
    """A link to a URL outside the site (the repository's edit page), escaped."""
    label = md_escape(text)
    if not url:
        return Markup(label)
    safe_url = url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    if not re.match(r"^https?://", safe_url):
        return Markup(label)
    return Markup(f"[{label}](<{safe_url}>)")


# --- environment -------------------------------------------------------------------------------


def make_environment(template_dirs: Iterable[Path] | None = None) -> jinja2.Environment:
    """The Jinja2 environment: values escaped for Markdown, Chinese filters, strict undefined."""
    dirs = [str(p) for p in (template_dirs or [TEMPLATES_DIR])]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(dirs),
        # finalize escapes every value for Markdown and HTML; autoescape makes macro and include
        # output Markup, so markup the templates write themselves is not escaped again.
        autoescape=True,
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        bytecode_cache=_bytecode_cache(),
    )
    env.filters.update(
        {
            "md": md_escape,
            "paras": paragraphs,
            "date": zh_date,
            "month": zh_month,
            "money": money,
            "number": number,
            "percent": percent,
            "or_dash": or_dash,
            "anchor": anchor,
            "yaml_title": yaml_title,
        }
    )
    env.globals.update({"link": _link, "external_link": _external_link})
    # e.g. generator.search's pinyin_text for _search_meta.md
    for name in FILTER_MODULES:
        module = importlib.import_module(name)
        extra = getattr(module, "TEMPLATE_FILTERS", None)
        if extra:
            env.filters.update({k: v for k, v in extra.items() if k not in env.filters})
    return env


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    try:
        BYTECODE_CACHE_DIR.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only checkout: compile every time
        return None
    return jinja2.FileSystemBytecodeCache(str(BYTECODE_CACHE_DIR))


# --- collecting and writing --------------------------------------------------------------------


def collect_pages(
    ctx: RenderContext,
    providers: Iterable[Callable[[RenderContext], Iterable[Page | Asset]]],
    timings: dict[str, float] | None = None,
) -> list[Page | Asset]:
    """Every page and asset from every provider; a path produced twice is an error.

    ``timings`` (when given) receives each provider's time as ``provider:<module>``.
    """
    items: list[Page | Asset] = []
    seen: dict[str, str] = {}
    for provider in providers:
        owner = getattr(provider, "__module__", str(provider))
        start = time.perf_counter()
        for item in provider(ctx):
            if item.path in seen:
                raise RenderError(f"页面路径重复：{item.path}（{seen[item.path]} 与 {owner}）")
            seen[item.path] = owner
            items.append(item)
        if timings is not None:
            key = f"provider:{owner}"
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - start
    return items


def default_providers() -> list[Callable[[RenderContext], Iterable[Page | Asset]]]:
    """The ``pages`` functions of the feature modules, in ``PROVIDER_MODULES`` order."""
    providers = []
    for name in PROVIDER_MODULES:
        module = importlib.import_module(name)
        provider = getattr(module, "pages", None)
        if callable(provider):
            providers.append(provider)
    return providers


@dataclass
class RenderResult:
    written: list[str] = field(default_factory=list)  # new or changed files
    unchanged: int = 0
    deleted: list[str] = field(default_factory=list)
    fresh: int = 0  # pages not rendered: their data and templates are those that made them
    timings: dict[str, float] = field(default_factory=dict)  # provider:…, template:…, late, assets


# Derived figures a build may still be making while the first pages are rendered (the case
# statistics, ``ctx.derived["stats"]``). A page whose template reads one of these names, in
# itself or in a template it includes or imports, is rendered after them (``LateReaders``).
LATE_FIGURES: frozenset[str] = frozenset({"stats"})


class LateReaders:
    """Which pages must wait for ``LATE_FIGURES``: those whose context is ``Deferred`` and
    those whose template (or a template it pulls in) reads one of the names. Found from the
    templates' syntax trees, once per template; a template pulled in by a computed name counts
    as reading them."""

    def __init__(self, env: jinja2.Environment, names: frozenset[str] = LATE_FIGURES) -> None:
        self.env = env
        self.names = names
        self._reads: dict[str, frozenset[str]] = {}

    def __call__(self, page: Page) -> bool:
        return isinstance(page.context, Deferred) or self.template_reads(page.template)

    def template_reads(self, name: str) -> bool:
        found = self.reads(name)
        return "*" in found or bool(self.names & found)

    def reads(self, name: str, visiting: frozenset[str] = frozenset()) -> frozenset[str]:
        """The names a template reads from its context, with those of the templates it pulls
        in; "*" stands for any name (a template pulled in by a computed name, or one that
        cannot be parsed: the render stage reports it, with the page)."""
        if name in self._reads:
            return self._reads[name]
        try:
            source, _, _ = self.env.loader.get_source(self.env, name)  # type: ignore[union-attr]
            tree = self.env.parse(source, name)
        except jinja2.TemplateNotFound:
            return frozenset()  # only ``ignore missing`` includes get here: they render nothing
        except jinja2.TemplateError:
            return frozenset("*")
        found = set(jinja2.meta.find_undeclared_variables(tree))
        for ref in jinja2.meta.find_referenced_templates(tree):
            if ref is None:
                found.add("*")
            elif ref not in visiting:
                found |= self.reads(ref, visiting | {name})
        self._reads[name] = frozenset(found)
        return self._reads[name]


class _Noting(dict):
    """``derived`` as templates see it: each name read is noted for the page's key
    (``depends.note``)."""

    def __getitem__(self, key: str) -> Any:
        depends.note(f"derived.{key}")
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        depends.note(f"derived.{key}")
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        depends.note(f"derived.{key}")
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        depends.note("derived")  # every name: the page cannot be keyed
        return super().__iter__()


class _NotYet(_Noting):
    """``derived`` for pages rendered before ``LATE_FIGURES`` exist: reading one is an error
    (in the template's name), never a silently empty section."""

    def __getitem__(self, key: str) -> Any:
        if key in LATE_FIGURES:
            depends.note(f"derived.{key}")
            raise jinja2.TemplateRuntimeError(
                f"模板读取了尚未算出的 derived.{key}；请在模板中用变量名 {key} 读取，生成阶段才会等它算好"
            )
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in LATE_FIGURES else super().get(key, default)


class PageRenderer:
    """Renders pages to bytes with the shared context every template sees."""

    def __init__(self, env: jinja2.Environment, ctx: RenderContext, timings: dict[str, float] | None = None) -> None:
        self.env = env
        self.ctx = ctx
        self.timings = timings

    def base(self, early: bool) -> dict[str, Any]:
        derived = self.ctx.derived
        return {
            "ctx": self.ctx,
            "dataset": self.ctx.dataset,
            "district": self.ctx.dataset.district,
            "today": self.ctx.today,
            "derived": _NotYet(derived) if early else _Noting(derived),
            "edit_base": self.ctx.edit_base,
            # Derived figures every page may show (the statistics and forms partials read these names).
            **({} if early else {"stats": derived.get("stats")}),
            "forms": derived.get("forms"),
        }

    def render(self, page: Page, base: dict[str, Any]) -> bytes:
        start = time.perf_counter()
        try:
            template = self.env.get_template(page.template)
            text = template.render({**base, **resolved(page.context), "page_path": page.path})
        except jinja2.TemplateError as exc:
            raise RenderError(f"无法生成页面 {page.path}：模板 {_where(exc, page.template)} 出错：{exc}") from exc
        if self.timings is not None:
            key = f"template:{page.template}"
            self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - start
        return text.encode("utf-8")


def render_all(
    env: jinja2.Environment,
    ctx: RenderContext,
    items: Iterable[Page | Asset],
    timings: dict[str, float] | None = None,
) -> dict[str, bytes | Path]:
    """Render every page in memory, with every derived figure: path → bytes. Nothing is
    written here. ``timings`` (when given) receives the time spent in each template as
    ``template:<name>``."""
    renderer = PageRenderer(env, ctx, timings)
    base = renderer.base(early=False)
    return {
        item.path: resolved(item.content) if isinstance(item, Asset) else renderer.render(item, base)
        for item in items
    }


class Feed:
    """Told what the render stage writes, in order: ``plan`` (every path the docs folder will
    hold, in the order they are written), ``ready`` (how many of them are written so far; it
    may pass the news on in batches), ``flush`` (the writer is about to wait: pass it on now)
    and ``done``. The build's MkDocs companion reads each page as soon as it is ready
    (``generator.mkdocs_feed``); this one listens to nothing."""

    def plan(self, paths: list[str]) -> None:
        pass

    def ready(self, count: int) -> None:
        pass

    def digest(self, path: str, md: str) -> None:
        """The digest (``depends.md_digest``) of a page about to be counted ready: MkDocs need
        not read the page to know whether it changed."""

    def flush(self) -> None:
        pass

    def done(self) -> None:
        pass


def _content_files(content_dir: Path | None) -> Iterator[tuple[str, Path]]:
    if content_dir is None or not content_dir.is_dir():
        return
    for path in sorted(content_dir.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            yield path.relative_to(content_dir).as_posix(), path


def put_file(docs_dir: Path, rel: str, data: bytes | Path, link: bool = False) -> bool:
    """Write one file unless it already holds these bytes; True when it was written.

    ``link``: ``data`` is a file never rewritten in place, which may be hard-linked."""
    target = docs_dir / rel
    if _same(target, data):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    if isinstance(data, Path):
        # A linkable file (the open-data case table: hundreds of MB at district size, kept in
        # a content-addressed cache) is hard-linked where the file system allows: no copy, and
        # the next build sees the same inode without comparing bytes. Nothing writes into docs
        # files in place (every write goes through a rename), so the link cannot change it.
        try:
            if not link:
                raise OSError
            os.link(data, tmp)
        except OSError:
            shutil.copyfile(data, tmp)
    else:
        tmp.write_bytes(data)
    tmp.replace(target)
    return True


class DocsWriter:
    """Writes the docs folder one file at a time, only what changed, and removes at the end
    what an earlier run wrote and this one did not (listed in the folder's ``MANIFEST``).

    Until ``finish`` the manifest lists both runs' files, so a run that fails half-way still
    leaves every file it wrote on record for the next run to remove.
    """

    def __init__(self, docs_dir: Path, paths: Iterable[str], links: Iterable[str] = ()) -> None:
        self.docs_dir = docs_dir
        self.paths = sorted(set(paths))
        self.links = set(links)
        self.result = RenderResult()
        docs_dir.mkdir(parents=True, exist_ok=True)
        self._manifest = docs_dir / MANIFEST
        self._previous = set(self._manifest.read_text("utf-8").splitlines()) if self._manifest.exists() else set()
        self._save_manifest(sorted(self._previous | set(self.paths)))

    def put(self, rel: str, data: bytes | Path) -> None:
        self.record(rel, put_file(self.docs_dir, rel, data, rel in self.links))

    def record(self, rel: str, written: bool) -> None:
        if written:
            self.result.written.append(rel)
        else:
            self.result.unchanged += 1

    def finish(self) -> RenderResult:
        for rel in sorted(self._previous - set(self.paths)):
            stale = self.docs_dir / rel
            if stale.is_file():
                stale.unlink()
                self.result.deleted.append(rel)
        if self.result.deleted:  # only deleting files leaves folders empty (a walk of every folder)
            _remove_empty_dirs(self.docs_dir)
        self._save_manifest(self.paths)
        self.result.written.sort()
        return self.result

    def _save_manifest(self, paths: list[str]) -> None:
        text = "\n".join(paths) + "\n"
        if not self._manifest.exists() or self._manifest.read_text("utf-8") != text:
            self._manifest.write_text(text, "utf-8")


def write_docs(
    files: dict[str, bytes | Path],
    docs_dir: Path,
    content_dir: Path | None = None,
    links: Iterable[str] = (),
) -> RenderResult:
    """Write generated files and a copy of ``content/`` into ``docs_dir``.

    A file is rewritten only when its bytes changed (so MkDocs' and editors' watchers see real
    changes only); files written by an earlier run and not produced now are deleted. A
    generated page may not shadow a hand-written one in ``content/``. Files named in
    ``links`` may be hard-linked (see ``Asset.linkable``).
    """
    all_files: dict[str, bytes | Path] = dict(_content_files(content_dir))
    _no_shadowing(all_files, files)
    all_files.update(files)
    writer = DocsWriter(docs_dir, all_files, links)
    for rel, data in sorted(all_files.items()):
        writer.put(rel, data)
    return writer.finish()


def _no_shadowing(content: dict[str, Path], generated: Iterable[str]) -> None:
    clash = sorted(set(content).intersection(generated))
    if clash:
        raise RenderError(f"content/{clash[0]} 与生成的页面同名，请改名")


def _same(target: Path, data: bytes | Path) -> bool:
    """True when ``target`` already holds exactly these bytes (files are compared in chunks)."""
    if not target.is_file():
        return False
    if isinstance(data, Path):
        if os.path.samefile(target, data):
            return True
        return target.stat().st_size == data.stat().st_size and filecmp.cmp(target, data, shallow=False)
    return target.stat().st_size == len(data) and target.read_bytes() == data


def _remove_empty_dirs(root: Path) -> None:
    for path in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        try:
            path.rmdir()
        except OSError:
            pass


def render(
    ctx: RenderContext,
    docs_dir: Path,
    content_dir: Path | None = None,
    providers: Iterable[Callable[[RenderContext], Iterable[Page | Asset]]] | None = None,
    template_dirs: Iterable[Path] | None = None,
    *,
    feed: Feed | None = None,
    before_late: Callable[[], None] | None = None,
) -> RenderResult:
    """The whole render stage: collect every page and asset, then write them in this order:

    1. the copy of ``content/``;
    2. the pages that need only the YAML;
    3. ``before_late()`` (the build waits there for the case statistics), then the pages that
       read ``LATE_FIGURES`` or have a ``Deferred`` context;
    4. the assets (data files; a ``Deferred`` one waits for the build's export).

    ``feed`` hears the plan of every path in that order and how far the writing has got, so
    that MkDocs can read each page as soon as it is written.
    """
    timings: dict[str, float] = {}
    feed = feed or Feed()
    env = make_environment(template_dirs)
    with memory.without_gc():  # hundreds of thousands of pages' contexts: no cycles, kept to the end
        items = collect_pages(ctx, providers if providers is not None else default_providers(), timings)
    content = dict(_content_files(content_dir))
    _no_shadowing(content, (item.path for item in items))
    reads_late = LateReaders(env)
    early: list[Page] = []
    late: list[Page] = []
    assets: list[Asset] = []
    for item in items:
        if isinstance(item, Asset):
            assets.append(item)
        else:
            (late if reads_late(item) else early).append(item)
    late.sort(key=lambda page: isinstance(page.context, Deferred))  # last: see render_pages
    plan = [*content, *(p.path for p in early), *(p.path for p in late), *(a.path for a in assets)]
    writer = DocsWriter(docs_dir, plan, (a.path for a in assets if a.linkable))
    feed.plan(plan)  # MkDocs lists the files and builds the navigation while the keys are made
    start = time.perf_counter()
    # digests and keys: many small objects, no cycles, kept to the end (in a build: frozen then)
    with memory.without_gc():
        keys = _keys(reads_late, ctx, docs_dir, early, [p for p in late if not isinstance(p.context, Deferred)],
                     template_dirs)
    timings["keys"] = time.perf_counter() - start
    count = 0

    def put(rel: str, data: bytes | Path | None, written: bool | None = None, md: str | None = None) -> None:
        nonlocal count
        if written is None:
            writer.put(rel, data)
        else:  # the render helper wrote it, or it is unchanged (render_pages)
            writer.record(rel, written)
        if md is not None:
            feed.digest(rel, md)
        count += 1
        feed.ready(count)

    for rel, path in content.items():
        put(rel, path)
    renderer = PageRenderer(env, ctx, timings)
    base = renderer.base(early=True)
    fresh_count = 0
    with depends.Tracking() as tracking:
        # Which pages the docs folder holds already is worked out a run of pages at a time, and
        # each run goes to MkDocs before the next is looked at: MkDocs takes the pages kept
        # from the last build (most of them, after an edit) while the rest are keyed.
        # When most of a run must be rendered, the rest goes as one run (one render helper).
        size, position = (KEYED_RUN_PAGES if keys.previous else len(early)), 0
        while position < len(early):
            run = early[position:position + size]
            position += len(run)
            start = time.perf_counter()
            with memory.without_gc():
                fresh = frozenset(page.path for page in run if keys.unchanged(page.path))
            timings["keys"] += time.perf_counter() - start
            fresh_count += len(fresh)
            if len(fresh) < len(run) // 2:
                size = len(early)
            render_pages(run, renderer, base, docs_dir, put, keys, fresh)
        if before_late is not None:
            # the statistics' views read the names of the places they show: noted, for the key
            # of every page that shows them
            feed.flush()
            start = time.perf_counter()
            tracking.begin()
            try:
                before_late()
            finally:
                read, names = tracking.end()
            keys.share("stats", keys.stats_token(ctx.derived.get("stats"), read, names))
            timings["late"] = time.perf_counter() - start
        base = renderer.base(early=False)
        start = time.perf_counter()
        with memory.without_gc():
            fresh = frozenset(page.path for page in late if keys.unchanged(page.path))
        timings["keys"] += time.perf_counter() - start
        fresh_count += len(fresh)
        render_pages(late, renderer, base, docs_dir, put, keys, fresh)
    start = time.perf_counter()
    for asset in assets:
        put(asset.path, resolved(asset.content))
    timings["assets"] = time.perf_counter() - start
    result = writer.finish()
    keys.save()
    feed.done()
    pinyin.save()  # names the templates spelled, for the next build
    result.timings = timings
    result.fresh = fresh_count
    return result


def _keys(readers: LateReaders, ctx: RenderContext, docs_dir: Path, early: list[Page], late: list[Page],
          template_dirs: Iterable[Path] | None = None) -> depends.Keys:
    """The keys of the pages, begun before any renders (``readers``: the templates' names,
    parsed once for the render stage).

    (Keying half of the pages in a forked copy of the process was tried: at the province
    tier it made this step slower, 49.6 s against 36-40 s, as both processes' every touch
    of an object then copies the memory page it is on.)"""
    shared = {"today": ctx.today, "edit_base": ctx.edit_base, "forms": ctx.derived.get("forms")}
    keys = depends.Keys(ctx, docs_dir, shared, template_dirs or [TEMPLATES_DIR])
    for page in (*early, *late):
        reads = readers.reads(page.template)
        keys.begin(page.path, page.template, page.context,  # type: ignore[arg-type]
                   depends.SHARED_NAMES if "*" in reads else reads)
    return keys


# Pages keyed before they go to MkDocs, a run at a time (``render``), when there is a record of
# the last render to keep pages from.
KEYED_RUN_PAGES = 8192


# A run of at least this many pages is rendered by two processes (``render_pages``); below it
# starting the second costs more than it saves.
PARALLEL_PAGES = 1000
BLOCK_PAGES = 32  # pages per block the two processes take in turn


def render_pages(pages: list[Page], renderer: PageRenderer, base: dict[str, Any], docs_dir: Path,
                 put: Callable[..., None], keys: depends.Keys | None = None,
                 fresh: frozenset[str] = frozenset()) -> None:
    """Render ``pages`` and ``put`` each in order (``put(path, data)``, or for a file already
    in place ``put(path, None, written)``); on a machine of several cores a long run is
    shared with a forked helper process.

    Pages in ``fresh`` are not rendered: the docs folder holds them already. With ``keys``,
    each page is rendered under ``depends.Tracking`` and its key recorded.

    The pages to render are cut into blocks of ``BLOCK_PAGES``: this process renders the even
    blocks, the helper the odd ones and writes them into the docs folder itself
    (``put_file``), reporting for each block which files it changed. This process takes the
    pages in order, its own as it renders them and the helper's as they are reported, so the
    plan's files still become ready one after another (MkDocs reads them as they do). The
    helper only reads the dataset and the templates, writes its own pages and leaves with
    ``os._exit``; a failure on either side ends both and is raised here. Where ``os.fork`` is
    missing, or on one core, this process renders every page.
    """
    todo = [page for page in pages if page.path not in fresh]
    # A ``Deferred`` context may wait for the build's threads (the case export), which the
    # helper does not have: such pages (``render`` puts them last) are rendered here.
    share = 0
    while share < len(todo) and not isinstance(todo[share].context, Deferred):
        share += 1
    blocks = [todo[i:min(i + BLOCK_PAGES, share)] for i in range(0, share, BLOCK_PAGES)]
    helper = _Helper.start(blocks, renderer, base, docs_dir, keys) if share >= PARALLEL_PAGES else None
    theirs = {page.path: number for number, block in enumerate(blocks) if number % 2 == 1 for page in block}
    reported: dict[str, tuple[bool, Any]] = {}
    try:
        for page in pages:
            if page.path in fresh:
                put(page.path, None, False, keys.md(page.path) if keys is not None else None)
            elif helper is not None and page.path in theirs:
                if page.path not in reported:
                    reported.update((rel, (written, entry, md)) for rel, written, entry, md
                                    in helper.block(theirs[page.path]))
                written, entry, md = reported.pop(page.path)
                if keys is not None and entry is not None:
                    keys.entries[page.path] = entry
                put(page.path, None, written, md)
            else:
                data, keyed = _render_keyed(page, renderer, base, keys)
                md = depends.md_digest(data)
                put(page.path, data, None, md)
                if keys is not None:
                    keys.written(page.path, keyed, md)
    except BaseException:
        if helper is not None:
            helper.kill()
        raise
    if helper is not None:
        helper.finish(renderer)


def _render_keyed(page: Page, renderer: PageRenderer, base: dict[str, Any],
                  keys: depends.Keys | None) -> tuple[bytes, tuple[str, tuple[str, ...]] | None]:
    """The page's bytes, and with ``keys`` its key and what it read (None: unkeyable)."""
    if keys is None:
        return renderer.render(page, base), None
    depends.Tracking.begin()
    try:
        data = renderer.render(page, base)
    finally:
        read, names = depends.Tracking.end()
    return data, keys.rendered(page.path, read, names)


class _Helper:
    """The forked process of ``render_pages``: renders the odd blocks, reports on a pipe."""

    def __init__(self, pid: int, reader: Any, blocks: int) -> None:
        self.pid = pid
        self.reader = reader
        self.blocks = blocks  # it renders the odd blocks below this one

    @classmethod
    def start(cls, blocks: list[list[Page]], renderer: PageRenderer, base: dict[str, Any],
              docs_dir: Path, keys: depends.Keys | None = None) -> _Helper | None:
        if (os.cpu_count() or 1) < 2 or not hasattr(os, "fork"):
            return None
        import pickle
        import warnings

        read_fd, write_fd = os.pipe()
        with warnings.catch_warnings():
            # the threads of the build (the case work, MkDocs's watchers) stay in the parent;
            # the child touches nothing they hold
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the helper
            os.close(read_fd)
            status = 0
            with os.fdopen(write_fd, "wb") as out:
                try:
                    renderer.timings = {}
                    for number in range(1, len(blocks), 2):
                        report = []
                        for page in blocks[number]:
                            data, keyed = _render_keyed(page, renderer, base, keys)
                            written = put_file(docs_dir, page.path, data)
                            md = depends.md_digest(data)
                            entry = None
                            if keys is not None:
                                keys.written(page.path, keyed, md)
                                entry = keys.entries.get(page.path)
                            report.append((page.path, written, entry, md))
                        pickle.dump(("block", number, report), out)
                        out.flush()
                    pickle.dump(("done", renderer.timings), out)
                except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
                    status = 1
                    message = str(exc) if isinstance(exc, RenderError) else f"{type(exc).__name__}: {exc}"
                    try:
                        pickle.dump(("error", message), out)
                    except BaseException:  # noqa: BLE001 - the parent sees the pipe close
                        pass
            os._exit(status)
        os.close(write_fd)
        return cls(pid, os.fdopen(read_fd, "rb"), len(blocks))

    def _next(self) -> tuple:
        import pickle

        try:
            message = pickle.load(self.reader)
        except (EOFError, pickle.UnpicklingError) as exc:
            self.kill()
            raise RenderError("生成页面的辅助进程意外退出。") from exc
        if message[0] == "error":
            self.kill()
            raise RenderError(message[1])
        return message

    def block(self, number: int) -> list[tuple[str, bool, Any, str]]:
        message = self._next()
        if message[0] != "block" or message[1] != number:
            self.kill()
            raise RenderError(f"生成页面的辅助进程顺序出错（第 {number} 块）。")
        return message[2]

    def finish(self, renderer: PageRenderer) -> None:
        message = self._next()
        self.reader.close()
        os.waitpid(self.pid, 0)
        if renderer.timings is not None:
            for key, seconds in message[1].items():
                renderer.timings[key] = renderer.timings.get(key, 0.0) + seconds

    def kill(self) -> None:
        import signal

        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        self.reader.close()


def _where(exc: jinja2.TemplateError, template: str) -> str:
    """The template file (and line) a Jinja error points at."""
    lineno = getattr(exc, "lineno", None)
    return f"{getattr(exc, 'filename', None) or template}{f':{lineno}' if lineno else ''}"


def copy_tree_if_changed(src: Path, dst: Path) -> None:
    """Copy a folder, keeping files whose bytes are equal (used for theme assets)."""
    for path in src.rglob("*"):
        if path.is_file():
            target = dst / path.relative_to(src)
            if target.is_file() and target.read_bytes() == path.read_bytes():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
