"""The render stage: Jinja2 templates from ``site_templates/`` into a generated docs folder.

Templates write Markdown (with a little HTML) for MkDocs. Every value printed with ``{{ }}``
passes through :func:`md_escape`, which turns HTML *and* Markdown syntax into character
references, so a data value is always literal text — in a paragraph, a table cell or an HTML
block alike. Helpers that build markup on purpose (links, tables) return ``Markup``.

The stage collects pages from every provider, renders them all in memory, and only then
writes: a file is rewritten only when its bytes changed, stale generated files are removed,
and ``content/`` is copied beside the generated pages.
"""

from __future__ import annotations

import datetime as dt
import filecmp
import gc
import importlib
import json
import multiprocessing
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
from markupsafe import Markup

from generator import pinyin
from generator.pages import Asset, Page, RenderContext

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


def precompile(template_dirs: Iterable[Path] | None = None) -> None:
    """Compile every template into the bytecode cache, so that the render stage only loads
    them. The build calls it while it waits for the case statistics; a template that does not
    compile is left for the render stage to report."""
    env = make_environment(template_dirs)
    if env.bytecode_cache is None:
        return
    for name in env.list_templates(filter_func=lambda n: n.endswith(".md")):
        try:
            env.get_template(name)
        except jinja2.TemplateError:
            pass


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
    timings: dict[str, float] = field(default_factory=dict)  # provider:…, template:…, write


def render_all(
    env: jinja2.Environment,
    ctx: RenderContext,
    items: Iterable[Page | Asset],
    timings: dict[str, float] | None = None,
) -> dict[str, bytes | Path]:
    """Render every page in memory: path → bytes. Nothing is written here.

    ``timings`` (when given) receives the time spent in each template as ``template:<name>``.
    """
    files: dict[str, bytes | Path] = {}
    base = {
        "ctx": ctx,
        "dataset": ctx.dataset,
        "district": ctx.dataset.district,
        "today": ctx.today,
        "derived": ctx.derived,
        "edit_base": ctx.edit_base,
        # Derived figures every page may show (the statistics and forms partials read these names).
        "stats": ctx.derived.get("stats"),
        "forms": ctx.derived.get("forms"),
    }
    for item in items:
        if isinstance(item, Asset):
            files[item.path] = item.content
            continue
        start = time.perf_counter()
        try:
            template = env.get_template(item.template)
            text = template.render({**base, **item.context, "page_path": item.path})
        except jinja2.TemplateError as exc:
            raise RenderError(f"无法生成页面 {item.path}：模板 {_where(exc, item.template)} 出错：{exc}") from exc
        files[item.path] = text.encode("utf-8")
        if timings is not None:
            key = f"template:{item.template}"
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - start
    return files


def _iter_content(content_dir: Path) -> Iterator[tuple[str, bytes]]:
    if not content_dir.is_dir():
        return
    for path in sorted(content_dir.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            yield path.relative_to(content_dir).as_posix(), path.read_bytes()


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


def write_docs(
    files: dict[str, bytes | Path | None],
    docs_dir: Path,
    content_dir: Path | None = None,
    links: Iterable[str] = (),
) -> RenderResult:
    """Write generated files and a copy of ``content/`` into ``docs_dir``.

    A file is rewritten only when its bytes changed (so MkDocs' and editors' watchers see real
    changes only); files written by an earlier run and not produced now are deleted. A
    generated page may not shadow a hand-written one in ``content/``. A path mapped to
    ``None`` was already written by a render worker: it is kept, not written again. Files
    named in ``links`` may be hard-linked (see ``Asset.linkable``).
    """
    links = set(links)
    all_files: dict[str, bytes | Path | None] = dict(files)
    if content_dir is not None:
        for rel, data in _iter_content(content_dir):
            if rel in all_files:
                raise RenderError(f"content/{rel} 与生成的页面同名，请改名")
            all_files[rel] = data
    docs_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = docs_dir / MANIFEST
    previous = set(manifest_path.read_text("utf-8").splitlines()) if manifest_path.exists() else set()
    result = RenderResult()
    for rel, data in sorted(all_files.items()):
        if data is None:  # written by a render worker (see render_parallel)
            continue
        if put_file(docs_dir, rel, data, rel in links):
            result.written.append(rel)
        else:
            result.unchanged += 1
    for rel in sorted(previous - set(all_files)):
        stale = docs_dir / rel
        if stale.is_file():
            stale.unlink()
            result.deleted.append(rel)
    if result.deleted:  # only deleting files leaves folders empty (a walk of every folder)
        _remove_empty_dirs(docs_dir)
    new_manifest = "\n".join(sorted(all_files)) + "\n"
    if not manifest_path.exists() or manifest_path.read_text("utf-8") != new_manifest:
        manifest_path.write_text(new_manifest, "utf-8")
    return result


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


# Rendering is pure Python and holds one core; with more cores the pages are shared out among
# forked workers that render and write their share (the parent renders one share itself).
# Below this many pages the fork costs more than it saves.
PARALLEL_MIN_PAGES = 600
WORKERS_ENV = "GONGZHI_RENDER_WORKERS"


def render_workers(page_count: int, workers: int | None = None) -> int:
    """How many processes render: ``workers``, else $GONGZHI_RENDER_WORKERS, else the cores
    (at most 4), and 1 for small sites or where ``fork`` is not available."""
    if workers is None:
        setting = os.environ.get(WORKERS_ENV, "").strip()
        if setting.isdigit() and int(setting) > 0:
            workers = int(setting)
        elif page_count < PARALLEL_MIN_PAGES:
            workers = 1
        else:
            workers = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(workers, page_count))


def _render_share(
    env: jinja2.Environment, ctx: RenderContext, pages: list[Page], docs_dir: Path
) -> tuple[list[str], int, dict[str, float]]:
    """Render and write a share of the pages: (paths written, unchanged count, timings)."""
    timings: dict[str, float] = {}
    files = render_all(env, ctx, pages, timings)
    start = time.perf_counter()
    written: list[str] = []
    for rel, data in files.items():
        if put_file(docs_dir, rel, data):
            written.append(rel)
    timings["write"] = time.perf_counter() - start
    pinyin.save()  # names this worker spelled, for the next build
    return written, len(files) - len(written), timings


def _worker(env: jinja2.Environment, ctx: RenderContext, pages: list[Page], docs_dir: Path, conn: Any) -> None:
    try:
        conn.send(("ok", _render_share(env, ctx, pages, docs_dir)))
    except RenderError as exc:
        conn.send(("error", str(exc)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        conn.send(("error", f"生成页面的工作进程出错：{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def render_parallel(
    env: jinja2.Environment,
    ctx: RenderContext,
    pages: list[Page],
    docs_dir: Path,
    workers: int,
) -> tuple[list[str], int, dict[str, float]]:
    """Share ``pages`` among ``workers`` processes (the parent is one), each rendering and
    writing its share; returns what ``_render_share`` returns, summed. Any worker's failure
    raises ``RenderError`` after every worker has stopped."""
    forking = multiprocessing.get_context("fork")
    # Pages of one template are spread over the shares, so every share costs about the same.
    shares = [pages[i::workers] for i in range(workers)]
    children = []
    gc.collect()
    gc.freeze()  # the children do not copy pages of objects only to update their GC headers
    try:
        for share in shares[1:]:
            receive, send = forking.Pipe(duplex=False)
            process = forking.Process(target=_worker, args=(env, ctx, share, docs_dir, send), daemon=True)
            process.start()
            send.close()
            children.append((process, receive))
        results: list[tuple[list[str], int, dict[str, float]]] = []
        errors: list[str] = []
        try:
            results.append(_render_share(env, ctx, shares[0], docs_dir))
        except RenderError as exc:
            errors.append(str(exc))
        for process, receive in children:
            try:
                status, payload = receive.recv()
            except EOFError:
                process.join()
                status, payload = "error", f"生成页面的工作进程意外退出（退出码 {process.exitcode}）。"
            receive.close()
            process.join()
            if status == "ok":
                results.append(payload)
            else:
                errors.append(payload)
    finally:
        gc.unfreeze()
        for process, _ in children:
            if process.is_alive():
                process.kill()
                process.join()
    if errors:
        raise RenderError(errors[0])
    written: list[str] = []
    unchanged = 0
    timings: dict[str, float] = {}
    for share_written, share_unchanged, share_timings in results:
        written.extend(share_written)
        unchanged += share_unchanged
        for key, seconds in share_timings.items():  # summed over the workers: CPU, not wall
            timings[key] = timings.get(key, 0.0) + seconds
    return written, unchanged, timings


def render(
    ctx: RenderContext,
    docs_dir: Path,
    content_dir: Path | None = None,
    providers: Iterable[Callable[[RenderContext], Iterable[Page | Asset]]] | None = None,
    template_dirs: Iterable[Path] | None = None,
    workers: int | None = None,
) -> RenderResult:
    """The whole render stage: collect, render, then write what changed.

    Small sites are rendered in memory by this process and then written; larger ones are
    shared out among forked workers (``render_workers``) that write their own pages.
    """
    timings: dict[str, float] = {}
    env = make_environment(template_dirs)
    items = collect_pages(ctx, providers if providers is not None else default_providers(), timings)
    pages = [item for item in items if isinstance(item, Page)]
    links = {item.path for item in items if isinstance(item, Asset) and item.linkable}
    count = render_workers(len(pages), workers)
    if count > 1:
        docs_dir.mkdir(parents=True, exist_ok=True)
        for template in {page.template for page in pages}:  # compiled once, before the fork
            _load_template(env, template)
        written, unchanged, page_timings = render_parallel(env, ctx, pages, docs_dir, count)
        timings.update(page_timings)
        files: dict[str, bytes | Path | None] = {page.path: None for page in pages}
        files.update((item.path, item.content) for item in items if isinstance(item, Asset))
        start = time.perf_counter()
        result = write_docs(files, docs_dir, content_dir, links)
        timings["write"] = timings.get("write", 0.0) + time.perf_counter() - start
        result.written = sorted(result.written + written)
        result.unchanged += unchanged
    else:
        files = render_all(env, ctx, items, timings)
        start = time.perf_counter()
        result = write_docs(files, docs_dir, content_dir, links)
        timings["write"] = time.perf_counter() - start
        pinyin.save()
    result.timings = timings
    return result


def _load_template(env: jinja2.Environment, name: str) -> None:
    try:
        env.get_template(name)
    except jinja2.TemplateError as exc:
        raise RenderError(f"无法读取模板 {_where(exc, name)}：{exc}") from exc


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
