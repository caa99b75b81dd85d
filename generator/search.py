"""Search: the last stage of ``gongzhi build`` indexes the built site with Pagefind.

Why Pagefind: Material's built-in search ships one JSON index that every phone downloads whole
(41 MB for 5,000 pages) and segments Chinese with the unmaintained jieba. Pagefind writes a
chunked index next to the site; a query loads only the chunks and fragments it needs, and the
extended build segments Chinese at index time (``<html lang="zh">`` selects it).

Three pieces live here:

- ``pinyin_keys(name)``: full pinyin and initials of a community or street name
  (临平街道 → linpingjiedao, linping, lpjd, lp), rendered into a hidden, ``aria-hidden`` element
  by ``site_templates/_search_meta.md`` so that residents typing pinyin find the page.
- ``index_site(site_dir)``: runs the Pagefind binary over the built site and writes the bundle
  to ``site_dir/pagefind`` atomically (built aside, then swapped in), returning a report.
- ``TEMPLATE_FILTERS``: the Jinja filters the render stage registers for page templates.

Measured while choosing (5,000 synthetic Chinese pages, 2 cores): the Pagefind binary over the
folder 5.2 s, the Python API's ``add_directory`` 5.4 s, the Python API fed file by file 518 s.
So the folder is indexed by the binary in one run, and everything a page needs for search
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

import html as html_lib
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pypinyin import Style, lazy_pinyin

from generator.build import BuildError

OUTPUT_SUBDIR = "pagefind"
# Written beside Pagefind's bundle: the filter values with page counts, read by the search box
# instead of Pagefind's filter index (which grows with the page count).
FILTERS_FILE = "gongzhi-filters.json"

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
    bundle_bytes: int
    bundle_files: int
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- pinyin


def _readings(name: str) -> list[list[str]]:
    """One syllable list per reading of ``name`` (the everyday one first)."""
    base = [s.lower() for s in lazy_pinyin(name, style=Style.NORMAL, errors="default")]
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


def _write_spaced(job: tuple[str, str]) -> list[tuple[str, str]]:
    """Write one page's spaced copy; return its (filter, value) pairs."""
    source, target = job
    html = Path(source).read_text(encoding="utf-8", errors="replace")
    Path(target).write_text(spaced_html(html), encoding="utf-8")
    if _BODY_MARK not in html:
        return []
    return sorted({(key, _unescape(value)) for key, value in _FILTER_ATTR.findall(html)})


def _unescape(value: str) -> str:
    return html_lib.unescape(value).strip()


def _prepare_copy(site: Path, copy: Path, output_subdir: str) -> dict[str, dict[str, int]]:
    """Write the spaced copy of every HTML page of ``site`` into ``copy``.

    Returns the filter values and their page counts ({"类型": {"社区": 15, …}, "街道": …}), so
    the search box can list them without downloading Pagefind's filter index.
    """
    jobs: list[tuple[str, str]] = []
    folders: set[Path] = set()
    for source in site.rglob("*.html"):
        relative = source.relative_to(site)
        if relative.parts[0] == output_subdir:
            continue
        target = copy / relative
        folders.add(target.parent)
        jobs.append((str(source), str(target)))
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    workers = min(os.cpu_count() or 1, 8)
    if len(jobs) >= 2000 and workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            pairs = list(pool.map(_write_spaced, jobs, chunksize=256))
    else:
        pairs = [_write_spaced(job) for job in jobs]
    counts: dict[str, dict[str, int]] = {}
    for page in pairs:
        for key, value in page:
            if value:
                counts.setdefault(key, {})
                counts[key][value] = counts[key].get(value, 0) + 1
    return counts


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


def _dir_size(path: Path) -> tuple[int, int]:
    total = files = 0
    for entry in path.rglob("*"):
        if entry.is_file():
            total += entry.stat().st_size
            files += 1
    return total, files


def index_site(
    site_dir: Path | str,
    *,
    output_subdir: str = OUTPUT_SUBDIR,
    force_language: str | None = None,
    exclude_selectors: Sequence[str] = EXCLUDE_SELECTORS,
    timeout: float | None = 1800,
) -> SearchIndexReport:
    """Index every HTML page of a built site into ``site_dir/<output_subdir>``.

    Only elements inside ``data-pagefind-body`` are indexed (the theme marks the article
    content), minus ``exclude_selectors`` and anything under ``data-pagefind-ignore``. The new
    bundle is written beside the site and swapped in, so a failed run leaves the old one.
    """
    site = Path(site_dir).resolve()
    if not site.is_dir():
        raise SearchIndexError(f"网站目录不存在：{site}（提示：先运行 gongzhi build 生成网站）")
    if not any(site.glob("**/*.html")):
        raise SearchIndexError(f"网站目录中没有 HTML 页面：{site}（提示：先运行 gongzhi build）")

    staging = Path(tempfile.mkdtemp(prefix=".pagefind-", dir=site.parent))
    bundle_new = staging / output_subdir
    copy = staging / "pages"
    started = time.perf_counter()
    try:
        filters = _prepare_copy(site, copy, output_subdir)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise SearchIndexError(f"无法准备待索引的页面副本：{exc}") from exc
    command = [
        str(pagefind_executable()),
        "--site",
        str(copy),
        "--output-path",
        str(bundle_new),
    ]
    for selector in exclude_selectors:
        command += ["--exclude-selectors", selector]
    if force_language:
        command += ["--force-language", force_language]

    try:
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
            raise SearchIndexError(f"建立搜索索引超时（超过 {timeout:.0f} 秒）：{site}") from exc
        except OSError as exc:
            raise SearchIndexError(f"无法运行 Pagefind：{exc}") from exc
        seconds = time.perf_counter() - started
        log = f"{proc.stdout}\n{proc.stderr}"
        if proc.returncode != 0 or not (bundle_new / "pagefind-entry.json").is_file():
            detail = _last_lines(log)
            if proc.returncode < 0:  # killed by a signal: on Linux, SIGKILL is the OOM killer
                raise SearchIndexError(
                    f"Pagefind 被系统终止（信号 {-proc.returncode}），多半是内存不足"
                    "（实测：一个索引约每万页 0.6 GB 内存，33 万页超过 21 GB；提示：换内存更大的机器，"
                    f"或把网站分成几个索引）。最后的输出：\n{detail}"
                )
            raise SearchIndexError(f"Pagefind 建立搜索索引失败（退出码 {proc.returncode}）：{detail}")
        languages = _languages(bundle_new / "pagefind-entry.json")
        warnings = _warnings(log, languages)
        (bundle_new / FILTERS_FILE).write_text(
            json.dumps({"pages": sum(languages.values()), "filters": filters}, ensure_ascii=False),
            encoding="utf-8",
        )
        _swap_in(bundle_new, site / output_subdir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    bundle = site / output_subdir
    size, files = _dir_size(bundle)
    return SearchIndexReport(
        pages=sum(languages.values()),
        languages=languages,
        seconds=seconds,
        bundle_dir=bundle,
        bundle_bytes=size,
        bundle_files=files,
        warnings=warnings,
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
