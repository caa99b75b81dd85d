"""``gongzhi build``: the whole pipeline, as one script of named stages.

    load → validate → link → derive → render ─┬─ search index → swap
                                  MkDocs ═════╧═ (its own process, reading pages as written)
                                  ∥ statistics, export and check of the case files

Invalid YAML stops the build before the render stage touches the docs folder. MkDocs runs in
a companion process started before the YAML is read (``mkdocs_feed``): the render stage
sends it the list of every file first and then writes the pages in that order, those that
need only the YAML before those that show the case statistics, so MkDocs works through the
pages while the rest are still being made. The case files, by far the largest input, are
worked on beside the rest: their statistics and open-data export in a thread from the start
(``casestore.CaseWork``), their check in a thread while MkDocs runs (``CaseCheck``), which ends
MkDocs as soon as it finds an error. The site is built into a temporary sibling of the output
folder and swapped in with renames only when every stage and the case check succeeded, so a
failed build leaves the previous site in place. The library never prints: it returns a
``BuildReport`` or raises ``DataError`` (invalid data) or ``BuildError`` (anything else, with a
Chinese message).
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator import memory
from generator.issues import DataError, Issue, Severity, first_line
from generator.pages import Asset, Page, RenderContext
from generator.pages import timed as _timed

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "mkdocs.yml"
DEFAULT_DATA = ROOT / "data"
DEFAULT_CONTENT = ROOT / "content"

# The search stage plugs in here: a module exposing ``index_site(site_dir: Path)``,
# run on the freshly built site before it is swapped in.
INDEX_MODULES: tuple[str, ...] = ("generator.search",)

# The engines that turn the docs folder into the site: MkDocs (the default) and Zensical.
ENGINES: tuple[str, ...] = ("mkdocs", "zensical")


class BuildError(Exception):
    """The site could not be built; the message is Chinese and says which stage failed."""


@dataclass
class BuildReport:
    site_dir: Path
    docs_dir: Path
    pages_written: int = 0
    engine: str = "mkdocs"
    pages_unchanged: int = 0
    pages_fresh: int = 0  # of the unchanged, those not rendered at all (``generator.depends``)
    pages_deleted: int = 0
    warnings: list[Issue] = field(default_factory=list)  # validator warnings (non-fatal)
    timings: dict[str, float] = field(default_factory=dict)  # stage → seconds
    render_timings: dict[str, float] = field(default_factory=dict)  # provider:…, template:…, write
    indexed: bool = False
    index_notes: list[str] = field(default_factory=list)  # the search stage's warnings (Chinese)
    case_timings: dict[str, float] = field(default_factory=dict)  # CaseWork's steps, on its thread
    # Seconds of work done while MkDocs ran (inside ``timings["mkdocs"]``): "render" (writing
    # the pages) and "stats" (waiting for the case statistics).
    beside_mkdocs: dict[str, float] = field(default_factory=dict)
    mkdocs: Any = None  # the companion's ``MkDocsRun``: its start-up, build, and waits for pages

    @property
    def wall_s(self) -> float:
        """The build's time: its stages follow one another (work beside MkDocs is inside it)."""
        return sum(self.timings.values())

    @property
    def own_s(self) -> float:
        """What the build adds to MkDocs's own work: its time but MkDocs's, counting the
        time MkDocs waited for pages as the build's."""
        busy = self.timings.get("mkdocs", 0.0) - (self.mkdocs.waited_s if self.mkdocs else 0.0)
        return self.wall_s - busy


@dataclass
class Inputs:
    """What the render stage needs, produced by load, validate, link and derive."""

    ctx: RenderContext
    warnings: list[Issue]


# --- stages ------------------------------------------------------------------------------------


def load_config(config_file: Path, docs_dir: Path | None = None, site_dir: Path | None = None):
    """The MkDocs configuration, validated; its ``docs_dir`` is created when missing."""
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    from mkdocs.config import load_config as mkdocs_load_config
    from mkdocs.exceptions import ConfigurationError

    if not config_file.is_file():
        raise BuildError(f"找不到网站配置文件 {config_file}。")
    if docs_dir is None:
        import yaml

        with open(config_file, encoding="utf-8") as handle:
            raw = yaml.load(handle, Loader=_IgnoreTagsLoader) or {}
        docs_dir = (config_file.parent / raw.get("docs_dir", "docs")).resolve()
    docs_dir.mkdir(parents=True, exist_ok=True)
    try:
        return mkdocs_load_config(
            str(config_file),
            docs_dir=str(docs_dir),
            site_dir=str(site_dir) if site_dir else None,
        )
    except ConfigurationError as exc:
        raise BuildError(f"网站配置 {config_file.name} 有误：{exc}") from exc


def edit_base(config: Any) -> str | None:
    """repo_url + edit_uri, ending with "/": the prefix of every "编辑此数据" link."""
    repo_url = config.get("repo_url")
    edit_uri = config.get("edit_uri")
    if not repo_url or not edit_uri:
        return None
    return repo_url.rstrip("/") + "/" + edit_uri.strip("/") + "/"


def validate_and_link(data_dir: Path) -> tuple[Any, dict[str, list[dict[str, Any]]], list[Issue]]:
    """load → validate → link (the validator runs all three): the dataset, tables and warnings.

    Raises ``DataError`` with every issue when the data has errors.
    """
    result = checked_data(data_dir)
    return result.dataset, result.tables, result.warnings


def checked_data(data_dir: Path, *, cases: bool = True, frictionless: bool = True):
    """load → validate → link: the ``CheckResult`` of valid data.

    With ``cases=False`` the case files are checked only when the rest has errors (so that one
    report still lists every problem); otherwise the caller checks them (``CaseCheck``). With
    ``frictionless=False`` the data package is checked with Frictionless only when the data
    has errors; otherwise the caller does it (``check_contract``, in ``CaseCheck``).
    Raises ``DataError`` with every issue when the data has errors, ``BuildError`` when the
    data package cannot be used.
    """
    from generator.contract import ContractError, load_contract
    from generator.validate import check, check_cases, sort_issues

    try:
        contract = load_contract(data_dir, check_with_frictionless=frictionless)
        result = check(data_dir, cases=cases, contract=contract)
    except ContractError as exc:
        raise BuildError(str(exc)) from exc
    except Exception:
        if not frictionless:
            check_contract(data_dir)  # a package of a shape the checks never expect: say why
        raise
    if result.errors or result.dataset is None:
        if not frictionless:
            check_contract(data_dir)  # a package Frictionless rejects is the first thing to fix
        issues = result.issues
        if not cases:
            issues = sort_issues(
                [*issues, *check_cases(data_dir, result.case_files, communities=result.communities, grids=result.grids)]
            )
        raise DataError(issues)
    return result


def check_contract(data_dir: Path) -> None:
    """The data package as Frictionless sees it (cached by its bytes); ``BuildError`` when it
    rejects it."""
    from generator.contract import ContractError, load_contract

    try:
        load_contract(data_dir)
    except ContractError as exc:
        raise BuildError(str(exc)) from exc


class CaseCheck:
    """The checks that only decide whether the new site may replace the old one, in a
    background thread beside MkDocs: the data package as Frictionless sees it
    (``check_contract``), then the case files.

    Nothing the render stage or MkDocs makes depends on them. ``gongzhi build`` starts them once
    the YAML is valid and the pages are written, lets MkDocs stop early when they fail
    (``failed``), and waits for them (``issues``) before the search stage and the swap.
    """

    def __init__(self, data_dir: Path, result: Any) -> None:
        self.data_dir = data_dir
        self.result = result
        self._issues: list[Issue] | None = None
        self._error: BaseException | None = None
        self.seconds = 0.0  # how long the check took, on its thread
        self._thread = threading.Thread(target=self._run, name="gongzhi-case-check", daemon=True)

    def start(self) -> CaseCheck:
        self._thread.start()
        return self

    def _run(self) -> None:
        from generator.mkdocs_feed import background_thread
        from generator.validate import check_cases

        background_thread()  # MkDocs comes first
        start = time.perf_counter()
        try:
            check_contract(self.data_dir)
            # one DuckDB thread: MkDocs has the other core
            self._issues = check_cases(
                self.data_dir, self.result.case_files,
                communities=self.result.communities, grids=self.result.grids, threads=1,
            )
        except BaseException as exc:  # noqa: BLE001 - raised again on the build's thread
            self._error = exc
        finally:
            self.seconds = time.perf_counter() - start

    def failed(self) -> bool:
        """Finished, with errors (or unable to run)."""
        if self._thread.is_alive():
            return False
        return self._error is not None or any(i.severity is Severity.ERROR for i in self._issues or ())

    def issues(self) -> list[Issue]:
        """Every issue; a ``BuildError`` when the check itself could not run."""
        self._thread.join()
        if isinstance(self._error, BuildError):
            raise self._error
        if isinstance(self._error, Exception):
            raise BuildError(f"检查事件记录时出错：{first_line(self._error)}") from self._error
        if self._error is not None:
            raise self._error  # an interruption (Ctrl-C) stays one
        return list(self._issues or ())


def derive(ctx: RenderContext) -> None:
    """Figures computed once for every template before any page is rendered, stored in
    ``ctx.derived``: ``forms``, the participation forms, so portal pages can embed theirs;
    ``chart_renderer``, which draws the charts of the statistics and reports (cached beside
    the data folder; in this process: the second core is MkDocs's). The case statistics come
    later: ``derive_stats``."""
    from generator.charts import ChartRenderer
    from generator.forms import site as forms_site

    ctx.derived["forms"] = forms_site.derive(ctx)
    ctx.derived["chart_renderer"] = ChartRenderer(_charts_cache(ctx), workers=1)


def search_cache(data_dir: Path, site: Path) -> Path:
    """The search stage's file of what it read of each page of ``site`` (``search._PageCache``),
    in the cache folder beside the data, one per site folder."""
    import hashlib

    name = hashlib.sha256(str(Path(site).resolve()).encode("utf-8")).hexdigest()[:16]
    return Path(data_dir).resolve().parent / ".gongzhi" / "cache" / "search" / f"{name}.pickle"


def _charts_cache(ctx: RenderContext) -> Path:
    return Path(ctx.dataset.root).resolve().parent / ".gongzhi" / "cache" / "charts"


def derive_stats(ctx: RenderContext, case_work: Any = None) -> None:
    """``ctx.derived["stats"]``: the case statistics (a ``StatsView``; only when there are case
    files), taken from ``case_work`` (a started ``CaseWork``) when given. A build calls it
    while MkDocs works through the pages that do not show them."""
    dataset = ctx.dataset
    if not dataset.case_files:
        return
    from generator import stats

    try:
        ctx.derived["stats"] = stats.derive(
            dataset,
            stats=case_work.stats(dataset) if case_work is not None else None,
            renderer=ctx.derived.get("chart_renderer"),
            cache_dir=_charts_cache(ctx),
        )
    except stats.StatsError as exc:
        raise BuildError(f"统计事件记录失败：{exc}") from exc


def render_docs(
    ctx: RenderContext,
    docs_dir: Path,
    content_dir: Path | None,
    providers: Iterable[Callable[[RenderContext], Iterable[Page | Asset]]] | None = None,
    **stream: Any,
):
    """The render stage (``render.render``; ``stream``: its ``feed`` and ``before_late``)."""
    from generator.render import RenderError, render

    try:
        return render(ctx, docs_dir, content_dir, providers, **stream)
    except RenderError as exc:
        raise BuildError(str(exc)) from exc


def index_site(site_dir: Path, previous_site: Path | None = None,
               page_cache: Path | None = None) -> tuple[bool, list[str]]:
    """The search stage: every installed indexer runs over the built site (told of the site it
    replaces and of its cache file, ``search_cache``, when there are).

    Returns whether one ran, and the warnings the indexers reported (``.warnings`` on their
    return value), so the build summary can show them.
    """
    ran = False
    notes: list[str] = []
    for name in INDEX_MODULES:
        module = importlib.import_module(name)
        indexer = getattr(module, "index_site", None)
        if callable(indexer):
            given = {"previous_site": previous_site, "page_cache": page_cache}
            result = indexer(site_dir, **{k: v for k, v in given.items() if v is not None})
            notes.extend(getattr(result, "warnings", None) or [])
            ran = True
    return ran, notes


def swap(new_site: Path, out_dir: Path, background: bool = True) -> None:
    """Replace ``out_dir`` with ``new_site`` by renames; the old site is removed afterwards.

    Removing a site of thousands of files and hundreds of MB of open data takes from half a
    second on a quiet disk to many seconds on a busy one, and nobody waits for it: with
    ``background`` it is handed to a detached process, and whatever a killed removal left
    behind is removed by the next build (``remove_stale_sites``).
    """
    old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}-{time.monotonic_ns()}")
    if out_dir.exists():
        os.replace(out_dir, old)
    try:
        os.replace(new_site, out_dir)
    except OSError:
        if old.exists():
            os.replace(old, out_dir)
        raise
    if old.exists():
        _remove(old, background)


def remove_stale_sites(out_dir: Path) -> None:
    """Old sites and staging folders a killed build or removal left beside ``out_dir``."""
    if not out_dir.parent.is_dir():
        return
    for stale in out_dir.parent.glob(f".{out_dir.name}.old-*"):
        _remove(stale, background=True)


def _remove(folder: Path, background: bool) -> None:
    if background:
        try:
            remover = subprocess.Popen(
                [sys.executable, "-c", "import shutil, sys; shutil.rmtree(sys.argv[1], ignore_errors=True)", str(folder)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            # reaped on a daemon thread: no zombie, and no process object dropped while it runs
            threading.Thread(target=remover.wait, daemon=True, name="gongzhi-remove").start()
            return
        except OSError:
            pass
    shutil.rmtree(folder, ignore_errors=True)


# --- the pipeline ------------------------------------------------------------------------------


def build(
    data_dir: Path = DEFAULT_DATA,
    out_dir: Path | None = None,
    *,
    config_file: Path = DEFAULT_CONFIG,
    docs_dir: Path | None = None,
    content_dir: Path | None = DEFAULT_CONTENT,
    today: dt.date | None = None,
    index: bool = True,
    providers: Iterable[Callable[[RenderContext], Iterable[Page | Asset]]] | None = None,
    engine: str = "mkdocs",
    shards: int | None = None,
    executor: str = "local",
    shard_index: int | None = None,
) -> BuildReport:
    """Build the site from ``data_dir`` into ``out_dir`` (default: mkdocs.yml's site_dir)
    with ``engine`` (one of ``ENGINES``). MkDocs builds in ``shards`` runs (``generator.shards``;
    None: by the site's size) on ``executor`` ("local", or a Dask scheduler's address). With
    ``shard_index`` only that shard is built into ``out_dir`` (a part of the site for
    ``shards.assemble``, as parallel CI jobs do): no editor, no search index."""
    timings: dict[str, float] = {}
    data_dir = Path(data_dir).resolve()
    if not data_dir.is_dir():
        raise BuildError(f"找不到数据文件夹 {data_dir}。")
    if engine not in ENGINES:
        raise BuildError(f"未知的引擎“{engine}”：可选 {'、'.join(ENGINES)}。")
    if shards is not None and shards < 1:
        raise BuildError(f"分片数应为正整数，这里是 {shards}。")
    if engine == "zensical" and ((shards or 1) > 1 or executor != "local" or shard_index is not None):
        raise BuildError("分片构建只用于 MkDocs 引擎：Zensical 一次生成整个网站。")
    if shard_index is not None and (shards is None or not 0 <= shard_index < shards):
        raise BuildError(f"只构建一个分片时需要给出分片数，且分片序号在 0 到分片数减 1 之间（这里是 {shard_index}）。")

    # The case files need nothing from the YAML but the community → street map: they are
    # parsed, exported and (once the map is known) counted in a thread, on DuckDB's side of
    # Python's lock, while the YAML is read (see casestore.CaseWork).
    from generator.casestore import CaseWork

    case_work = CaseWork(data_dir).start()
    try:
        return _pipeline(
            data_dir, out_dir, case_work, timings,
            config_file=config_file, docs_dir=docs_dir, content_dir=content_dir,
            today=today, index=index, providers=providers, engine=engine, shards=shards, executor=executor,
            shard_index=shard_index,
        )
    finally:
        case_work.cancel()  # a no-op once it has the dataset; stops it when the build failed
        case_work.wait()


def _pipeline(
    data_dir: Path,
    out_dir: Path | None,
    case_work: Any,
    timings: dict[str, float],
    *,
    config_file: Path,
    docs_dir: Path | None,
    content_dir: Path | None,
    today: dt.date | None,
    index: bool,
    providers: Iterable[Callable[[RenderContext], Iterable[Page | Asset]]] | None,
    engine: str = "mkdocs",
    shards: int | None = None,
    executor: str = "local",
    shard_index: int | None = None,
) -> BuildReport:
    with _timed(timings, "config"):
        config_file = Path(config_file).resolve()
        config = load_config(config_file, docs_dir)
        docs = Path(config["docs_dir"])
        site = Path(out_dir).resolve() if out_dir else Path(config["site_dir"])
        _check_folders(docs, site, data_dir, content_dir)
    with _exclusive(docs):
        site.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_sites(site)
        staging = site.with_name(f".{site.name}.new-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        # MkDocs starts now, in its own process, and reads the pages as they are written;
        # Zensical starts once they are all written (zensical_run)
        from generator.mkdocs_feed import MkDocsError, MkDocsProcess
        from generator.zensical_run import ZensicalProcess

        try:
            if engine == "zensical":
                mkdocs = ZensicalProcess(config_file, docs, staging).start()
            elif shard_index is not None or _sharded(data_dir, shards, executor):  # several MkDocs runs
                from generator.shards import ShardedBuild

                mkdocs = ShardedBuild(config_file, docs, staging, shards=shards, executor=executor,
                                      previous_site=site if site.is_dir() else None, only=shard_index).start()
            else:  # the last site lends the pages whose inputs have not changed (reuse)
                mkdocs = MkDocsProcess(config_file, docs, staging, previous_site=site if site.is_dir() else None).start()
        except MkDocsError as exc:
            raise BuildError(str(exc)) from exc
        try:
            with memory.freezing():  # what the build keeps to its end can be frozen (memory.settle)
                return _site(data_dir, site, docs, staging, config, case_work, mkdocs, timings,
                             content_dir=content_dir, today=today, index=index, providers=providers)
        finally:
            mkdocs.kill()
            shutil.rmtree(staging, ignore_errors=True)


def _site(
    data_dir: Path,
    site: Path,
    docs: Path,
    staging: Path,
    config: Any,
    case_work: Any,
    mkdocs: Any,
    timings: dict[str, float],
    *,
    content_dir: Path | None,
    today: dt.date | None,
    index: bool,
    providers: Iterable[Callable[[RenderContext], Iterable[Page | Asset]]] | None,
) -> BuildReport:
    from generator.casestore import CaseStoreError
    from generator.mkdocs_feed import MkDocsError

    with _timed(timings, "validate"):  # load → validate → link; the case files' check comes later
        checked = checked_data(data_dir, cases=False, frictionless=False)
        dataset, tables, warnings = checked.dataset, checked.tables, checked.warnings
        case_work.supply(dataset)

    with _timed(timings, "derive"):
        ctx = RenderContext(
            dataset=dataset,
            today=today or dt.date.today(),
            site_url=(config.get("site_url") or "/").rstrip("/") + "/",
            edit_base=edit_base(config),
            derived={"tables": tables, "table_files": checked.table_files,
                     "content_dir": content_dir or DEFAULT_CONTENT, "cases_export": case_work,
                     "editor": editor_enabled(Path(config.config_file_path))},
        )
        derive(ctx)
    mkdocs.extra["sample_data"] = bool(dataset.district.sample_data)

    # The render stage writes the pages MkDocs can read at once first, and waits for the case
    # statistics (``derive_stats``) only before the pages that show them.
    beside: dict[str, float] = {}  # what ran while MkDocs did
    start = time.perf_counter()
    # The dataset stays alive to the end: frozen, Python's cyclic garbage collector does not
    # scan it again on each full collection the rest of the build triggers (the render stage
    # freezes the pages and their keys, and the case statistics, in turn). No full collection
    # first: the check makes no garbage cycles, and one pass over the dataset found none at
    # the city tier in 0.4 s, about 4 s at the province tier.
    memory.settle()
    try:
        rendered = _in_background(lambda: render_docs(
            ctx, docs, content_dir, providers,
            feed=mkdocs, before_late=lambda: _settled_after(derive_stats, ctx, case_work),
        ))
    except (BuildError, CaseStoreError) as exc:
        _raise_case_issues(data_dir, checked)  # unreadable case files: say which, and where
        if isinstance(exc, BuildError):
            raise
        raise BuildError(f"导出事件记录失败：{exc}") from exc
    planned = mkdocs.planned_at or start
    timings["plan"] = planned - start  # collecting the pages, before MkDocs could begin
    beside["stats"] = rendered.timings.get("late", 0.0)
    beside["render"] = time.perf_counter() - planned - beside["stats"]
    report = BuildReport(
        site_dir=site,
        docs_dir=docs,
        engine="zensical" if type(mkdocs).__name__ == "ZensicalProcess" else "mkdocs",
        pages_written=len(rendered.written),
        pages_unchanged=rendered.unchanged,
        pages_fresh=rendered.fresh,
        pages_deleted=len(rendered.deleted),
        warnings=warnings,
        timings=timings,
        render_timings=rendered.timings,
        case_timings={step: round(seconds, 3) for step, seconds in case_work.timings.items()},
        beside_mkdocs=beside,
    )
    case_check = CaseCheck(data_dir, checked).start()
    try:
        run = mkdocs.finish(stop=case_check.failed)
    except MkDocsError as exc:
        _raise_if_errors(case_check.issues(), warnings)
        raise BuildError(str(exc)) from exc
    finally:
        timings["mkdocs"] = time.perf_counter() - planned
    report.mkdocs = run
    with _timed(timings, "check"):  # what of the case check MkDocs did not hide
        case_issues = case_check.issues()
    report.case_timings["check"] = round(case_check.seconds, 3)
    _raise_if_errors(case_issues, warnings)
    report.warnings = _sorted([*warnings, *case_issues])
    if getattr(mkdocs, "only", None) is not None:  # one shard of the site: assembled later
        with _timed(timings, "swap"):
            swap(staging, site)
        return report
    with _timed(timings, "admin"):
        write_editor(staging, data_dir, Path(config.config_file_path))
    if index:
        with _timed(timings, "index"), memory.without_gc():  # (its records of pages make no cycles)
            # shards whose pages are unchanged come from the site being replaced
            report.indexed, report.index_notes = index_site(
                staging, previous_site=site if site.is_dir() else None, page_cache=search_cache(data_dir, site))
    with _timed(timings, "swap"):
        swap(staging, site)
    from generator import pinyin

    pinyin.save()  # names the search stage spelled
    return report


def assemble_site(parts: list[Path], out_dir: Path | None = None, *, data_dir: Path = DEFAULT_DATA,
                  config_file: Path = DEFAULT_CONFIG, index: bool = True) -> tuple[Path, int, bool, list[str]]:
    """One site from shard folders built apart (``build(..., shards=N, shard_index=K)``): their
    files, the editor and the search index, swapped in; the old site stays when anything fails.
    Returns the site, its page count, whether it was indexed and the indexer's notes."""
    from generator.shards import AssembleError, assemble

    config_file = Path(config_file).resolve()
    config = load_config(config_file)
    site = Path(out_dir).resolve() if out_dir else Path(config["site_dir"])
    missing = [str(p) for p in parts if not Path(p).is_dir()]
    if missing:
        raise BuildError(f"找不到分片文件夹：{'、'.join(missing)}。")
    site.parent.mkdir(parents=True, exist_ok=True)
    staging = site.with_name(f".{site.name}.new-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        try:
            pages = assemble([Path(p) for p in parts], staging)
        except AssembleError as exc:
            raise BuildError(str(exc)) from exc
        write_editor(staging, Path(data_dir).resolve(), config_file)
        indexed, notes = index_site(
            staging, previous_site=site if site.is_dir() else None,
            page_cache=search_cache(Path(data_dir).resolve(), site)) if index else (False, [])
        swap(staging, site)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return site, pages, indexed, notes


def _sharded(data_dir: Path, shards: int | None, executor: str) -> bool:
    """Whether MkDocs runs in shards: when asked (more than one shard, or an executor), or, left
    to the build, when the data is large enough that the site may pass ``SHARD_PAGES`` pages
    (a site has at least one page per YAML file; the shards then decide on the real count)."""
    from generator.shards import SHARD_PAGES

    if shards is not None or executor != "local":
        return (shards or 2) > 1 or executor != "local"
    count = 0
    for _ in data_dir.rglob("*.yaml"):
        count += 1
        if count * 2 > SHARD_PAGES:
            return True
    return False


def editor_enabled(config_file: Path) -> bool:
    from generator.admin import enabled

    return enabled(config_file)


def write_editor(site: Path, data_dir: Path, config_file: Path) -> None:
    """The web editor (Decap CMS) at ``/admin/``, configured from the Data Package."""
    from generator.admin import SITE_FOLDER, AdminError, project_config, write_admin

    if not editor_enabled(config_file):
        return
    try:
        write_admin(site / SITE_FOLDER, project_config(data_dir, config_file))
    except AdminError as exc:
        raise BuildError(f"网页编辑器 /admin/ 无法生成：{exc}") from exc


def _settled_after(work: Callable[..., Any], *args: Any) -> Any:
    """``work(*args)`` without the cyclic garbage collector, and what it made frozen like the
    dataset (``memory.without_gc`` settles it): the case statistics are millions of objects
    that live to the end of the build; loading them from the cache at the province tier set
    off thirty full collections, a second apiece."""
    with memory.without_gc():
        return work(*args)


def _in_background(work: Callable[[], Any]) -> Any:
    """``work()`` on a thread of lower priority (``mkdocs_feed.background_thread``), which
    this thread waits for: MkDocs keeps its core while the pages are written beside it."""
    from generator.mkdocs_feed import background_thread

    outcome: dict[str, Any] = {}

    def run() -> None:
        background_thread()
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - raised again on the build's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="gongzhi-render", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _sorted(issues: list[Issue]) -> list[Issue]:
    from generator.validate import sort_issues

    return sort_issues(issues)


def _raise_if_errors(case_issues: list[Issue], warnings: list[Issue]) -> None:
    if any(i.severity is Severity.ERROR for i in case_issues):
        raise DataError(_sorted([*warnings, *case_issues]))


def _raise_case_issues(data_dir: Path, checked: Any) -> None:
    """The case work failed: when the case files have errors, those are the build's answer."""
    from generator.validate import check_cases

    case_issues = check_cases(data_dir, checked.case_files, communities=checked.communities, grids=checked.grids)
    _raise_if_errors(case_issues, checked.warnings)


@contextmanager
def _exclusive(docs: Path):
    """One build at a time per docs folder (a preview and a build in another terminal)."""
    import fcntl

    lock_path = docs.with_name(f".{docs.name}.lock")
    with open(lock_path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise BuildError(f"另一个构建正在使用 {docs}，请等它结束后再试。") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_folders(docs: Path, site: Path, data_dir: Path, content_dir: Path | None) -> None:
    """Refuse folder layouts where the build would overwrite the sources."""
    protected = [data_dir] + ([content_dir.resolve()] if content_dir else [])
    for target, label in ((docs, "生成页面的文件夹"), (site, "网站输出文件夹")):
        for source in protected:
            if target == source or source.is_relative_to(target) or target.is_relative_to(source):
                raise BuildError(f"{label} {target} 与源文件夹 {source} 重叠，请换一个位置。")
    if site == docs or site.is_relative_to(docs) or docs.is_relative_to(site):
        raise BuildError(f"网站输出文件夹 {site} 不能与生成页面的文件夹 {docs} 重叠。")


def _ignore_unknown_tag(loader: Any, suffix: str, node: Any) -> None:
    return None


try:
    import yaml as _yaml

    class _IgnoreTagsLoader(_yaml.SafeLoader):
        """Reads mkdocs.yml for docs_dir even when it holds tags like !ENV or !!python/name."""

    _IgnoreTagsLoader.add_multi_constructor("", _ignore_unknown_tag)
    _IgnoreTagsLoader.add_multi_constructor("!", _ignore_unknown_tag)
except ImportError:  # pragma: no cover - pyyaml is a dependency
    pass
