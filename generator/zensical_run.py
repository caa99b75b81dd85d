"""The second engine: Zensical (by the Material for MkDocs team) builds the same docs folder.

``gongzhi build --engine zensical`` renders the pages exactly as for MkDocs, then runs
``zensical build`` once they are all written: Zensical reads mkdocs.yml but runs no MkDocs
plugins, so it cannot follow the render stage page by page the way the MkDocs companion does
(``mkdocs_feed``). What the companion's plugin does is done here instead: the configuration
gets the build's ``extra`` values (and Zensical's own search turned off), and every page loses
the theme's indentation (``compact_whitespace``) after the build.

Zensical insists that the docs and site folders lie inside its "project root", the folder of
its configuration file, so the configuration it reads is a copy of mkdocs.yml written for the
run beside the docs folder, with absolute paths to the theme; Zensical builds the site into a
folder there (its cache, ``.cache``, lands there too), which then becomes the new site.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from generator.issues import first_line
from generator.memory import TreeWatch
from generator.mkdocs_feed import (
    MkDocsError,
    MkDocsRun,
    compact_whitespace,
    read_settings,
    wait_or_stop,
)
from generator.render import Feed

CONFIG_NAME = ".gongzhi-zensical.yml"  # the run's configuration (removed afterwards)


def zensical_command() -> list[str]:
    """How to run Zensical: its console script beside this Python, else on PATH."""
    beside = Path(sys.executable).with_name("zensical")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("zensical")
    if found:
        return [found]
    raise MkDocsError("找不到 Zensical：请运行 scripts/setup（它安装 pyproject.toml 中固定的版本）。")


class ZensicalProcess(Feed):
    """Zensical, seen from the build: the same ``render.Feed`` as ``MkDocsProcess``; the engine
    starts when the render stage says ``done``."""

    def __init__(self, config_file: Path, docs_dir: Path, site_dir: Path) -> None:
        self.config_file = Path(config_file)
        self.docs_dir = Path(docs_dir).resolve()
        self.site_dir = Path(site_dir).resolve()
        self.extra: dict[str, Any] = {}
        self.planned_at: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._config: Path | None = None
        self._log: Path | None = None
        self._built: Path | None = None  # where Zensical writes the site (inside its project root)
        self._started = 0.0

    def start(self) -> ZensicalProcess:
        zensical_command()  # fail now, before any page is rendered, when it is missing
        return self

    # the Feed the render stage talks to (ready and flush: nothing to pass on)

    def plan(self, paths: list[str]) -> None:
        self.planned_at = time.perf_counter()

    def done(self) -> None:
        root = self.docs_dir.parent
        self._built = root / f"{CONFIG_NAME}.site-{os.getpid()}"
        shutil.rmtree(self._built, ignore_errors=True)
        config = _read(self.config_file)
        theme = dict(config.get("theme") or {})
        if theme.get("custom_dir"):
            theme["custom_dir"] = str((self.config_file.parent / theme["custom_dir"]).resolve())
        config.update(
            # Zensical's own search index is off: the site is searched with Pagefind, and
            # Zensical's refuses an index page with thousands of rows (a city's communities)
            plugins={"search": {"enabled": False}},
            theme=theme,
            docs_dir=os.path.relpath(self.docs_dir, root),
            site_dir=self._built.name,
            extra={**(config.get("extra") or {}), **self.extra},
        )
        self._config = root / CONFIG_NAME
        self._log = root / (CONFIG_NAME + ".log")
        try:
            self._config.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
            log = self._log.open("wb")
        except OSError as exc:
            raise MkDocsError(f"无法写入 Zensical 的配置 {self._config}：{first_line(exc)}") from exc
        self._started = time.perf_counter()
        with log:
            # -s: strict, a warning fails the build as with MkDocs
            self._process = subprocess.Popen(
                [*zensical_command(), "build", "-f", str(self._config), "-s"],
                stdout=log, stderr=subprocess.STDOUT, cwd=root,
            )

    # the end

    def finish(self, stop: Callable[[], bool] | None = None, poll: float = 0.05) -> MkDocsRun:
        process = self._process
        if process is None:
            raise MkDocsError("Zensical 没有启动：页面没有写完。")
        with TreeWatch(process.pid) as watch:  # its own memory (ru_maxrss would carry ours)
            wait_or_stop(process, stop, poll, self.kill)
        build_s = time.perf_counter() - self._started
        output = self._output()
        if process.returncode != 0:
            self.kill()
            raise MkDocsError(f"Zensical 构建失败（严格模式，警告也视为错误）：\n{output}")
        shutil.rmtree(self.site_dir, ignore_errors=True)
        self.site_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(self._built), str(self.site_dir))  # a rename on the same file system
        (self.site_dir / "search.json").unlink(missing_ok=True)  # Zensical's own (empty) index
        for page in self.site_dir.rglob("*.html"):
            text = page.read_text(encoding="utf-8")
            compacted = compact_whitespace(text)
            if compacted != text:
                page.write_text(compacted, encoding="utf-8")
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.kill()
        return MkDocsRun(build_s=build_s, cpu_s=usage.ru_utime + usage.ru_stime,
                         peak_rss_mb=watch.peak_mb)

    def _output(self) -> str:
        """Zensical's messages: its last lines, without a Python traceback's frames."""
        if self._log is None or not self._log.is_file():
            return ""
        lines = self._log.read_text(encoding="utf-8", errors="replace").splitlines()
        kept = [line for line in lines if line.strip() and not line.startswith(("  ", "Traceback"))]
        return "\n".join(f"  - {line.strip()}" for line in kept[-20:])

    def kill(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        for path in (self._config, self._log):
            if path is not None:
                path.unlink(missing_ok=True)
        if self._built is not None:
            shutil.rmtree(self._built, ignore_errors=True)


def _read(config_file: Path) -> dict[str, Any]:
    try:
        return read_settings(config_file)
    except (OSError, yaml.YAMLError) as exc:
        raise MkDocsError(f"无法读取 {config_file}：{first_line(exc)}") from exc
