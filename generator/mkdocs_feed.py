"""MkDocs in a companion process, fed the pages as the render stage writes them.

MkDocs takes one core for most of a build, and so does the render stage: both are Python.
One after the other their times add up, and in one process they would share Python's lock.
So ``gongzhi build`` runs MkDocs in a second process (``MkDocsProcess``) and feeds it:

1. the build starts the companion before it reads the YAML: it imports MkDocs and the theme
   and loads the configuration meanwhile;
2. the render stage sends the plan, every path the docs folder will hold in the order they
   will be written: MkDocs's file list is exactly the plan, in that order (so files an earlier
   run left are never read);
3. as files are written, it says how many of the plan are ready: MkDocs reads a page only
   once it is, and copies the static files only once all are (``done``);
4. the companion writes one JSON object to its stdout: success, or MkDocs's warnings and
   error, with its own timings.

The messages are JSON lines on the companion's stdin. The companion stops when its stdin
closes before ``done`` (the build failed); the build ends it when the case check fails.
"""

from __future__ import annotations

import json
import logging
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from generator.issues import first_line
from generator.memory import peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_NAME = "gongzhi-feed"
MESSAGES_KEPT = 200  # warnings sent back in full; the rest are counted
STOPPED = 3  # the companion's exit status when the build stopped it
BATCH_SECONDS = 0.02  # how often, at most, the build says how many files are ready


BACKGROUND_NICE = 10  # how much less a background thread counts than MkDocs


def background_thread() -> None:
    """Lower the calling thread's priority, so that MkDocs's companion (and, before it starts,
    the reading of the YAML) keep a core each while the build's other work shares what is
    left. On Linux priority is per thread and inherited by the threads it starts (DuckDB's
    workers included); elsewhere, where it would slow the whole process, nothing happens."""
    if sys.platform != "linux":
        return
    try:
        thread = threading.get_native_id()
        now = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, now + BACKGROUND_NICE))
    except OSError:
        pass


class MkDocsError(Exception):
    """MkDocs failed or the companion could not run; the message is Chinese."""


@dataclass
class MkDocsRun:
    """What the companion reports: its steps' seconds and its peak memory."""

    startup_s: float = 0.0  # process start to configuration loaded (beside the build's YAML)
    build_s: float = 0.0  # MkDocs's build, from the plan to the last page written
    waited_s: float = 0.0  # of which MkDocs waited for pages not yet written
    cpu_s: float = 0.0  # the companion's processor time, start-up included
    peak_rss_mb: float = 0.0
    # pages read / skipped_reading / rendered / reused (from the previous site, see reuse)
    pages: dict[str, int] = field(default_factory=dict)


# --- the build's side --------------------------------------------------------------------------


def wait_or_stop(process: subprocess.Popen[Any], stop: Callable[[], bool] | None, poll: float,
                 kill: Callable[[], None]) -> None:
    """Wait for an engine's process; when ``stop()`` turns true first, ``kill()`` and raise."""
    while True:
        try:
            process.wait(timeout=poll)
            return
        except subprocess.TimeoutExpired:
            if stop is not None and stop():
                kill()
                raise MkDocsError("构建已停止：事件记录校验未通过。") from None


# How the companion starts: ``python -m generator.mkdocs_feed``, with the cyclic garbage
# collector's full collections made rare. MkDocs holds an object for every page of the site
# (330,000 at the province tier) that lives to the end; with Python's default thresholds each
# growth of that heap by a quarter cost a full collection of all of it. Young garbage is still
# collected as usual, and a full collection still runs after every thousand younger ones.
_START = ("import gc, runpy; gc.set_threshold(700, 10, 1000); "
          "runpy.run_module('generator.mkdocs_feed', run_name='__main__', alter_sys=True)")


class MkDocsProcess:
    """The companion, seen from the build: a ``render.Feed`` that MkDocs follows."""

    def __init__(self, config_file: Path, docs_dir: Path, site_dir: Path,
                 previous_site: Path | None = None) -> None:
        self.config_file = config_file
        self.docs_dir = docs_dir
        self.site_dir = site_dir
        self.previous_site = previous_site  # pages whose inputs are unchanged come from here (reuse)
        # one shard of a sharded build: the pages it renders, and whether it writes the files
        # every page shares (static files, 404, sitemap); None: the whole site (see shards)
        self.shard: dict[str, Any] | None = None
        self.extra: dict[str, Any] = {}  # set into the configuration's ``extra`` with the plan
        self.planned_at: float | None = None  # perf_counter when the plan was sent
        self._process: subprocess.Popen[bytes] | None = None
        self._out: BinaryIO | None = None
        self._err: BinaryIO | None = None
        self._count = 0  # files written
        self._digests: dict[str, str] = {}  # Markdown digests not yet passed on
        self._sent = 0  # files MkDocs has been told of
        self._sent_at = 0.0
        self._broken = False

    def start(self) -> MkDocsProcess:
        # answers go to files: a chatty companion can never block on a full pipe
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()
        env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONUNBUFFERED": "1"}
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _START,
                 str(self.config_file), str(self.docs_dir), str(self.site_dir),
                 str(self.previous_site) if self.previous_site else ""],
                stdin=subprocess.PIPE, stdout=self._out, stderr=self._err, cwd=ROOT, env=env,
            )
        except OSError as exc:
            self.close()
            raise MkDocsError(f"无法启动 MkDocs 进程：{first_line(exc)}") from exc
        return self

    # the Feed the render stage talks to

    def plan(self, paths: list[str]) -> None:
        self.planned_at = time.perf_counter()
        self._send({"plan": paths, "extra": self.extra, "shard": self.shard})

    def ready(self, count: int) -> None:
        # passed on at most every BATCH_SECONDS: MkDocs is far slower per page than the
        # render stage, and each message takes Python's lock from it for a moment
        self._count = count
        if time.perf_counter() - self._sent_at >= BATCH_SECONDS:
            self.flush()

    def digest(self, path: str, md: str) -> None:
        self._digests[path] = md

    def flush(self) -> None:
        if self._count > self._sent:
            self._sent = self._count
            self._sent_at = time.perf_counter()
            message: dict[str, Any] = {"ready": self._count}
            if self._digests:  # with the count: a page's digest is there once it is ready
                message["digests"], self._digests = self._digests, {}
            self._send(message)

    def done(self) -> None:
        self.flush()
        self._send({"done": True})

    def _send(self, message: dict[str, Any]) -> None:
        process = self._process
        if process is None or process.stdin is None or self._broken:
            return
        try:
            process.stdin.write(json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n")
            process.stdin.flush()
        except (BrokenPipeError, ValueError):
            self._broken = True  # it has ended: ``finish`` says why

    # the end

    def finish(self, stop: Callable[[], bool] | None = None, poll: float = 0.05) -> MkDocsRun:
        """Wait for MkDocs; ``stop`` is asked while it runs and ends it when true.

        Raises ``MkDocsError`` when MkDocs failed (with its warnings, as in strict mode),
        when it was stopped, or when the companion ended without an answer.
        """
        process = self._process
        assert process is not None, "start() first"
        wait_or_stop(process, stop, poll, self.kill)
        answer = self._answer()
        tail = self._stderr_tail() if answer is None else ""
        self.kill()  # it has ended: this lets go of the pipe and the answer files
        if answer is None:
            raise MkDocsError(f"MkDocs 进程意外退出（退出码 {process.returncode}）：{tail}")
        if not answer.get("ok"):
            messages = answer.get("messages") or [answer.get("error") or "未知错误"]
            details = "\n".join(f"  - {m}" for m in messages[:20])
            hidden = max(len(messages), int(answer.get("count") or 0)) - 20
            more = f"\n  ……另有 {hidden} 条" if hidden > 0 else ""
            raise MkDocsError(f"MkDocs 构建失败（严格模式，警告也视为错误）：\n{details}{more}")
        return MkDocsRun(
            startup_s=answer["startup_s"], build_s=answer["build_s"], waited_s=answer["waited_s"],
            cpu_s=answer["cpu_s"], peak_rss_mb=answer["peak_rss_mb"], pages=answer.get("pages") or {},
        )

    def kill(self) -> None:
        """End the companion now when it still runs, and let go of its files (the build calls
        it last, whatever happened); safe to call twice."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        self.close()
        for answer in (self._out, self._err):
            if answer is not None:
                answer.close()

    def close(self) -> None:
        process = self._process
        if process is not None and process.stdin is not None and not process.stdin.closed:
            try:
                process.stdin.close()
            except OSError:
                pass

    def _answer(self) -> dict[str, Any] | None:
        assert self._out is not None
        self._out.seek(0)
        lines = self._out.read().decode("utf-8", "replace").strip().splitlines()
        try:
            answer = json.loads(lines[-1]) if lines else None
        except ValueError:
            return None
        return answer if isinstance(answer, dict) else None

    def _stderr_tail(self) -> str:
        assert self._err is not None
        self._err.seek(0)
        text = self._err.read().decode("utf-8", "replace").strip()
        return text.splitlines()[-1] if text else "没有输出"


# --- the companion's side ----------------------------------------------------------------------


class _Orders:
    """The build's messages, read on a thread as they come (so the build never waits on a
    full pipe): the plan, how many of its paths are ready, and whether all are."""

    def __init__(self, stream: BinaryIO) -> None:
        self.plan: list[str] | None = None
        self.extra: dict[str, Any] = {}
        self.shard: dict[str, Any] | None = None  # {"pages": [...], "common": bool} (shards)
        self.ready = 0
        self.known: dict[str, str] = {}  # pages' Markdown digests, as the render stage gave them
        self.done = False
        self.closed = False
        self.waited = 0.0
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), name="gongzhi-feed", daemon=True).start()

    def _read(self, stream: BinaryIO) -> None:
        try:
            for line in stream:
                message = json.loads(line)
                with self._changed:
                    if "plan" in message:
                        self.plan = list(message["plan"])
                        self.extra = dict(message.get("extra") or {})
                        self.shard = message.get("shard")
                    self.known.update(message.get("digests") or {})
                    self.ready = max(self.ready, int(message.get("ready", 0)))
                    self.done = self.done or bool(message.get("done"))
                    self._changed.notify_all()
        finally:  # the build closed the pipe, or sent what is not a message: it has gone
            with self._changed:
                self.closed = True
                self._changed.notify_all()

    def wait(self, until: Callable[[], bool]) -> None:
        """Until ``until()`` holds; ``SystemExit(STOPPED)`` when the build has gone."""
        if until():
            return
        start = time.perf_counter()
        with self._changed:
            while not until():
                if self.closed:
                    raise SystemExit(STOPPED)
                self._changed.wait()
        self.waited += time.perf_counter() - start


_INDENT = re.compile(r"\n\s+")
_VERBATIM = re.compile(r"<(pre|textarea)\b.*?</\1>", re.S | re.I)


class _SettingsLoader(yaml.SafeLoader):
    """mkdocs.yml read as plain settings: its own tags (!ENV, !relative) become null."""


_SettingsLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def read_settings(config_file: Path) -> dict[str, Any]:
    """mkdocs.yml's settings as written, without MkDocs (raises OSError or yaml.YAMLError)."""
    loaded = yaml.load(Path(config_file).read_text(encoding="utf-8"), Loader=_SettingsLoader)  # noqa: S506
    return loaded if isinstance(loaded, dict) else {}


def compact_whitespace(html: str) -> str:
    """A page without the theme's indentation: every run of white space that holds a line
    break becomes one line break. The page reads and renders the same (HTML shows such a run
    as one space, or none next to a tag); only ``<pre>`` and ``<textarea>`` keep theirs. A
    community page loses about 6 KB of its 56 KB this way, in 0.1 ms."""
    if "<pre" not in html and "<textarea" not in html:
        return _INDENT.sub("\n", html)
    parts, last = [], 0
    for block in _VERBATIM.finditer(html):
        parts += [_INDENT.sub("\n", html[last:block.start()]), block.group(0)]
        last = block.end()
    parts.append(_INDENT.sub("\n", html[last:]))
    return "".join(parts)


def _feed_plugin(orders: _Orders, reuse: Any) -> Any:
    from mkdocs.plugins import BasePlugin
    from mkdocs.structure.files import File, Files

    class Feed(BasePlugin):
        def on_files(self, files: Files, *, config: Any) -> Files:
            assert orders.plan is not None, "the build starts once the plan is in"
            self.index = {path: n for n, path in enumerate(orders.plan)}
            config["extra"].update(orders.extra)
            reuse.plan = set(orders.plan)
            reuse.extra = dict(orders.extra)
            reuse.known = orders.known
            if orders.shard is not None:
                reuse.only = set(orders.shard["pages"])
                reuse.common = bool(orders.shard.get("common"))
            reuse.wait_ready = self.wait_ready
            # the docs folder's files are the plan's, in its order; the theme's are kept
            docs = config["docs_dir"]
            theirs = [f for f in files if f.src_dir != docs]
            ours = [File(path, docs, config["site_dir"], config["use_directory_urls"]) for path in orders.plan]
            return Files(ours + theirs)

        def wait_ready(self, src_uri: str) -> None:
            position = self.index.get(src_uri)
            if position is not None:
                orders.wait(lambda: orders.ready > position)

        def on_nav(self, nav: Any, *, config: Any, files: Any) -> Any:
            reuse.nav_pages = {page.file.src_uri for page in nav.pages}
            return nav

        def on_page_read_source(self, *, page: Any, config: Any) -> None:
            self.wait_ready(page.file.src_uri)
            return None  # MkDocs reads the file itself

        def on_env(self, env: Any, *, config: Any, files: Any) -> Any:
            orders.wait(lambda: orders.done)  # the static files are copied next
            return env

        def on_post_page(self, output: str, *, page: Any, config: Any) -> str:
            return compact_whitespace(output)

    return Feed()


class _Collect(logging.Handler):
    """MkDocs's warnings and errors, as strict mode counts them (the first ``MESSAGES_KEPT``
    in full)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.messages) < MESSAGES_KEPT:
            self.messages.append(record.getMessage())


def _reusing(reuse: Any, theme_dir: Path | None) -> None:
    """MkDocs's page steps, asking ``reuse`` first: a page whose inputs are those of the last
    build is neither read nor rendered, its file comes from the last site."""
    from mkdocs.commands import build as mkdocs_build

    read, render = mkdocs_build._populate_page, mkdocs_build._build_page
    every_file: list[Any] = []

    def populate(page: Any, config: Any, files: Any, dirty: bool = False) -> None:
        every_file[:] = [files]
        if not reuse.mine(page.file.src_uri) and page.file.src_uri not in reuse.nav_pages:
            page.present_anchor_ids = None  # another shard renders it (its anchors go unchecked here)
            return
        if reuse.skip_reading(page):
            if reuse.mine(page.file.src_uri):
                reuse.lend_early(page)
            if page.file.src_uri in reuse.nav_pages:  # its title is needed for the navigation now:
                page.read_source(config)  # its front matter and Markdown, not converted (the
                page._title_from_render = reuse.title(page.file.src_uri)  # lists are long)
            return
        if page.file.src_uri in reuse.nav_pages:  # its title is needed for the navigation now
            read(page, config, files, dirty)
        else:  # read just before it is rendered: one page's HTML in memory at a time, not all
            reuse.skipped.add(page.file.src_uri)

    def build_page(page: Any, config: Any, doc_files: Any, nav: Any, env: Any,
                   dirty: bool = False, excluded: bool = False) -> None:
        if not reuse.mine(page.file.src_uri):
            return
        if reuse.reuse(page, nav, theme_dir):
            return
        if page.file.src_uri in reuse.skipped:  # not read yet (or the theme or the navigation changed)
            reuse.skipped.discard(page.file.src_uri)
            read(page, config, every_file[0], dirty)
        render(page, config, doc_files, nav, env, dirty, excluded)
        reuse.rendered(page)
        if page.file.src_uri not in reuse.nav_pages:  # (a page's title falls back to its content)
            page.content = page.markdown = None  # written: nothing reads them again (anchors are kept)

    mkdocs_build._populate_page = populate
    mkdocs_build._build_page = build_page

    # in a sharded build one shard (the common one) writes what every page shares
    from mkdocs.structure.files import Files

    copy_static, theme_template, extra_template = (
        Files.copy_static_files, mkdocs_build._build_theme_template, mkdocs_build._build_extra_template)

    def copy_static_files(self: Any, *args: Any, **kwargs: Any) -> None:
        if reuse.common:
            copy_static(self, *args, **kwargs)

    Files.copy_static_files = copy_static_files
    mkdocs_build._build_theme_template = lambda *a, **k: theme_template(*a, **k) if reuse.common else None
    mkdocs_build._build_extra_template = lambda *a, **k: extra_template(*a, **k) if reuse.common else None


def _following_the_plan(shard: dict[str, Any] | None) -> None:
    """MkDocs's file list is the plan (``on_files``): its walk of the docs folder (40,000 files
    at the city tier, matched against the exclusion patterns: seconds) is not needed. A shard
    that writes into a folder other shards write into at the same time (``shared``: local
    shards) must not clean it first; the build made it afresh."""
    from mkdocs import utils
    from mkdocs.commands import build as mkdocs_build
    from mkdocs.structure.files import Files

    mkdocs_build.get_files = lambda config: Files([])
    if shard and shard.get("shared"):
        utils.clean_directory = lambda directory: None


# A page URL MkDocs makes for this site: path segments of unreserved characters and %-escapes,
# none of them "." or "..", no query, no fragment, not absolute.
_PLAIN_URL = re.compile(r"(?:[A-Za-z0-9_~%-][A-Za-z0-9._~%-]*/)*(?:[A-Za-z0-9_~%-][A-Za-z0-9._~%-]*)?\Z")


def _joining_page_urls() -> None:
    """MkDocs gives each page its canonical URL (``urljoin`` with the site URL, parsed back
    for the path) and its edit URL (``urljoin`` with the repository URL), for every page of
    the site in every shard (a province has 300,000): for plain relative URLs
    (``_PLAIN_URL``) under a base without query or fragment, ``urljoin`` only joins the two,
    so they are joined here. Anything else goes the way it did."""
    from urllib.parse import urlsplit

    from mkdocs.structure.pages import Page

    canonical, edit = Page._set_canonical_url, Page._set_edit_url
    paths: dict[str, str] = {}

    def set_canonical_url(self: Any, base: str | None) -> None:
        url = self.url
        if base and "?" not in base and "#" not in base and _PLAIN_URL.match(url):
            if not base.endswith("/"):
                base += "/"
            path = paths.get(base)
            if path is None:
                path = paths[base] = urlsplit(base).path
            self.canonical_url = base + url
            self.abs_url = path + url
            return
        canonical(self, base)

    def set_edit_url(self: Any, repo_url: str | None, edit_uri: str | None = None,
                     edit_uri_template: str | None = None) -> None:
        src_uri = self.file.edit_uri
        if (repo_url and edit_uri and edit_uri.endswith("/") and not edit_uri_template and src_uri is not None
                and "?" not in repo_url and "#" not in repo_url and _PLAIN_URL.match(edit_uri + src_uri)):
            self.edit_url = (repo_url if repo_url.endswith("/") else repo_url + "/") + edit_uri + src_uri
            return
        edit(self, repo_url, edit_uri, edit_uri_template)

    Page._set_canonical_url = set_canonical_url
    Page._set_edit_url = set_edit_url


def _linking_static_files(docs_dir: Path) -> None:
    """MkDocs copies every static file of the docs folder into the site on every build (the
    open data's case table: hundreds of MB at district size). A hard link does the same at no
    cost: the render stage never writes a docs file in place (every write is a rename), so
    the site's file cannot change under it."""
    from mkdocs import utils as mkdocs_utils

    copy = mkdocs_utils.copy_file
    prefix = str(Path(docs_dir).resolve()) + os.sep

    def link_or_copy(source_path: str, output_path: str) -> None:
        if os.path.realpath(source_path).startswith(prefix) and not os.path.isdir(output_path):
            try:
                os.makedirs(os.path.dirname(output_path), exist_ok=True)
                if os.path.lexists(output_path):
                    os.unlink(output_path)
                os.link(source_path, output_path)
                return
            except OSError:
                pass  # another file system: copy
        copy(source_path, output_path)

    mkdocs_utils.copy_file = link_or_copy


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    config_file, docs_dir, site_dir = (Path(a) for a in argv[:3])
    previous_site = Path(argv[3]) if len(argv) > 3 and argv[3] else None
    answer: dict[str, Any] = {"ok": False}
    collect = _Collect()
    logger = logging.getLogger("mkdocs")
    logger.addHandler(collect)
    logger.propagate = False  # nothing on stderr: the build reports what matters
    try:
        from mkdocs.commands.build import build
        from mkdocs.config import load_config
        from mkdocs.exceptions import Abort, MkDocsException

        from generator.reuse import Reuse

        config = load_config(str(config_file), docs_dir=str(docs_dir), site_dir=str(site_dir))
        config["strict"] = True
        orders = _Orders(sys.stdin.buffer)
        reuse = Reuse(previous_site, config_file, docs_dir, site_dir, wait_ready=lambda src_uri: None)
        config.plugins[PLUGIN_NAME] = _feed_plugin(orders, reuse)
        custom_dir = config.theme.custom_dir
        _reusing(reuse, Path(custom_dir) if custom_dir else None)
        _linking_static_files(docs_dir)
        _joining_page_urls()
        answer["startup_s"] = time.perf_counter() - started
        orders.wait(lambda: orders.plan is not None)
        orders.waited = 0.0  # from here on: waits for pages
        _following_the_plan(orders.shard)
        if orders.shard and orders.shard.get("manifest"):
            reuse.manifest = orders.shard["manifest"]
        begun = time.perf_counter()
        try:
            build(config)
            reuse.write_manifest()
            answer["ok"] = True
            answer["pages"] = reuse.stats
        except (Abort, MkDocsException) as exc:
            answer["error"] = first_line(exc)
        answer.update(build_s=time.perf_counter() - begun, waited_s=orders.waited)
    except SystemExit as exc:
        if exc.code == STOPPED:
            return STOPPED  # the build has gone: nobody reads an answer
        raise
    except Exception as exc:  # noqa: BLE001 - the build reports it, in Chinese
        answer["error"] = f"{type(exc).__name__}: {first_line(exc)}"
    usage = resource.getrusage(resource.RUSAGE_SELF)
    answer.update(
        messages=collect.messages, count=collect.count,
        peak_rss_mb=peak_rss_mb(), cpu_s=usage.ru_utime + usage.ru_stime,
    )
    answer.setdefault("startup_s", time.perf_counter() - started)
    answer.setdefault("build_s", 0.0)
    answer.setdefault("waited_s", 0.0)
    sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 0 if answer["ok"] else 1


if __name__ == "__main__":
    status = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # MkDocs holds every page in memory; freeing it object by object on the way out takes
    # up to seconds that nobody needs: the answer is written, so leave at once.
    os._exit(status)
